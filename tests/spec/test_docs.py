"""docs/rules.md cannot drift: its generated sections are up to date, it covers every field, action, transform and
function, and every YAML example in it compiles (or, when marked invalid, fails with the problems it shows)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.errors import RuleSetError
from engine.expr import custom_function_docs
from engine.spec import compile_texts
from engine.spec.schema import ACTION_KEYS, TRANSFORM_KEYS

from . import reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
TEXT = DOC.read_text()
BLOCK = re.compile(r"^```(yaml[^\n]*)\n(.*?)^```\n(?:\n```text\n(.*?)^```\n)?", re.DOTALL | re.MULTILINE)

CONTEXT: dict[str, Any] = yaml.safe_load(
    """\
apiVersion: rules.arcane.dev/v1alpha1
kind: Rules
metadata: {name: example}
spec:
  for:
    kind: {apiVersion: example.com/v1, kind: Widget}
  related:
    job: {get: {apiVersion: batch/v1, kind: Job, name: "{{ object.metadata.name }}"}}
  facts:
    paused: "object.spec.paused == `true`"
  builders:
    job:
      object: {apiVersion: batch/v1, kind: Job, metadata: {name: "{{ args.name }}"}}
  groups: []
"""
)
"""The document a fragment is placed in: Widgets, their Job (`job`), a fact `paused`, a builder `job`."""


def _examples() -> list[tuple[str, str, str, str | None]]:
    """(id, kind, text, expected problems) of every ```yaml block; the kind is the word after `yaml`."""
    out = []
    for match in BLOCK.finditer(TEXT):
        info, body, expected = match.groups()
        kind = info.split()[1] if len(info.split()) > 1 else "rules"
        line = TEXT[: match.start()].count("\n") + 1
        out.append((f"line-{line}-{kind}", kind, body, expected))
    return out


EXAMPLES = _examples()


def _document(kind: str, body: str) -> str:
    """The rule file an example stands for: itself, or the example placed in the context document."""
    if kind in ("rules", "invalid"):
        return body
    fragment = yaml.safe_load(body)
    document = copy.deepcopy(CONTEXT)
    spec = document["spec"]
    if kind == "spec":
        for key, value in fragment.items():
            if key != "for" and isinstance(value, dict) and isinstance(spec.get(key), dict):
                spec[key] = {**spec[key], **value}
            else:
                spec[key] = value
        if not spec["groups"]:
            spec["groups"] = [{"name": "main", "rules": [{"name": "example"}]}]
    elif kind == "rule":
        rules = fragment if isinstance(fragment, list) else [fragment]
        spec["groups"] = [{"name": "main", "rules": rules}]
    elif kind == "actions":
        spec["groups"] = [{"name": "main", "match": "all", "rules": [{"name": "example", "then": fragment}]}]
    elif kind == "transforms":
        spec["builders"]["example"] = {
            "object": {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"}, "spec": {}},
            "transform": fragment,
        }
        spec["groups"] = [{"name": "main", "rules": [{"name": "example", "then": [{"create": {"build": "example"}}]}]}]
    else:
        raise AssertionError(f"unknown example kind `{kind}`")
    return yaml.safe_dump(document, sort_keys=False)


def test_generated_sections_are_up_to_date() -> None:
    """The field reference and the function reference in docs/rules.md are what the schema and the docstrings
    give now (regenerate with `.venv/bin/python tests/spec/reference.py`)."""
    assert reference.render(TEXT) == TEXT


def test_every_action_and_transform_has_its_own_section() -> None:
    """Each action and each transform is explained under its own heading, not only listed in the reference."""
    for key in ACTION_KEYS:
        assert f"### `{key}`" in TEXT, key
    for key in TRANSFORM_KEYS:
        assert f"#### `{key}`" in TEXT, key


def test_every_function_is_documented() -> None:
    """Every custom function has an entry (with its tested example)."""
    for name in custom_function_docs():
        assert f"#### `{name}`" in TEXT, name


def test_every_reserved_name_is_explained() -> None:
    """The names the language provides are each explained in the section on names."""
    names = TEXT[TEXT.index("## Names and scopes") :]
    for name in ("object", "item", "args", "base", "rule", "transition", "entered", "error"):
        assert f"`{name}`" in names, name


def test_there_are_examples_of_every_kind() -> None:
    """The reference has complete documents, fragments of each kind and invalid examples with their problems."""
    kinds = {kind for _, kind, _, _ in EXAMPLES}
    assert kinds == {"rules", "spec", "rule", "actions", "transforms", "invalid", "object"}
    assert len(EXAMPLES) >= 30


@pytest.mark.parametrize(("name", "kind", "body", "expected"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_examples_compile(name: str, kind: str, body: str, expected: str | None) -> None:
    """Each example compiles in its context; an `invalid` example fails with exactly the problems shown after it;
    an `object` example is a valid YAML mapping."""
    if kind == "object":
        assert all(isinstance(doc, dict) for doc in yaml.safe_load_all(body))
        return
    text = _document(kind, body)
    if kind == "invalid":
        with pytest.raises(RuleSetError) as caught:
            compile_texts({"rules.yaml": text})
        assert expected is not None, "an invalid example is followed by a ```text block with its problems"
        assert [str(p) for p in caught.value.problems] == expected.splitlines()
        return
    try:
        compile_texts({"rules.yaml": text})
    except RuleSetError as error:
        pytest.fail(f"example at {name} does not compile:\n{error}\n\n{text}")


def test_the_engine_knows_no_product_vocabulary() -> None:
    """Nothing under engine/ names Arcane's kinds or fields (the issue's acceptance grep): the language grows
    general features instead."""
    pattern = re.compile(r"backfill|streamclass|streamingjobtemplate|suspend|STREAMCONTEXT", re.IGNORECASE)
    engine = Path(__file__).resolve().parents[2] / "engine"
    offending = [
        f"{path.relative_to(engine.parent)}:{number}"
        for path in sorted(engine.rglob("*"))
        if path.is_file() and path.suffix in (".py", ".md", ".yaml", ".json", ".txt")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offending == []
