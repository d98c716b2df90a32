"""The schema of rule documents (cerberus), its JSON Schema export, and located validation problems.

Where this sits: loader -> **schema** -> compiler. The schema checks shapes (types, required keys, closed
sets, unknown keys); the compiler checks meaning (expressions, names, states). Every problem is reported,
each with file, line, column, field path, what was expected and what was found. Descriptions live in the
schema (`meta.description`) so the JSON Schema for editors and the language reference share one source.

This is the only module that imports cerberus.
"""

from __future__ import annotations

import json
from typing import Any

import cerberus

from engine.errors import Problem
from engine.spec.loader import Positions

API_VERSION = "rules.arcane.dev/v1alpha1"
KIND = "Rules"

NAME = r"^[A-Za-z][A-Za-z0-9_-]*$"
IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
FIELD_PATH = r'^([A-Za-z0-9_-]+|"[^"]+")(\.([A-Za-z0-9_-]+|"[^"]+"))*$'
"""A dotted path of field names, such as spec.owner; a name with dots or slashes in double quotes:
metadata.labels."app.kubernetes.io/name" (engine.expr.field_names reads it)."""
SHOWN = 80
"""Found values are shown up to this many characters in messages."""


def _d(text: str, **rule: Any) -> dict[str, Any]:
    return {**rule, "meta": {"description": text}}


_STR = {"type": "string"}
_EXPR = _d("a JMESPath expression", type="string", empty=False)
_ANY = {"nullable": True}
_KIND: dict[str, Any] = {
    "type": "dict",
    "schema": {
        "apiVersion": _d("API version, e.g. batch/v1", type="string", required=True, empty=False),
        "kind": _d("kind, e.g. Job", type="string", required=True, empty=False),
        "plural": _d("REST resource name (found by discovery when omitted)", type="string", empty=False),
    },
}
_WHEN = _d("condition: the action or transform applies only when this JMESPath expression is true", type="string")

TRANSFORM_KEYS = ("set", "append", "upsert", "merge", "remove", "forEach")
ACTION_KEYS = ("create", "delete", "patch", "status", "event", "requeue", "forEach")

_AT = _d("JSONPath of the place to change", type="string", required=True, empty=False)
TRANSFORM: dict[str, Any] = {
    "type": "dict",
    "schema": {
        "when": _WHEN,
        "set": _d(
            "set a value at every match of a path (missing objects on the way are created)",
            type="dict",
            schema={"at": _AT, "value": _d("the value (a template)", **_ANY, required=True)},
        ),
        "append": _d(
            "append items to every list a path matches (a missing list is created)",
            type="dict",
            schema={
                "at": _AT,
                "items": _d("a list of items, or one item (a template; null appends nothing)", **_ANY, required=True),
            },
        ),
        "upsert": _d(
            "in every list a path matches, replace the item with the same key, or append it",
            type="dict",
            schema={
                "at": _AT,
                "key": _d("the field that identifies items, e.g. name", type="string", required=True),
                "item": _d("the item (a template that renders to an object)", **_ANY, required=True),
            },
        ),
        "merge": _d(
            "shallow-merge an object into every object a path matches (a missing object is created)",
            type="dict",
            schema={"at": _AT, "value": _d("the object to merge (a template)", **_ANY, required=True)},
        ),
        "remove": _d("remove every field or list item a path matches", type="dict", schema={"at": _AT}),
        "forEach": _d(
            "apply transforms once per item of a list",
            type="dict",
            schema={
                "in": _d("expression: the list", **_EXPR, required=True),
                "as": _d("the name of the current item (default: item)", type="string", regex=IDENT),
                "do": _d("transforms", type="list", required=True, schema={"type": "dict"}),
            },
        ),
    },
}

