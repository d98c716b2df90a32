"""Schemas of built-in kinds (from kubernetes-validate) and navigation shared with CRD schemas.

kubernetes-validate ships the Kubernetes OpenAPI definitions as JSON Schema, keeping the extensions
that matter here: `x-kubernetes-patch-merge-key`/`-patch-strategy` (strategic merge patch),
`x-kubernetes-list-type`/`-list-map-keys`/`-map-type` (server-side apply), and `properties` (unknown
field detection and pruning for built-ins). The same `Schema` wrapper navigates CRD structural schemas.
When kubernetes-validate is not installed, a small fallback keeps the merge keys of the fields kubectl
patches most (containers, env, volumes, ports, finalizers, ownerReferences) and accepts every field.
This module does not validate values: `kubesim.structural` does that for CRDs.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from typing import Any

JSON = dict[str, Any]
_REF_PREFIXES = ("#/$defs/", "/api/_definitions.json#/$defs/")


@functools.cache
def _definitions_dir(minor: int) -> Path | None:
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"
    for candidate in range(minor, 20, -1):
        path = root / f"v1.{candidate}.0-local"
        if (path / "_definitions.json").exists():
            return path
    return None


@functools.cache
def definitions(minor: int = 32) -> dict[str, JSON]:
    """All built-in definitions by name (`io.k8s.api.batch.v1.Job`), or the fallback set."""
    folder = _definitions_dir(minor)
    if folder is None:
        return _FALLBACK
    with open(folder / "_definitions.json", encoding="utf-8") as handle:
        defs: dict[str, JSON] = json.load(handle)["$defs"]
    return defs


def has_real_definitions(minor: int = 32) -> bool:
    """Whether kubernetes-validate's definitions are available."""
    return _definitions_dir(minor) is not None


@functools.cache
def gvk_index(minor: int = 32) -> dict[tuple[str, str, str], str]:
    """(group, version, kind) -> definition name."""
    index: dict[tuple[str, str, str], str] = {}
    for name, node in definitions(minor).items():
        for gvk in node.get("x-kubernetes-group-version-kind", ()):
            index.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    return index


_COMPILED: dict[int, tuple[JSON, Schema]] = {}


def _resolve(node: JSON, defs: dict[str, JSON] | None) -> JSON:
    while defs is not None:
        ref = node.get("$ref")
        if ref is None and len(node.get("allOf", ())) == 1 and "$ref" in node["allOf"][0]:
            ref = node["allOf"][0]["$ref"]
        if ref is None:
            break
        for prefix in _REF_PREFIXES:
            if ref.startswith(prefix):
                ref = ref[len(prefix) :]
        node = defs.get(ref.rsplit("/", 1)[-1], {})
    return node


class Schema:
    """A schema node with its reference resolver; navigation only. Instances are cached per node."""

    __slots__ = ("_children", "accepts_all", "defs", "extra", "is_open", "node", "props")
    defs: dict[str, JSON] | None
    node: JSON
    props: JSON | None
    extra: Any
    is_open: bool
    accepts_all: bool
    _children: dict[str, Schema | None]

    def __new__(cls, node: JSON, defs: dict[str, JSON] | None = None) -> Schema:
        cached = _COMPILED.get(id(node))
        if cached is not None and cached[0] is node and cached[1].defs is defs:
            return cached[1]
        self = super().__new__(cls)
        self.defs = defs
        resolved = _resolve(node, defs)
        self.node = resolved
        props = resolved.get("properties")
        self.props = props if isinstance(props, dict) else None
        extra = resolved.get("additionalProperties")
        self.extra = extra
        self.is_open = bool(resolved.get("x-kubernetes-preserve-unknown-fields")) or (
            self.props is None and not isinstance(extra, dict) and not isinstance(extra, bool)
        )
        self.accepts_all = self.is_open or isinstance(extra, dict) or extra is True
        self._children = {}
        _COMPILED[id(node)] = (node, self)
        return self

    def __init__(self, node: JSON, defs: dict[str, JSON] | None = None) -> None:
        """Construction happens in `__new__` (cached)."""

    def _wrap(self, node: Any) -> Schema | None:
        return Schema(node, self.defs) if isinstance(node, dict) else None

    @property
    def properties(self) -> JSON | None:
        """The declared properties, or None when the node declares none."""
        return self.props

    def field(self, name: str) -> Schema | None:
        """The schema of one field (a declared property, or `additionalProperties`)."""
        try:
            return self._children[name]
        except KeyError:
            pass
        if self.props is not None and name in self.props:
            child = self._wrap(self.props[name])
        else:
            child = self._wrap(self.extra)
        self._children[name] = child
        return child

    def items(self) -> Schema | None:
        """The schema of a list's items."""
        try:
            return self._children["[]"]
        except KeyError:
            child = self._children["[]"] = self._wrap(self.node.get("items"))
            return child

    def accepts(self, name: str) -> bool:
        """Whether a field of this name is known."""
        return self.accepts_all or (self.props is not None and name in self.props)

    @property
    def list_type(self) -> str:
        """`map`, `set` or `atomic` (server-side apply); derived from the patch strategy when absent."""
        declared = self.node.get("x-kubernetes-list-type")
        if isinstance(declared, str):
            return declared
        if self.merge_key:
            return "map"
        if "merge" in self.patch_strategy:
            return "set"
        return "atomic"

    @property
    def map_keys(self) -> tuple[str, ...]:
        """The keys identifying items of a `map` list."""
        keys = self.node.get("x-kubernetes-list-map-keys")
        if isinstance(keys, list) and keys:
            return tuple(keys)
        return (self.merge_key,) if self.merge_key else ()

    @property
    def merge_key(self) -> str:
        """The strategic-merge-patch merge key of a list, or ``."""
        key = self.node.get("x-kubernetes-patch-merge-key")
        return key if isinstance(key, str) else ""

    @property
    def patch_strategy(self) -> str:
        """The strategic-merge-patch strategy (`merge`, `retainKeys`, `merge,retainKeys`, or ``)."""
        strategy = self.node.get("x-kubernetes-patch-strategy")
        return strategy if isinstance(strategy, str) else ""

    @property
    def atomic_map(self) -> bool:
        """True for `x-kubernetes-map-type: atomic` (replaced as a whole)."""
        return self.node.get("x-kubernetes-map-type") == "atomic"

    @property
    def is_granular_map(self) -> bool:
        """True for a map with arbitrary keys (`additionalProperties`), such as labels."""
        return isinstance(self.node.get("additionalProperties"), dict) and "properties" not in self.node


