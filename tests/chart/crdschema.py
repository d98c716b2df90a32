"""What an API server does with a custom resource, given its CRD's structural schema: offline, for tests.

Where it sits: the CRD tests feed our CRDs (and the shared arcane-crd ones, for comparison) and sample objects
through these functions: `unknown_fields` lists what the API server would prune (or reject, under
`fieldValidation=Strict`, the default of `kubectl apply` and Helm 4); `validation_errors` validates what is left,
as the API server validates after pruning; `structural_problems` checks the rules that make a schema structural.

What it does not do: CEL rules (`x-kubernetes-validations`), defaulting, formats, or metadata validation. The
rules for structural schemas and pruning follow the Kubernetes documentation ("Specifying a structural schema",
"Field pruning").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs among the dev dependencies

Schema = dict[str, Any]

_VALUE_VALIDATION_KEYS = ("allOf", "anyOf", "oneOf", "not")
# Keys a value validation (allOf/anyOf/oneOf/not) must not carry in a structural schema.
_STRUCTURAL_ONLY = ("type", "description", "default", "additionalProperties", "nullable")


def version_schema(crd: dict[str, Any], version: str = "v1") -> Schema:
    """The openAPIV3Schema of one version of a CRD."""
    spec_version = next(v for v in crd["spec"]["versions"] if v["name"] == version)
    schema: Schema = spec_version["schema"]["openAPIV3Schema"]
    return schema


def unknown_fields(obj: Any, schema: Schema) -> list[str]:
    """Paths (`.spec.metadata.labels`) the API server would prune from `obj`; root metadata is not checked."""
    found: list[str] = []
    root = {key: value for key, value in obj.items() if key != "metadata"}
    _collect_unknown(root, schema, "", found)
    return found


def _collect_unknown(value: Any, schema: Schema, path: str, found: list[str]) -> None:
    if isinstance(value, dict):
        properties: dict[str, Schema] = schema.get("properties", {})
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                _collect_unknown(item, properties[key], f"{path}.{key}", found)
            elif isinstance(additional, dict):
                _collect_unknown(item, additional, f"{path}.{key}", found)
            elif not (schema.get("x-kubernetes-preserve-unknown-fields") or additional is True):
                found.append(f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _collect_unknown(item, schema["items"], f"{path}[{index}]", found)


def pruned(obj: Any, schema: Schema) -> Any:
    """`obj` without the fields the API server would prune (root metadata kept as is)."""
    result = _prune({key: value for key, value in obj.items() if key != "metadata"}, schema)
    if "metadata" in obj:
        result["metadata"] = obj["metadata"]
    return result


def _prune(value: Any, schema: Schema) -> Any:
    if isinstance(value, dict):
        properties: dict[str, Schema] = schema.get("properties", {})
        additional = schema.get("additionalProperties")
        keep = schema.get("x-kubernetes-preserve-unknown-fields") or additional is True
        out = {}
        for key, item in value.items():
            if key in properties:
                out[key] = _prune(item, properties[key])
            elif isinstance(additional, dict):
                out[key] = _prune(item, additional)
            elif keep:
                out[key] = item
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_prune(item, schema["items"]) for item in value]
    return value


def as_json_schema(schema: Any) -> Any:
    """The OpenAPI v3 schema as JSON Schema: `nullable` becomes a null type, Kubernetes extensions are dropped."""
    if isinstance(schema, list):
        return [as_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: as_json_schema(value) for key, value in schema.items() if not key.startswith("x-kubernetes-")}
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def validation_errors(obj: Any, schema: Schema) -> list[str]:
    """What the API server's schema validation reports for `obj` once pruned, as `path: message` lines."""
    validator = jsonschema.Draft7Validator(as_json_schema(schema))
    errors = sorted(validator.iter_errors(pruned(obj, schema)), key=lambda e: list(e.absolute_path))
    return [f".{'.'.join(str(p) for p in error.absolute_path)}: {error.message}" for error in errors]


def structural_problems(schema: Schema) -> list[str]:
    """Every way `schema` breaks the structural-schema rules CRDs must follow (empty when structural)."""
    return list(_structural(schema, "", in_value_validation=False))


def _structural(node: Schema, path: str, *, in_value_validation: bool) -> Iterator[str]:
    if in_value_validation:
        for key in _STRUCTURAL_ONLY:
            if key in node:
                yield f"{path}: {key} inside a value validation"
    elif (
        "type" not in node
        and not node.get("x-kubernetes-int-or-string")
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        yield f"{path}: no type"
    if "properties" in node and "additionalProperties" in node:
        yield f"{path}: both properties and additionalProperties"
    if node.get("x-kubernetes-list-type") == "map":
        keys = node.get("x-kubernetes-list-map-keys", [])
        required = node.get("items", {}).get("required", [])
        if not keys or not set(keys) <= set(required):
            yield f"{path}: list-type map needs list-map-keys that every item requires"
    for key, child in node.get("properties", {}).items():
        yield from _structural(child, f"{path}.{key}", in_value_validation=in_value_validation)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from _structural(node[key], f"{path}.{key}", in_value_validation=in_value_validation)
    for key in _VALUE_VALIDATION_KEYS:
        branches = node.get(key)
        for index, branch in enumerate(branches if isinstance(branches, list) else [branches] if branches else []):
            yield from _structural(branch, f"{path}.{key}[{index}]", in_value_validation=True)


def simple_json_path(obj: Any, path: str) -> Any:
    """The value at a printer-column path such as `.spec.containers[0].image`, or None when absent."""
    current = obj
    for part in path.lstrip(".").split("."):
        name, _, rest = part.partition("[")
        current = current.get(name) if isinstance(current, dict) else None
        while rest and current is not None:
            index, _, rest = rest.partition("]")
            rest = rest.lstrip("[")
            current = current[int(index)] if isinstance(current, list) and int(index) < len(current) else None
    return current