_PROPAGATION = _d(
    "deletion propagation policy (default: Background)", type="string", allowed=["Background", "Foreground", "Orphan"]
)
_EVENT_FIELDS = {
    "type": _d("Normal or Warning", type="string", allowed=["Normal", "Warning"]),
    "reason": _d("short CamelCase reason", type="string", required=True, empty=False),
    "message": _d("message (a template)", type="string", required=True),
}
ACTION: dict[str, Any] = {
    "type": "dict",
    "schema": {
        "when": _WHEN,
        "create": _d(
            "create an object (unless `existing` is there and need not be replaced)",
            type="dict",
            schema={
                "object": _d("the object to create (a template)", type="dict"),
                "build": _d("the name of a builder that makes the object", type="string", regex=IDENT),
                "with": _d("arguments for the builder (templates), available to it as `args`", type="dict"),
                "existing": _d("expression: the object this one would replace, if any", **_EXPR),
                "replaceWhen": _d("expression: replace `existing` (delete, then create) when true", **_EXPR),
                "replacePropagation": _PROPAGATION,
                "owner": _d("expression: the object that owns the new one (a controller ownerReference)", **_EXPR),
            },
        ),
        "delete": _d(
            "delete objects (absent and already terminating ones are skipped)",
            type="dict",
            schema={
                "target": _d(
                    "expression: the object (or list of objects; nulls are skipped) to delete", required=True, **_EXPR
                ),
                "propagation": _PROPAGATION,
            },
        ),
        "patch": _d(
            "patch objects (a merge patch is sent only when it changes something)",
            type="dict",
            schema={
                "target": _d("expression: the object (or list of objects) to patch", **_EXPR, required=True),
                "merge": _d("a JSON merge patch (a template)", type="dict"),
                "json": _d("JSON patch operations (a template)", type="list"),
            },
        ),
        "status": _d(
            "write status fields and conditions (nothing is sent when nothing changes)",
            type="dict",
            schema={
                "target": _d("expression: whose status (default: the evaluated object)", **_EXPR),
                "set": _d("fields merged into status (a template)", type="dict"),
                "conditions": _d(
                    "the status conditions",
                    type="dict",
                    schema={
                        "replace": _d("the whole conditions list (templates)", type="list"),
                        "set": _d("conditions added or updated by type (templates)", type="list"),
                        "remove": _d("condition types to remove", type="list", schema={"type": "string"}),
                    },
                ),
            },
        ),
        "event": _d(
            "record a Kubernetes Event (repeats are counted on one Event)",
            type="dict",
            schema={
                "target": _d("expression: the object the event is about (default: the evaluated object)", **_EXPR),
                **_EVENT_FIELDS,
                "whenChanged": _d("JSONPath: emit only when this decision changes that field", type="string"),
            },
        ),
        "requeue": _d(
            "evaluate the object again after a delay (the shortest of a decision's requeues wins)",
            type="dict",
            schema={"after": _d("seconds", type="number", required=True)},
        ),
        "forEach": _d(
            "run actions once per item of a list",
            type="dict",
            schema={
                "in": _d("expression: the list", **_EXPR, required=True),
                "as": _d("the name of the current item (default: item)", type="string", regex=IDENT),
                "do": _d("actions", type="list", required=True, schema={"type": "dict"}),
            },
        ),
    },
}

