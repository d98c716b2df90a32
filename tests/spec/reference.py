"""The generated parts of docs/rules.md: the field reference (from the cerberus schema) and the custom functions
(from their docstrings). Between markers in the file; tests/spec/test_docs.py fails when they are out of date.

Regenerate with `.venv/bin/python tests/spec/reference.py` (rewrites docs/rules.md in place).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from engine.expr import custom_function_docs  # noqa: E402
from engine.spec.schema import ACTION, DOCUMENT, FACT_FORM, TRANSFORM  # noqa: E402

DOC = ROOT / "docs" / "rules.md"
ACTION_LISTS = {"then", "onEnter", "onError"}
"""Lists whose items are actions (besides `forEach.do` inside an action)."""

_TYPE_WORDS = {"dict": "mapping", "list": "list", "string": "string", "boolean": "boolean", "number": "number"}


def _type(rules: dict[str, Any]) -> str:
    kind = rules.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    words = [_TYPE_WORDS.get(k, k) for k in kinds] or ["any"]
    text = " or ".join(words)
    if "allowed" in rules:
        text += ": " + " \\| ".join(f"`{value}`" for value in rules["allowed"])
    if "regex" in rules:
        text += f" matching `{rules['regex']}`"
    return text


def _rows(schema: dict[str, Any], prefix: str, context: str) -> Iterator[tuple[str, str, str, str]]:
    for name, rules in schema.items():
        path = f"{prefix}{name}"
        description = (rules.get("meta") or {}).get("description", "")
        required = "yes" if rules.get("required") else ""
        kind = _type(rules)
        inner = rules.get("schema")
        if (
            rules.get("type") == "list"
            and isinstance(inner, dict)
            and inner.get("type") == "dict"
            and "schema" not in inner
        ):
            items = "actions" if name in ACTION_LISTS or (name == "do" and context == "action") else "transforms"
            kind = f"list of {items} (see [{items.capitalize()}](#{items}))"
        if name == "facts" and prefix == "spec.":
            kind = "mapping of names to facts (see [Facts](#facts))"
        yield path, kind, required, description
        if isinstance(inner, dict) and rules.get("type") == "dict":
            yield from _rows(inner, f"{path}.", context)
        elif isinstance(inner, dict) and rules.get("type") == "list" and "schema" in inner:
            yield from _rows(inner["schema"], f"{path}[].", context)
        values = rules.get("valuesrules")
        if isinstance(values, dict) and isinstance(values.get("schema"), dict):
            yield from _rows(values["schema"], f"{path}.<name>.", context)


def _table(rows: Iterator[tuple[str, str, str, str]]) -> str:
    lines = ["| field | type | required | description |", "|---|---|---|---|"]
    lines.extend(f"| `{path}` | {kind} | {required} | {description} |" for path, kind, required, description in rows)
    return "\n".join(lines)


def field_reference() -> str:
    """Every field of a rule document, of an action, of a transform and of a fact mapping, from the schema."""
    return "\n\n".join(
        [
            "### Document\n\n" + _table(_rows(DOCUMENT, "", "document")),
            "### Action\n\nEvery item of `then`, `onEnter`, `onError` and `forEach.do` (of an action) is one of these, "
            "with an optional `when`.\n\n" + _table(_rows(ACTION["schema"], "", "action")),
            "### Transform\n\nEvery item of a builder's `transform` (and of a transform's `forEach.do`) is one of these, "
            "with an optional `when`.\n\n" + _table(_rows(TRANSFORM["schema"], "", "transform")),
            "### Fact\n\nA fact is an expression (a string) or a mapping with exactly one of `value`, `cases`, `in`.\n\n"
            + _table(_rows(FACT_FORM, "", "fact")),
        ]
    )


def function_reference() -> str:
    """One entry per custom function: its signature line, what it does and its (tested) example."""
    entries = []
    for name, doc in custom_function_docs().items():
        lines = [line.strip() for line in doc.splitlines()]
        signature, _, summary = lines[0].partition(": ")
        rest = [line for line in lines[1:] if line and not line.startswith("Example:")]
        example = next(line.removeprefix("Example:").strip() for line in lines if line.startswith("Example:"))
        text = f"#### `{name}`\n\n`{signature}`: {summary}"
        if rest:
            text += " " + " ".join(rest)
        text += f"\n\n```text\n{example}\n```"
        entries.append(text)
    return "\n\n".join(entries)


SECTIONS = {"fields": field_reference, "functions": function_reference}


def _marker(name: str, which: str) -> str:
    return f"<!-- generated: {name} ({which}) -->"


def render(text: str) -> str:
    """`text` with every generated section replaced by what the schema and the docstrings give now."""
    for name, make in SECTIONS.items():
        start, end = _marker(name, "start"), _marker(name, "end")
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
        if not pattern.search(text):
            raise ValueError(f"docs/rules.md has no {start} ... {end} section")
        text = pattern.sub(lambda _match, make=make, start=start, end=end: f"{start}\n{make()}\n{end}", text)
    return text


if __name__ == "__main__":
    DOC.write_text(render(DOC.read_text()))
