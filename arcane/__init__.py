"""The Arcane product shell: the `arcane` command, wiring the generic engine, kubesim and Arcane's defaults."""
