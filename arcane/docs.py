"""Generated documentation: `python -m arcane.docs` rewrites docs/state-machines.md from rules/ (`make docs`).

A test compares the committed file with what this produces, so the diagrams cannot drift from the rules.
"""

from __future__ import annotations

import sys
from pathlib import Path

from engine.spec import compile_ruleset
from engine.spec.graph import mermaid

HEADER = """# The state machines of Arcane's rules

Generated from `rules/*.yaml` by `make docs` (`arcane rules graph rules/` prints the same diagrams; a test
fails when this file is out of date). Phases are states; each rule that changes the phase is an edge
labelled with the rule's name; rules that act but keep the phase are listed under each diagram.

"""


def state_machines(rules: Path) -> str:
    """The Markdown of docs/state-machines.md for a rules directory."""
    return HEADER + mermaid(compile_ruleset([rules]))


def main() -> int:
    root = Path.cwd()
    (root / "docs" / "state-machines.md").write_text(state_machines(root / "rules"))
    print("wrote docs/state-machines.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
