"""`arcane rules test`: fixtures, an in-memory cluster, the runner, coverage and reports."""
