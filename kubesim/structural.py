"""CRD structural schemas: pruning, defaulting and validation of custom resources.

The order is the API server's: unknown fields are pruned (unless `x-kubernetes-preserve-unknown-fields`),
nulls of non-nullable fields are dropped, defaults are applied, then values are validated. Messages
follow kube-openapi's validators as the API server reports them (`spec.replicas in body must be of
type integer: "string"`). CEL rules (`x-kubernetes-validations`) are not evaluated.

Each walk takes the stored object an update starts from (`old`, or `NO_OLD`): a subtree that *is*
(by identity) the stored one was pruned, defaulted and validated by this same schema when it was
stored, and stored objects are never mutated, so it is not walked again. The caller passes `old`
only when the schema cannot have changed since (`kubesim.kinds.crd`).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Iterator
from typing import Any

from kubesim import errors
from kubesim.errors import CauseType, FieldError, Raw
from kubesim.meta import JSON, deep_copy, parse_time

_SPECIAL_TOP = ("apiVersion", "kind", "metadata")
NO_OLD: Any = object()  # no stored counterpart: walk everything
_INT_BOUNDS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _child(old: Any, key: str) -> Any:
    return old.get(key, NO_OLD) if isinstance(old, dict) else NO_OLD


def _items(old: Any, value: list[Any]) -> list[Any]:
    return old if isinstance(old, list) and len(old) == len(value) else [NO_OLD] * len(value)


def prune(value: Any, schema: JSON, path: str = "", top: bool = True, old: Any = NO_OLD) -> Iterator[str]:
    """Drop unknown fields (and nulls of non-nullable fields) in place; yields the unknown paths."""
    if value is old:
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        embedded = bool(schema.get("x-kubernetes-embedded-resource"))
        for key in list(value):
            if (top and key in _SPECIAL_TOP) or (embedded and key in _SPECIAL_TOP):
                continue
            before = _child(old, key)
            if value[key] is before:
                continue
            sub: Any = None
            if isinstance(props, dict) and key in props:
                sub = props[key]
            elif isinstance(extra, dict):
                sub = extra
            elif extra is True or preserve or (props is None and extra is None and not schema.get("type")):
                continue
            else:
                del value[key]
                yield _join(path, key)
                continue
            if value[key] is None and isinstance(sub, dict) and not sub.get("nullable") and "default" not in sub:
                del value[key]
                continue
            if isinstance(sub, dict):
                yield from prune(value[key], sub, _join(path, key), False, before)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for index, (item, before_item) in enumerate(zip(value, _items(old, value), strict=True)):
                yield from prune(item, items, f"{path}[{index}]", False, before_item)


_DEFAULTED: dict[int, tuple[JSON, list[tuple[str, JSON]]]] = {}


def _defaulted(props: JSON) -> list[tuple[str, JSON]]:
    """The properties that declare a default (schemas are immutable: remembered by identity)."""
    cached = _DEFAULTED.get(id(props))
    if cached is not None and cached[0] is props:
        return cached[1]
    found = [(key, sub) for key, sub in props.items() if isinstance(sub, dict) and "default" in sub]
    if len(_DEFAULTED) >= 4096:
        _DEFAULTED.clear()
    _DEFAULTED[id(props)] = (props, found)
    return found


def default(value: Any, schema: JSON, old: Any = NO_OLD) -> None:
    """Apply `default` values of absent (or null non-nullable) fields, in place, top-down."""
    if value is old:
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        if isinstance(props, dict):
            for key, declared in _defaulted(props):
                if key not in value or (value[key] is None and not declared.get("nullable")):
                    given = declared["default"]
                    if given is None and not declared.get("nullable"):
                        continue
                    value[key] = deep_copy(given) if isinstance(given, dict | list) else given
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key) if isinstance(props, dict) and key in props else extra
            if isinstance(sub, dict) and isinstance(item, dict | list):
                default(item, sub, _child(old, key))
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for item, before in zip(value, _items(old, value), strict=True):
                if isinstance(item, dict | list):
                    default(item, items, before)


def validate(value: Any, schema: JSON, path: str = "", top: bool = True, old: Any = NO_OLD) -> list[FieldError]:
    """Problems with a value, worded as the API server does."""
    problems: list[FieldError] = []
    _check(value, schema, path, top, problems, old)
    return sorted(problems, key=lambda p: p.field)  # deterministic (Go walks properties in map order)


def _type_error(path: str, value: Any, wanted: str) -> FieldError:
    name = _type_name(value)
    rendered = f'"{name}"'
    return errors.invalid(path, Raw(rendered), f"{path} in body must be of type {wanted}: {rendered}")


def _check(value: Any, schema: JSON, path: str, top: bool, out: list[FieldError], old: Any = NO_OLD) -> None:  # noqa: PLR0917
    if value is old:
        return
    if value is None:
        if schema.get("nullable") or not schema.get("type"):
            return
        out.append(_type_error(path, value, str(schema.get("type"))))
        return
    if schema.get("x-kubernetes-int-or-string"):
        if not isinstance(value, int | str) or isinstance(value, bool):
            out.append(_type_error(path, value, "integer,string"))
            return
    else:
        wanted = schema.get("type")
        if wanted and not _is_type(value, str(wanted)):
            out.append(_type_error(path, value, str(wanted)))
            return
    _check_value(value, schema, path, out)
    for sub in schema.get("allOf") or []:
        _check(value, sub, path, False, out)
    any_of = schema.get("anyOf")
    if any_of and not schema.get("x-kubernetes-int-or-string"):
        branches = [validate(value, sub, path, False) for sub in any_of]
        if all(branches):
            out.extend(branches[0])
    one_of = schema.get("oneOf")
    if one_of:
        passing = sum(1 for sub in one_of if not validate(value, sub, path, False))
        if passing != 1:
            out.append(errors.invalid(path, value, f"{path} in body must match exactly one schema in oneOf"))
    negated = schema.get("not")
    if isinstance(negated, dict) and not validate(value, negated, path, False):
        out.append(errors.invalid(path, value, f"{path} in body must not validate the schema (not)"))
    if isinstance(value, dict):
        _check_object(value, schema, path, top, out, old)
    elif isinstance(value, list):
        _check_array(value, schema, path, out, old)


def _is_type(value: Any, wanted: str) -> bool:
    match wanted:
        case "object":
            return isinstance(value, dict)
        case "array":
            return isinstance(value, list)
        case "string":
            return isinstance(value, str)
        case "integer":
            return (isinstance(value, int) and not isinstance(value, bool)) or (
                isinstance(value, float) and value.is_integer()
            )
        case "number":
            return isinstance(value, int | float) and not isinstance(value, bool)
        case "boolean":
            return isinstance(value, bool)
    return True


def _check_value(value: Any, schema: JSON, path: str, out: list[FieldError]) -> None:
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        out.append(errors.not_supported(path, value, enum))
    if isinstance(value, int | float) and not isinstance(value, bool):
        _check_number(value, schema, path, out)
    if isinstance(value, str):
        _check_string(value, schema, path, out)


def _check_number(value: float, schema: JSON, path: str, out: list[FieldError]) -> None:
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None:
        if schema.get("exclusiveMinimum") and value <= low:
            out.append(errors.invalid(path, value, f"{path} in body should be greater than {low}"))
        elif value < low:
            out.append(errors.invalid(path, value, f"{path} in body should be greater than or equal to {low}"))
    if high is not None:
        if schema.get("exclusiveMaximum") and value >= high:
            out.append(errors.invalid(path, value, f"{path} in body should be less than {high}"))
        elif value > high:
            out.append(errors.invalid(path, value, f"{path} in body should be less than or equal to {high}"))
    multiple = schema.get("multipleOf")
    if multiple and value % multiple:
        out.append(errors.invalid(path, value, f"{path} in body should be a multiple of {multiple}"))
    bounds = _INT_BOUNDS.get(str(schema.get("format", "")))
    if bounds and isinstance(value, int) and not bounds[0] <= value <= bounds[1]:
        out.append(errors.invalid(path, value, f"{path} in body must be of type {schema['format']}: {value}"))


def _check_string(value: str, schema: JSON, path: str, out: list[FieldError]) -> None:
    max_length, min_length = schema.get("maxLength"), schema.get("minLength")
    if max_length is not None and len(value) > max_length:
        out.append(FieldError(CauseType.TOO_LONG, path, f"may not be longer than {max_length}"))
    if min_length is not None and len(value) < min_length:
        out.append(errors.invalid(path, value, f"{path} in body should be at least {min_length} chars long"))
    pattern = schema.get("pattern")
    if pattern:
        try:
            matched = re.search(pattern, value) is not None
        except re.error:
            matched = True
        if not matched:
            out.append(errors.invalid(path, value, f"{path} in body should match '{pattern}'"))
    fmt = schema.get("format")
    if fmt and not _format_ok(str(fmt), value):
        out.append(errors.invalid(path, value, f'{path} in body must be of type {fmt}: "{value}"'))


def _format_ok(fmt: str, value: str) -> bool:
    if fmt == "date-time":
        return parse_time(value) is not None and "T" in value.upper()
    if fmt == "date":
        return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value))
    if fmt == "uuid":
        try:
            uuid.UUID(value)
        except ValueError:
            return False
        return True
    if fmt == "byte":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return False
        return True
    return True


def _check_object(value: JSON, schema: JSON, path: str, top: bool, out: list[FieldError], old: Any) -> None:  # noqa: PLR0917
    for key in schema.get("required") or []:
        if key not in value and not (top and key in _SPECIAL_TOP):
            out.append(errors.required(_join(path, key), ""))
    count = len(value)
    if schema.get("maxProperties") is not None and count > schema["maxProperties"]:
        limit = schema["maxProperties"]
        out.append(FieldError(CauseType.TOO_MANY, path, f"must have at most {limit} items", count, True))
    if schema.get("minProperties") is not None and count < schema["minProperties"]:
        limit = schema["minProperties"]
        out.append(errors.invalid(path, count, f"{path} in body should have at least {limit} properties"))
    if schema.get("x-kubernetes-embedded-resource"):
        for key in ("apiVersion", "kind"):
            if not value.get(key):
                out.append(errors.required(_join(path, key), "must not be empty"))
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        if top and key in _SPECIAL_TOP:
            continue
        sub = props.get(key) if key in props else (extra if isinstance(extra, dict) else None)
        if isinstance(sub, dict):
            _check(item, sub, _join(path, key), False, out, _child(old, key))


def _check_array(value: list[Any], schema: JSON, path: str, out: list[FieldError], old: Any) -> None:
    if schema.get("maxItems") is not None and len(value) > schema["maxItems"]:
        limit = schema["maxItems"]
        out.append(FieldError(CauseType.TOO_MANY, path, f"must have at most {limit} items", len(value), True))
    if schema.get("minItems") is not None and len(value) < schema["minItems"]:
        limit = schema["minItems"]
        out.append(errors.invalid(path, len(value), f"{path} in body should have at least {limit} items"))
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        seen: list[Any] = []
        for index, item in enumerate(value):
            if item in seen:
                out.append(FieldError(CauseType.DUPLICATE, f"{path}[{index}]", "", item, True))
            seen.append(item)
    elif list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys") or []
        seen_keys: list[Any] = []
        for index, item in enumerate(value):
            ident = tuple(item.get(k) for k in keys) if isinstance(item, dict) else item
            if ident in seen_keys:
                shown = {k: item.get(k) for k in keys} if isinstance(item, dict) else item
                out.append(FieldError(CauseType.DUPLICATE, f"{path}[{index}]", "", Raw(str(shown)), True))
            seen_keys.append(ident)
    items = schema.get("items")
    if isinstance(items, dict):
        for index, (item, before) in enumerate(zip(value, _items(old, value), strict=True)):
            _check(item, items, f"{path}[{index}]", False, out, before)
