"""The schema of `RuleTest` documents (tests.arcane.dev/v1alpha1), as data for the cerberus validator.

Where this sits: loader (YAML with positions, engine.spec.loader) -> **schema** (shapes: types, required
keys, unknown keys) -> engine.testing.load (meaning: one kind per step, references, durations, rule names,
included files). The validator is engine.spec.schema.validate, the one module that imports cerberus;
this module describes the format, and adds two ways of keeping cerberus off the hot path (`conforms`, a
strict reading of the same schema that lets valid documents through without calling cerberus, and
`narrow`): cerberus costs milliseconds per call, and a suite has thousands of steps. Values that take
two forms (an object reference as `Kind/name` text or as a mapping; `expect: nothing`) are checked by
the loader.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from engine.testing.fixture import API_VERSION, KIND

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
STEP_KINDS = ("evaluate", "settle", "apply", "patch", "delete", "complete", "fail", "advance")
ACTION_KEYS = ("create", "delete", "patch", "status", "event")
WORLD_EXPECT_KEYS = ("objects", "absent")
"""What a step that changes the world may expect: it runs no rule, so only the state of objects."""


def _d(text: str, **rule: Any) -> dict[str, Any]:
    return {**rule, "meta": {"description": text}}


_PATHS = _d(
    "a path, or a list of paths, relative to the fixture file", type=["string", "list"], schema={"type": "string"}
)
_REF = _d(
    "an object: `Kind/name`, `Kind/namespace/name`, or {apiVersion, kind, namespace, name}",
    type=["string", "dict"],
    schema={
        "apiVersion": {"type": "string", "empty": False},
        "kind": {"type": "string", "required": True, "empty": False},
        "namespace": {"type": "string"},
        "name": {"type": "string", "required": True, "empty": False},
    },
)
_OBJECT_OR_FILE = _d(
    "an object inline, or {file: path} (a YAML file of one or more objects)",
    type="dict",
    schema={"file": {"type": "string", "empty": False}},
    allow_unknown=True,
)
_ACTION = _d(
    "one expected action: exactly one of create, delete, patch, status, event (only the fields given are compared)",
    type="dict",
    schema={key: {"type": "dict"} for key in ACTION_KEYS},
)

EXPECT: dict[str, Any] = {
    "exact": _d("compare fired rules, actions and events exactly, not only the fields given", type="boolean"),
    "fired": _d("the rules that must fire (by name)", type="list", empty=False, schema={"type": "string"}),
    "actions": _d("the actions the step must produce, in order", type="list", empty=False, schema=_ACTION),
    "error": _d(
        "an error decision that must occur: a message substring, or {rule, message}",
        type=["string", "dict"],
        schema={"rule": {"type": "string"}, "message": {"type": "string", "required": True}},
    ),
    "objects": _d(
        "objects that must exist afterwards (partial: only the fields given)",
        type="list",
        empty=False,
        schema={"type": "dict"},
    ),
    "absent": _d("objects that must not exist afterwards", type="list", empty=False, schema=_REF),
    "events": _d("Events the step must record (partial, in order)", type="list", empty=False, schema={"type": "dict"}),
}

STEP: dict[str, Any] = {
    "type": "dict",
    "schema": {
        "name": _d("what the step checks (shown in reports)", type="string"),
        "evaluate": _d("evaluate this object once and execute its decisions", **_REF),
        "settle": _d("evaluate every evaluated object, execute, repeat until nothing changes", type="boolean"),
        "maxSteps": _d("the bound on settle rounds (default 50)", type="integer", min=1),
        "apply": _d("create or replace an object (its status is kept unless given)", **_OBJECT_OR_FILE),
        "patch": _d(
            "merge-patch an object (status included)",
            type="dict",
            schema={"target": {**_REF, "required": True}, "merge": {"type": "dict", "required": True}},
        ),
        "delete": _d("delete an object (owned objects are garbage-collected)", **_REF),
        "complete": _d("mark a Job complete, as the Job controller does", **_REF),
        "fail": _d("mark a Job failed, as the Job controller does", **_REF),
        "advance": _d("move the clock: seconds, or a duration such as 90s, 5m, 1h30m, 2d", type=["string", "number"]),
        "expect": _d("what must hold after the step, or `nothing`", type=["string", "dict"], schema=EXPECT),
    },
}

DOCUMENT: dict[str, Any] = {
    "apiVersion": _d(f"must be {API_VERSION}", type="string", required=True, allowed=[API_VERSION]),
    "kind": _d(f"must be {KIND}", type="string", required=True, allowed=[KIND]),
    "metadata": {
        "type": "dict",
        "required": True,
        "schema": {
            "name": _d("the fixture's name (unique in its file)", type="string", required=True, regex=NAME),
            "description": {"type": "string"},
        },
    },
    "spec": {
        "type": "dict",
        "required": True,
        "schema": {
            "rules": _d("the rule files or directories under test (default: the command's --rules)", **_PATHS),
            "crds": _d("CRD files: schema checks of the rules, and scope/defaults/pruning of objects", **_PATHS),
            "clock": _d("the fake clock's start (RFC 3339)", type=["string", "datetime"]),
            "mustFail": _d("this fixture must fail with a message containing this text", type="string", empty=False),
            "given": _d("the objects in the cluster before the first step", type="list", schema=_OBJECT_OR_FILE),
            "steps": _d(
                "the steps, in order (each checked against STEP on its own)",
                type="list",
                required=True,
                empty=False,
                schema={"type": "dict"},
            ),
        },
    },
}


def narrow(schema: Mapping[str, Any], body: Any) -> dict[str, Any]:
    """The part of a mapping schema that can apply to `body`: the rules of the keys it has (and of required
    keys), narrowed the same way inside nested mappings and lists, descriptions left out.

    Why: cerberus normalizes every key of a schema on every call, so a call costs about 0.1 ms per schema key
    however small the document; a fixture with a dozen steps would spend most of its load time on keys it
    does not use. Narrowing keeps the verdicts and messages (unknown keys stay unknown, required keys stay
    required) at a cost that follows the document."""
    if not isinstance(body, dict):
        return {key: _strip(rules) for key, rules in schema.items()}
    out: dict[str, Any] = {}
    for key, rules in schema.items():
        if key in body:
            out[key] = _narrow_rules(rules, body[key])
        elif isinstance(rules, dict) and rules.get("required"):
            out[key] = _strip(rules)
    return out


def _narrow_rules(rules: Mapping[str, Any], value: Any) -> dict[str, Any]:
    out = {key: item for key, item in rules.items() if key not in ("schema", "meta")}
    inner = rules.get("schema")
    if not isinstance(inner, dict):
        return out
    if isinstance(value, dict):
        out["schema"] = narrow(inner, value)
    elif isinstance(value, list):
        # Items share one schema: keep the keys any item has (and required ones), whole below that level.
        item_rules = _strip(inner)
        nested = inner.get("schema")
        keys = {key for item in value if isinstance(item, dict) for key in item}
        if isinstance(nested, dict) and keys:
            item_rules["schema"] = {
                key: _strip(sub)
                for key, sub in nested.items()
                if key in keys or (isinstance(sub, dict) and sub.get("required"))
            }
        out["schema"] = item_rules
    return out


def _strip(rules: Any) -> Any:
    """Rules without their `meta` descriptions (cerberus hashes every rule it is given)."""
    if isinstance(rules, dict):
        return {key: _strip(item) for key, item in rules.items() if key != "meta"}
    if isinstance(rules, list):
        return [_strip(item) for item in rules]
    return rules


_TYPES: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "dict": lambda v: isinstance(v, dict),
    "list": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "datetime": lambda v: isinstance(v, datetime),
}
_UNDERSTOOD = frozenset({"type", "required", "empty", "allowed", "regex", "min", "schema", "allow_unknown", "meta"})


def conforms(body: Any, schema: Mapping[str, Any]) -> bool:
    """True only when `body` certainly satisfies the mapping `schema`, read strictly (a rule it does not
    know, or any doubt, answers False). The loader calls cerberus (for its verdict and its located
    messages) only when this says False, so a valid suite never waits for cerberus; an invalid document is
    judged by cerberus alone. A test checks that nothing this accepts is rejected by cerberus."""
    if not isinstance(body, dict):
        return False
    for key, rules in schema.items():
        if key not in body:
            if rules.get("required"):
                return False
            continue
        if not _value_conforms(body[key], rules):
            return False
    return all(key in schema for key in body)


def _value_conforms(value: Any, rules: Mapping[str, Any]) -> bool:
    if not _UNDERSTOOD.issuperset(rules) or value is None:
        return False
    types = rules.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(name in _TYPES and _TYPES[name](value) for name in names):
            return False
    if rules.get("empty") is False and isinstance(value, str | list | dict) and not value:
        return False
    if "allowed" in rules and (not isinstance(value, str | bool | int) or value not in rules["allowed"]):
        return False
    if "regex" in rules and not (
        isinstance(value, str) and re.match(rules["regex"], value) and rules["regex"].endswith("$")
    ):
        return False
    if "min" in rules and not (isinstance(value, int) and not isinstance(value, bool) and value >= rules["min"]):
        return False
    inner = rules.get("schema")
    if inner is None:
        return not rules.get("allow_unknown") or isinstance(value, dict)
    if isinstance(value, dict):
        if rules.get("allow_unknown"):
            known = {key: item for key, item in value.items() if key in inner}
            return conforms(known, inner)
        return conforms(value, inner)
    if isinstance(value, list):
        return all(_value_conforms(item, inner) for item in value)
    return isinstance(value, str | bool | int | float)
