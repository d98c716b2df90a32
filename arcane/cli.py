"""`arcane` entry point (placeholder until the engine CLI lands)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the `arcane` command line."""
    args = sys.argv[1:] if argv is None else argv
    print("arcane: not implemented yet:", " ".join(args), file=sys.stderr)
    return 2
