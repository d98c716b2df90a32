"""CRD structural schemas applied to custom resources the in-memory cluster stores: pruning, then defaulting.

Where this sits: engine.testing.memory calls `admit` on every write of a kind whose CRD it knows (given to a
fixture under `crds`, or stored as an object). The order is the API server's: unknown fields are dropped
(unless `x-kubernetes-preserve-unknown-fields` or `additionalProperties` keep them), nulls of
non-nullable fields are dropped, then `default`s fill absent fields, top-down. So a fixture sees the
object a real cluster would hand its rules. It does not validate values (types, enums, patterns, CEL);
an invalid fixture object is stored as written. kubesim validates, for end-to-end tests.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.model import GVK, Obj

_TOP = ("apiVersion", "kind", "metadata")


@dataclass(frozen=True, slots=True)
class CrdKind:
    """What a CRD says about one of its versions: scope and the structural schema (None: no schema)."""

    gvk: GVK
    namespaced: bool
    schema: Mapping[str, Any] | None


def crd_kinds(crd: Obj) -> list[CrdKind]:
    """The kinds (one per version) a CustomResourceDefinition declares."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    kind = str(names.get("kind") or "")
    group = str(spec.get("group") or "")
    namespaced = spec.get("scope", "Namespaced") != "Cluster"
    out: list[CrdKind] = []
    for version in spec.get("versions") or []:
        if not isinstance(version, dict) or not kind:
            continue
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        out.append(CrdKind(GVK(group, str(version.get("name") or ""), kind), namespaced, schema))
    return out


def admit(obj: dict[str, Any], schema: Mapping[str, Any]) -> None:
    """Prune unknown fields, then apply defaults, in place (as the API server does on every write)."""
    prune(obj, schema, top=True)
    default(obj, schema)


def prune(value: Any, schema: Mapping[str, Any], top: bool = False) -> None:
    """Drop fields the schema does not know (and nulls of non-nullable fields without a default), in place."""
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        embedded = bool(schema.get("x-kubernetes-embedded-resource"))
        for key in list(value):
            if (top or embedded) and key in _TOP:
                continue
            sub: Any = None
            if isinstance(props, dict) and key in props:
                sub = props[key]
            elif isinstance(extra, dict):
                sub = extra
            elif extra is True or preserve or (props is None and extra is None and "type" not in schema):
                continue
            else:
                del value[key]
                continue
            if value[key] is None and isinstance(sub, dict) and not sub.get("nullable") and "default" not in sub:
                del value[key]
                continue
            if isinstance(sub, dict):
                prune(value[key], sub)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for item in value:
                prune(item, items)


def default(value: Any, schema: Mapping[str, Any]) -> None:
    """Fill absent (or null, non-nullable) fields that have a `default`, top-down, in place."""
    if isinstance(value, dict):
        props = schema.get("properties")
        if isinstance(props, dict):
            for key, sub in props.items():
                if not isinstance(sub, dict) or "default" not in sub:
                    continue
                if key not in value or (value[key] is None and not sub.get("nullable")):
                    value[key] = copy.deepcopy(sub["default"])
        for key, item in value.items():
            sub = props.get(key) if isinstance(props, dict) else None
            if sub is None and isinstance(schema.get("additionalProperties"), dict):
                sub = schema["additionalProperties"]
            if isinstance(sub, dict):
                default(item, sub)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for item in value:
                default(item, items)