@functools.cache
def for_kind(group: str, version: str, kind: str, minor: int = 32) -> Schema | None:
    """The schema of a built-in kind, or None when it is not known."""
    defs = definitions(minor)
    name = gvk_index(minor).get((group, version, kind))
    if name is None:
        return None
    return Schema(defs[name], defs)


def object_meta(minor: int = 32) -> Schema:
    """The ObjectMeta schema (used for the metadata of custom resources)."""
    defs = definitions(minor)
    return Schema(defs["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"], defs)


def prune(obj: Any, schema: Schema | None, path: str = "", old: Any = None) -> list[str]:
    """Drop, in place, the fields the schema does not know; returns their paths (`spec.tempalte`).

    `old` is the stored object being updated: a subtree that *is* (by identity) the stored one was
    pruned when it was stored, and stored objects are never mutated, so it is not walked again.
    """
    out: list[str] = []
    if schema is not None:
        _prune(obj, schema, path, out, old)
    return out


def _prune(obj: Any, schema: Schema, path: str, out: list[str], old: Any) -> None:
    if isinstance(obj, dict):
        if schema.is_open:
            return
        olds = old if isinstance(old, dict) else None
        for key in list(obj):
            value = obj[key]
            if olds is not None and value is olds.get(key, _ABSENT):
                continue
            if not schema.accepts(key):
                del obj[key]
                out.append(f"{path}.{key}" if path else key)
                continue
            if isinstance(value, dict | list):
                sub = schema.field(key)
                if sub is not None:
                    _prune(value, sub, f"{path}.{key}" if path else key, out, olds.get(key) if olds else None)
    elif isinstance(obj, list):
        item_schema = schema.items()
        if item_schema is not None:
            olds_list = old if isinstance(old, list) and len(old) == len(obj) else None
            for index, value in enumerate(obj):
                if isinstance(value, dict | list):
                    before = olds_list[index] if olds_list is not None else None
                    if before is not None and value is before:
                        continue
                    _prune(value, item_schema, f"{path}[{index}]", out, before)


_ABSENT = object()


def _list(merge_key: str, item: str, strategy: str = "merge") -> JSON:
    return {
        "type": "array",
        "items": {"$ref": f"#/$defs/{item}"},
        "x-kubernetes-patch-merge-key": merge_key,
        "x-kubernetes-patch-strategy": strategy,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": [merge_key],
    }


_OPEN: JSON = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
_FALLBACK: dict[str, JSON] = {
    "PodSpec": {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {
            "containers": _list("name", "Container"),
            "initContainers": _list("name", "Container"),
            "volumes": _list("name", "Open", "merge,retainKeys"),
        },
    },
    "Container": {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {
            "env": _list("name", "Open"),
            "ports": _list("containerPort", "Open"),
            "volumeMounts": _list("mountPath", "Open"),
        },
    },
    "Open": _OPEN,
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {
            "finalizers": {"type": "array", "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"},
            "ownerReferences": _list("uid", "Open"),
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
}