_LOOKUP_TARGET: dict[str, Any] = {"type": "dict", "schema": {**_KIND["schema"]}}
RELATED: dict[str, Any] = {
    "type": "dict",
    "schema": {
        "description": _d("what this object is to the evaluated one", type="string"),
        "get": _d(
            "look one object up by name",
            type="dict",
            excludes="list",
            schema={
                **_LOOKUP_TARGET["schema"],
                "name": _d("name (a template)", type="string", required=True),
                "namespace": _d("namespace (a template; default: the evaluated object's)", type="string"),
            },
        ),
        "list": _d(
            "look objects up by kind and filter them",
            type="dict",
            excludes="get",
            schema={
                **_LOOKUP_TARGET["schema"],
                "namespace": _d("namespace (a template; default: the evaluated object's; '*' for all)", type="string"),
                "match": _d(
                    "keep items whose field (a dotted path such as spec.owner; a name with dots or slashes in "
                    'double quotes: metadata.labels."app.kubernetes.io/name") equals the value (a template); '
                    "answered from an index, so a lookup does not scan every object of its kind",
                    type="dict",
                    keysrules={"type": "string", "regex": FIELD_PATH},
                    valuesrules={"type": ["string", "integer", "boolean"]},
                ),
                "where": _d("keep items for which this is true (`item` is the candidate)", **_EXPR),
                "orderBy": _d(
                    "sort key: an expression evaluated on each candidate, e.g. metadata.creationTimestamp", **_EXPR
                ),
                "descending": _d("sort from the largest key", type="boolean"),
                "first": _d("the first match only (an object or null) instead of a list", type="boolean"),
            },
        ),
        "triggers": _d(
            "which evaluated object a change of a listed object re-evaluates (expressions over the changed object)",
            type="dict",
            schema={
                "name": _d(
                    "from a changed object, the name of the object to re-evaluate", type="string", required=True
                ),
                "namespace": _d("its namespace (a template; default: the changed object's)", type="string"),
                "when": _d("only changed objects for which this is true trigger", **_EXPR),
            },
        ),
        "cache": _d(
            "how the runtime caches objects of this kind",
            type="dict",
            schema={
                "drop": _d(
                    "JSONPaths removed from cached objects (large fields rules never read)",
                    type="list",
                    schema={"type": "string"},
                )
            },
        ),
    },
}

FACT_FORM: dict[str, Any] = {
    "description": _d("what the fact means", type="string"),
    "value": _d("a template", nullable=True),
    "cases": _d(
        "the value of the first case whose `when` is true (a case without `when` always is); null when none is",
        type="list",
        schema={
            "type": "dict",
            "schema": {
                "when": _d("condition of this case", **_EXPR),
                "value": _d("the value (a template)", **_ANY, required=True),
            },
        },
    ),
    "in": _d("expression: a list to filter (or search, with `first`)", **_EXPR),
    "where": _d("keep the items for which this is true (`item` is the item)", **_EXPR),
    "select": _d("what to keep of each item (a template over `item`; default: the item)", **_ANY),
    "first": _d("the first kept item only (or null) instead of a list", type="boolean"),
}

RULE: dict[str, Any] = {
    "type": "dict",
    "schema": {
        "name": _d("unique rule name", type="string", required=True, regex=NAME),
        "description": _d("the situation this rule handles", type="string"),
        "from": _d("states in which the rule applies (state groups)", type="list", schema={"type": "string"}),
        "when": _d("condition (JMESPath)", type="string", empty=False),
        "then": _d("actions", type="list", schema={"type": "dict"}),
        "to": _d("the state this rule moves to (state groups)", type="string"),
        "let": _d(
            "names for this rule's actions (templates); they may shadow facts",
            type="dict",
            keysrules={"type": "string", "regex": IDENT},
        ),
        "event": _d(
            "an Event emitted when the rule changes the state (or always, with `always`)",
            type="dict",
            schema={**_EVENT_FIELDS, "always": _d("also when the state does not change", type="boolean")},
        ),
    },
}

GROUP: dict[str, Any] = {
    "type": "dict",
    "schema": {
        "name": _d("group name", type="string", required=True, regex=NAME),
        "description": _d("what the group decides", type="string"),
        "match": _d(
            "first: the first matching rule wins; all: every matching rule", type="string", allowed=["first", "all"]
        ),
        "state": _d(
            "a state machine: the rules move the object between states",
            type="dict",
            schema={
                "field": _d("where the state lives in the object, e.g. status.phase", type="string", required=True),
                "initial": _d("the state when the field is absent", type="string", required=True),
                "states": _d("state names, each with optional data (a template)", type="dict", required=True),
                "onEnter": _d("actions when a rule's `to` changes the state", type="list", schema={"type": "dict"}),
            },
        ),
        "rules": _d("the rules, in order", type="list", required=True, schema=RULE),
    },
}

