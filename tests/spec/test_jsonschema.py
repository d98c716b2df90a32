"""The JSON Schema for editors agrees with the cerberus schema (and the compiler's shape checks): same files
accepted, same files rejected, on the shipped rules, the invalid cases and generated variations."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import RuleSetError
from engine.spec import compile_texts
from engine.spec.jsonschema import rule_file_schema

from .rulesets import WIDGETS

ROOT = Path(__file__).resolve().parents[2]
INVALID = Path(__file__).parent / "invalid"
SHAPE_CODES = {
    # cerberus
    "required",
    "type",
    "allowed",
    "pattern",
    "empty-value",
    "excludes",
    "unknown-field",
    # the compiler's "exactly one of" checks, which the JSON Schema expresses with oneOf
    "action",
    "transform",
    "fact",
    "create",
    "patch",
    "related",
    "target",
}
VALIDATOR = jsonschema.Draft202012Validator(rule_file_schema())


def schema_accepts(documents: list[Any]) -> bool:
    return all(VALIDATOR.is_valid(document) for document in documents)


def shape_problems(text: str) -> list[str]:
    try:
        compile_texts({"r.yaml": text})
    except RuleSetError as error:
        return [f"{p} [{p.code}]" for p in error.problems if p.code in SHAPE_CODES]
    return []


def test_the_schema_is_valid_json_schema() -> None:
    """The exported schema is itself valid under the 2020-12 meta-schema, with an $id and a title for editors."""
    schema = rule_file_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"] == "https://rules.arcane.dev/schemas/v1alpha1/rules.json"
    assert schema["title"] == "Arcane rule document"


@pytest.mark.parametrize("path", sorted((ROOT / "rules").glob("*.yaml")), ids=lambda p: p.name)
def test_the_shipped_rules_are_accepted(path: Path) -> None:
    """Every document of the shipped rule files is valid under the JSON Schema (as under cerberus)."""
    documents = list(yaml.safe_load_all(path.read_text()))
    for document in documents:
        VALIDATOR.validate(document)


INVALID_FILES = sorted(p for p in INVALID.glob("*.yaml") if p.name not in {"binary.yaml", "not-utf8.yaml"})


@pytest.mark.parametrize("path", INVALID_FILES, ids=lambda p: p.name)
def test_invalid_files_are_rejected_exactly_when_their_shape_is_wrong(path: Path) -> None:
    """A file with shape problems (cerberus, or "exactly one of") is rejected by the JSON Schema; a file whose only
    problems are about meaning (names, expressions, states) is accepted by it."""
    text = path.read_text()
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError:
        pytest.skip("not YAML: the loader's problem, not the schema's")
    if path.name == "yaml-alias-bomb.yaml":
        pytest.skip("an alias bomb: validating its expansion would take the memory the loader refuses to give it")
    if not documents:
        pytest.skip("no rule document to validate")
    assert schema_accepts(documents) == (not shape_problems(text)), shape_problems(text)


JUNK = st.sampled_from(
    [None, 1, 2.5, "x", "", [], {}, [1], ["a"], {"a": 1}, True, {"when": "x"}, {"set": {"at": "a", "value": 1}}]
)
BASE: Any = yaml.safe_load(WIDGETS)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.extend(_paths(value, (*prefix, index)))
    return out


PATHS = _paths(BASE)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATHS), st.sampled_from(["delete", "replace", "add"]), JUNK)
def test_generated_variations_agree(path: tuple[Any, ...], verb: str, junk: Any) -> None:
    """Deleting, replacing or adding one field anywhere in a valid document: the JSON Schema rejects the result
    exactly when cerberus (or an "exactly one of" check) reports a shape problem."""
    doc = copy.deepcopy(BASE)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if verb == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif verb == "add" and isinstance(parent, dict):
        parent["extra"] = junk
    else:
        parent[path[-1]] = junk
    text = yaml.safe_dump(doc, sort_keys=False)
    assert schema_accepts([yaml.safe_load(text)]) == (not shape_problems(text)), (
        path,
        verb,
        junk,
        shape_problems(text),
    )
