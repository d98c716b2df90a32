"""values.yaml read the way helm-docs reads it: each key with the `# --` comment above it.

Where it sits: test_values.py checks that every value is documented; test_docs.py checks that docs/install.md
lists every value with its default and description. `values_table` renders the rows of that list, so a failing
docs test can say exactly which row to add or fix.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .rendering import CHART_DIR, values_yaml

KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][A-Za-z0-9_.-]*):(?: |$)")
MARKER = "# -- "


def read_keys() -> tuple[list[str], dict[str, str]]:
    """(every key path in file order, the description of each documented key) from values.yaml."""
    lines = (CHART_DIR / "values.yaml").read_text(encoding="utf-8").splitlines()
    stack: list[tuple[int, str]] = []
    paths: list[str] = []
    descriptions: dict[str, str] = {}
    for number, line in enumerate(lines):
        match = KEY_LINE.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([*(key for _, key in stack), match["key"]])
        stack.append((indent, match["key"]))
        paths.append(path)
        above = number - 1
        comment: list[str] = []
        while above >= 0 and lines[above].strip().startswith("#"):
            comment.insert(0, lines[above].strip())
            above -= 1
        if comment and comment[0].startswith(MARKER) and comment[0] != MARKER.strip():
            first = comment[0].removeprefix(MARKER)
            descriptions[path] = " ".join([first, *(c.lstrip("#").strip() for c in comment[1:])])
    return paths, descriptions


def documented_keys() -> tuple[set[str], set[str]]:
    """(all key paths, the documented ones)."""
    paths, descriptions = read_keys()
    return set(paths), set(descriptions)


def leaf_values() -> list[str]:
    """The documented keys that hold a value (not a section of documented keys), in file order."""
    paths, descriptions = read_keys()
    documented = set(descriptions)
    return [p for p in paths if p in documented and not any(d.startswith(f"{p}.") for d in documented)]


def default_of(path: str) -> Any:
    node: Any = values_yaml()
    for part in path.split("."):
        node = node[part]
    return node


def values_table() -> list[str]:
    """The rows `| value | default | description |` of every documented value, in file order."""
    _, descriptions = read_keys()
    return [f"| `{p}` | `{json.dumps(default_of(p))}` | {descriptions[p]} |" for p in leaf_values()]