DOCUMENT: dict[str, Any] = {
    "apiVersion": _d(f"must be {API_VERSION}", type="string", required=True, allowed=[API_VERSION]),
    "kind": _d(f"must be {KIND}", type="string", required=True, allowed=[KIND]),
    "metadata": _d(
        "the document's identity",
        type="dict",
        required=True,
        schema={
            "name": _d("unique document name", type="string", required=True, regex=NAME),
            "description": _d("what the document is about", type="string"),
        },
    ),
    "spec": _d(
        "what the document evaluates and how",
        type="dict",
        required=True,
        schema={
            "for": _d(
                "the objects this document evaluates",
                type="dict",
                required=True,
                schema={
                    "kind": _d("one kind", **_KIND, excludes="dynamic"),
                    "dynamic": _d(
                        "every kind that objects of another kind name",
                        type="dict",
                        excludes="kind",
                        schema={
                            "from": _d("the kind of the objects that name kinds", **_KIND, required=True),
                            "where": _d("which source objects name a kind (expression over the source)", **_EXPR),
                            "kind": _d(
                                "the named kind (templates over the source object)",
                                type="dict",
                                required=True,
                                schema={
                                    "apiVersion": _d("API version (a template)", type="string", required=True),
                                    "kind": _d("kind (a template)", type="string", required=True),
                                    "plural": _d("REST resource name (a template)", type="string"),
                                },
                            ),
                            "as": _d(
                                "the name the source object is bound to", type="string", required=True, regex=IDENT
                            ),
                        },
                    ),
                    "namespaces": _d(
                        "only objects in these namespaces (default: all)", type="list", schema={"type": "string"}
                    ),
                    "labelSelector": _d("only objects with these labels (a Kubernetes label selector)", type="string"),
                    "optionalFields": _d(
                        "dotted paths of `object` (such as spec.replicas) that only some of the kinds evaluated have: "
                        "`--crd` does not report a read of one, or of a field under it, missing from a kind's schema",
                        type="list",
                        schema={"type": "string", "regex": FIELD_PATH},
                    ),
                },
            ),
            "related": _d(
                "other objects looked up for each evaluated object, by name",
                type="dict",
                keysrules={"type": "string", "regex": IDENT},
                valuesrules=RELATED,
            ),
            "facts": _d(
                "named values computed once per evaluation, on first use",
                type="dict",
                keysrules={"type": "string", "regex": IDENT},
                valuesrules={"type": ["string", "dict"], "empty": False},
            ),
            "builders": _d(
                "named recipes for objects that `create` actions build",
                type="dict",
                keysrules={"type": "string", "regex": IDENT},
                valuesrules={
                    "type": "dict",
                    "schema": {
                        "description": _d("what the builder makes", type="string"),
                        "base": _d(
                            "start from another builder's object, available as `base`",
                            type="dict",
                            schema={
                                "build": _d("the other builder", type="string", required=True, regex=IDENT),
                                "with": _d("its arguments (templates; this builder's `args` in scope)", type="dict"),
                            },
                        ),
                        "let": _d(
                            "names computed in order before the object (expressions; `args` in scope)",
                            type="dict",
                            keysrules={"type": "string", "regex": IDENT},
                            valuesrules=_EXPR,
                        ),
                        "object": _d("the object (a template)", type="dict", required=True),
                        "transform": _d("changes applied in order to the object", type="list", schema={"type": "dict"}),
                        "require": _d(
                            "conditions checked before building; the first false one fails the decision",
                            type="list",
                            schema={
                                "type": "dict",
                                "schema": {
                                    "that": _d("the condition", **_EXPR, required=True),
                                    "message": _d(
                                        "the error when it is false (a template)", type="string", required=True
                                    ),
                                },
                            },
                        ),
                    },
                },
            ),
            "onError": _d(
                "actions when a rule's decision fails (an expression, a requirement or an API call); `error` is in scope",
                type="list",
                schema={"type": "dict"},
            ),
            "groups": _d("the groups of rules, in order", type="list", required=True, schema=GROUP),
        },
    ),
}


