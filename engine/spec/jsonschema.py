"""The rule-file schema as JSON Schema (draft 2020-12), for editors such as yaml-language-server.

Where this sits: generated from the cerberus schema (engine.spec.schema), so the two cannot drift; a test
validates the shipped rule files and the invalid examples against both. Action and transform items, which
the compiler checks by hand for "exactly one of", are described with `oneOf` here.
"""

from __future__ import annotations

from typing import Any

from engine.spec.schema import (
    ACTION,
    ACTION_KEYS,
    API_VERSION,
    DOCUMENT,
    FACT_FORM,
    TRANSFORM,
    TRANSFORM_KEYS,
)

_TYPES = {
    "string": "string",
    "dict": "object",
    "list": "array",
    "boolean": "boolean",
    "integer": "integer",
    "float": "number",
    "number": "number",
}


def convert(rules: dict[str, Any]) -> dict[str, Any]:
    """One cerberus field rule set -> a JSON Schema."""
    out: dict[str, Any] = {}
    description = (rules.get("meta") or {}).get("description")
    if description:
        out["description"] = description
    kind = rules.get("type")
    if isinstance(kind, list):
        out["type"] = [_TYPES[k] for k in kind]
    elif kind:
        out["type"] = _TYPES[kind]
    if rules.get("nullable") and "type" in out:
        out["type"] = [*(out["type"] if isinstance(out["type"], list) else [out["type"]]), "null"]
    if "allowed" in rules:
        out["enum"] = list(rules["allowed"])
    if "regex" in rules:
        out["pattern"] = rules["regex"]
    if rules.get("empty") is False and kind == "string":
        out["minLength"] = 1
    schema = rules.get("schema")
    if schema is not None and kind == "dict":
        out.update(mapping(schema))
    elif schema is not None and kind == "list":
        out["items"] = convert(schema)
    if "keysrules" in rules:
        out["propertyNames"] = convert(rules["keysrules"])
    if "valuesrules" in rules:
        out["additionalProperties"] = convert(rules["valuesrules"])
    return out


def mapping(schema: dict[str, Any]) -> dict[str, Any]:
    """A cerberus mapping schema -> properties/required/additionalProperties (and `excludes` as `not`)."""
    out: dict[str, Any] = {
        "type": "object",
        "properties": {name: convert(rule) for name, rule in schema.items()},
        "required": sorted(name for name, rule in schema.items() if rule.get("required")),
        "additionalProperties": False,
    }
    excluded = sorted({tuple(sorted((name, rule["excludes"]))) for name, rule in schema.items() if "excludes" in rule})
    if excluded:
        out["allOf"] = [{"not": {"required": list(pair)}} for pair in excluded]
    return out


def _one_of(definition: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    base = mapping(definition["schema"])
    return {
        **base,
        "oneOf": [{"required": [key]} for key in keys],
    }


def _exactly_one(schema: dict[str, Any], *keys: str) -> None:
    """The compiler's "needs exactly one of" rules, which cerberus does not express."""
    schema["oneOf"] = [{"required": [key]} for key in keys]


def rule_file_schema() -> dict[str, Any]:
    """The JSON Schema of one rule document."""
    schema = mapping(DOCUMENT)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://{API_VERSION.split('/')[0]}/schemas/{API_VERSION.split('/')[1]}/rules.json"
    schema["title"] = "Arcane rule document"
    schema["$defs"] = {
        "action": _one_of(ACTION, ACTION_KEYS),
        "transform": _one_of(TRANSFORM, TRANSFORM_KEYS),
        "fact": {"oneOf": [{"type": "string", "minLength": 1}, {**mapping(FACT_FORM)}]},
    }
    _exactly_one(schema["$defs"]["fact"]["oneOf"][1], "value", "cases", "in")
    spec = schema["properties"]["spec"]["properties"]
    _exactly_one(spec["for"], "kind", "dynamic")
    _exactly_one(spec["related"]["additionalProperties"], "get", "list")
    actions = schema["$defs"]["action"]["properties"]
    _exactly_one(actions["create"], "object", "build")
    _exactly_one(actions["patch"], "merge", "json")
    spec["facts"]["additionalProperties"] = {"$ref": "#/$defs/fact"}
    spec["onError"]["items"] = {"$ref": "#/$defs/action"}
    builder = spec["builders"]["additionalProperties"]["properties"]
    builder["transform"]["items"] = {"$ref": "#/$defs/transform"}
    group = spec["groups"]["items"]["properties"]
    group["state"]["properties"]["onEnter"]["items"] = {"$ref": "#/$defs/action"}
    group["rules"]["items"]["properties"]["then"]["items"] = {"$ref": "#/$defs/action"}
    _point_nested(schema["$defs"]["action"], "action")
    _point_nested(schema["$defs"]["transform"], "transform")
    return schema


def _point_nested(definition: dict[str, Any], name: str) -> None:
    """forEach.do holds more of the same items."""
    for_each = definition["properties"]["forEach"]
    for_each["properties"]["do"]["items"] = {"$ref": f"#/$defs/{name}"}
