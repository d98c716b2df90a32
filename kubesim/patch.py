"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.

Strategic merge patch follows the built-in schemas' `x-kubernetes-patch-merge-key` and
`x-kubernetes-patch-strategy` (lists of containers, env, volumes merged by key; finalizers unioned) and
the directives kubectl's three-way patches use: `$patch: replace|delete|merge`, `$retainKeys`,
`$setElementOrder/<field>` and `$deleteFromPrimitiveList/<field>`. Server-side apply lives in
`kubesim.ssa`. This module turns (object, patch) into a new object; the caller validates and stores it.
"""

from __future__ import annotations

import enum
from typing import Any

import jsonpatch
import jsonpointer

from kubesim.errors import ApiError, Reason, bad_request
from kubesim.meta import JSON, deep_copy
from kubesim.schemas import Schema

MAX_JSON_PATCH_OPERATIONS = 10_000


class PatchType(enum.StrEnum):
    """Content types of PATCH requests."""

    JSON = "application/json-patch+json"
    MERGE = "application/merge-patch+json"
    STRATEGIC = "application/strategic-merge-patch+json"
    APPLY_YAML = "application/apply-patch+yaml"
    APPLY_CBOR = "application/apply-patch+cbor"

    @classmethod
    def parse(cls, content_type: str) -> PatchType | None:
        """The patch type of a Content-Type header, or None."""
        return _BY_MEDIA.get(content_type.split(";", 1)[0].strip().lower())


_BY_MEDIA = {t.value: t for t in PatchType}

# What kube-apiserver 1.32 accepts, in its order: strategic merge only for built-in kinds (CRDs have no
# patch strategies), apply via CBOR only behind the CBORServingAndStorage alpha gate (off by default).
BUILTIN_PATCH_TYPES = (PatchType.JSON, PatchType.MERGE, PatchType.STRATEGIC, PatchType.APPLY_YAML)
CUSTOM_PATCH_TYPES = (PatchType.JSON, PatchType.MERGE, PatchType.APPLY_YAML)


def accepted_patch_types(strategic: bool) -> tuple[PatchType, ...]:
    """The patch types a kind accepts and its OpenAPI PATCH operation lists (`strategic`: built-ins)."""
    return BUILTIN_PATCH_TYPES if strategic else CUSTOM_PATCH_TYPES


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return deep_copy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            out[key] = merge_patch(out.get(key), value)
        else:
            out[key] = deep_copy(value)
    return out


def json_patch(target: JSON, operations: Any) -> JSON:
    """RFC 6902; a failing `test` or a missing path is 422, as the API server answers."""
    if not isinstance(operations, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    if len(operations) > MAX_JSON_PATCH_OPERATIONS:
        raise ApiError(
            413,
            Reason.REQUEST_ENTITY_TOO_LARGE,
            f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {len(operations)}",
            {},
        )
    try:
        patch = jsonpatch.JsonPatch(operations)
        result = patch.apply(deep_copy(target))
    except jsonpatch.InvalidJsonPatch as error:
        raise bad_request(str(error)) from error
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as error:
        raise ApiError(422, Reason.INVALID, "the server rejected our request due to an error in our request", {}) from (
            error
        )
    if not isinstance(result, dict):
        raise bad_request("the patched document is not an object")
    return result


class _Delete:
    pass


_DELETE = _Delete()


def strategic_merge_patch(original: JSON, patch: Any, schema: Schema | None) -> JSON:
    """Apply a strategic merge patch to a built-in object."""
    if not isinstance(patch, dict):
        raise bad_request("strategic merge patch body must be a JSON object")
    result = _smp_map(original, patch, schema)
    return {} if isinstance(result, _Delete) else result


def _smp_map(original: Any, patch: JSON, schema: Schema | None) -> JSON | _Delete:
    directive = patch.get("$patch")
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        replaced: JSON = _strip({k: v for k, v in patch.items() if k != "$patch"}, schema)
        return replaced
    if directive not in (None, "merge"):
        raise bad_request(f"Unknown patch type: {directive}")
    out: JSON = dict(original) if isinstance(original, dict) else {}
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            current = out.get(name)
            if isinstance(current, list) and isinstance(value, list):
                out[name] = [v for v in current if v not in value]
            continue
        if key.startswith("$setElementOrder/"):
            if isinstance(value, list):
                orders[key.split("/", 1)[1]] = value
            continue
        if value is None:
            out.pop(key, None)
            continue
        sub = schema.field(key) if schema is not None else None
        if isinstance(value, dict):
            merged = _smp_map(out.get(key), value, sub)
            if isinstance(merged, _Delete):
                out.pop(key, None)
            else:
                out[key] = merged
        elif isinstance(value, list):
            out[key] = _smp_list(out.get(key), value, sub)
        else:
            out[key] = value
    for name, order in orders.items():
        if isinstance(out.get(name), list):
            sub = schema.field(name) if schema is not None else None
            out[name] = _reorder(out[name], order, sub.merge_key if sub is not None else "")
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _strip(value: Any, schema: Schema | None) -> Any:
    """A patch value with its directives applied against nothing (for newly added items)."""
    if isinstance(value, dict):
        result = _smp_map({}, value, schema)
        return {} if isinstance(result, _Delete) else result
    if isinstance(value, list):
        return _smp_list(None, value, schema)
    return value


def _smp_list(original: Any, patch: list[Any], schema: Schema | None) -> list[Any]:
    strategy = schema.patch_strategy if schema is not None else ""
    items = schema.items() if schema is not None else None
    if "merge" not in strategy:
        return [_strip(v, items) for v in patch if not (isinstance(v, dict) and v.get("$patch") == "replace")]
    replace = any(isinstance(v, dict) and v.get("$patch") == "replace" for v in patch)
    current: list[Any] = [] if replace or not isinstance(original, list) else list(original)
    key = schema.merge_key if schema is not None else ""
    if not key:
        return current + [v for v in patch if v not in current and not isinstance(v, dict)]
    for item in patch:
        if not isinstance(item, dict) or item.get("$patch") == "replace":
            continue
        wanted = item.get(key)
        index = next((i for i, v in enumerate(current) if isinstance(v, dict) and v.get(key) == wanted), -1)
        if item.get("$patch") == "delete":
            if index >= 0:
                del current[index]
            continue
        if index >= 0:
            merged = _smp_map(current[index], item, items)
            if isinstance(merged, _Delete):
                del current[index]
            else:
                current[index] = merged
        else:
            current.append(_strip(item, items))
    return current


def _reorder(values: list[Any], order: list[Any], key: str) -> list[Any]:
    def ident(value: Any) -> Any:
        return value.get(key) if key and isinstance(value, dict) else value

    wanted = [ident(v) for v in order]
    ranked = [v for w in wanted for v in values if ident(v) == w]
    return ranked + [v for v in values if ident(v) not in wanted]