def validate(body: Any, schema: dict[str, Any], positions: Positions, base: tuple[Any, ...] = ()) -> list[Problem]:
    """Validate `body` (found at `base` in its document) against a cerberus schema; every problem, located."""
    if not isinstance(body, dict):
        found = type(body).__name__
        return [Problem(positions.at(base), f"expected a mapping, found {found}", "type")]
    validator = _validator(schema)
    if validator.validate(body, normalize=False):  # no rule of these schemas normalizes: save the walk
        return []
    problems: list[Problem] = []
    for error in _leaves(validator._errors):
        path = (*base, *error.document_path)
        problems.append(Problem(positions.at(path), _message(error, path), _code(error)))
    return sorted(problems, key=lambda p: (p.location.line, p.location.column, p.message))


_VALIDATORS: dict[int, tuple[dict[str, Any], cerberus.Validator]] = {}


def _validator(schema: dict[str, Any]) -> cerberus.Validator:
    """One validator per schema (building one checks the schema itself, which costs more than validating)."""
    cached = _VALIDATORS.get(id(schema))
    if cached is None or cached[0] is not schema:
        cached = _VALIDATORS[id(schema)] = (schema, cerberus.Validator(schema))
    return cached[1]


CODES = {
    "required": "required",
    "type": "type",
    "nullable": "type",
    "allowed": "allowed",
    "regex": "pattern",
    "empty": "empty-value",
}
"""Problem codes of schema violations (`empty-value`, not `empty`: that code means an empty rule file)."""


def _code(error: Any) -> str:
    if error.rule is None and error.code == 0x03:
        return "unknown-field"
    return CODES.get(str(error.rule), str(error.rule or "schema"))


def _leaves(errors: Any) -> list[Any]:
    out = []
    for error in errors:
        if error.is_group_error and error.child_errors:
            out.extend(_leaves(error.child_errors))
        else:
            out.append(error)
    return out


def _type_name(value: Any) -> str:
    return {dict: "mapping", list: "list", str: "string", bool: "boolean", int: "integer", float: "number"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


_TYPE_WORDS = {"dict": "mapping", "float": "number"}
"""Cerberus type names in the words messages use (those of YAML and JSON)."""


def _shown(value: Any) -> str:
    """A found value, shortened: text quoted as everywhere in messages ('text'), anything else as YAML/JSON
    writes it (`true`, `null`, `{"a": 1}`) rather than as Python would (`True`, `None`)."""
    text = (
        repr(value)
        if isinstance(value, str)
        else json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    )
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def _message(error: Any, path: tuple[Any, ...]) -> str:
    rule, constraint, value = error.rule, error.constraint, error.value
    if rule == "required":
        return "required field is missing"
    if rule is None and error.code == 0x03:  # unknown field
        return f"unknown field `{path[-1]}`"
    if rule == "type":
        wanted = " or ".join(
            _TYPE_WORDS.get(str(name), str(name))
            for name in (constraint if isinstance(constraint, list) else [constraint])
        )
        return f"expected {wanted}, found {_type_name(value)} {_shown(value)}"
    if rule == "allowed":
        return f"expected one of {', '.join(map(str, constraint))}, found {_shown(value)}"
    if rule == "regex":
        return f"expected a value matching {constraint}, found {_shown(value)}"
    if rule == "empty":
        return "must not be empty"
    if rule == "nullable":
        return "must not be null"
    if rule == "excludes":
        return f"cannot be used together with `{constraint}`"
    return f"{rule} {constraint!r} failed (found {_shown(value)})"
