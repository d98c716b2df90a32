"""The schema of `RuleTest` documents (tests.arcane.dev/v1alpha1), as data for the cerberus validator.

Where this sits: loader (YAML with positions, engine.spec.loader) -> **schema** (shapes: types, required
keys, unknown keys) -> engine.testing.load (meaning: one kind per step, references, durations, rule names,
included files). The validator itself is engine.spec.schema.validate, the one module that imports
cerberus; this module only describes the format. Values that take two forms (an object reference as
`Kind/name` text or as a mapping; `expect: nothing`) are checked by the loader.
"""

from __future__ import annotations

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
        "advance": _d("move the clock: seconds, or a duration such as 90s, 5m, 1h30m, 2d", type=["string", "integer"]),
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
