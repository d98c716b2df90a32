"""OpenAPI v3 documents: the root index and one document per group/version.

kubectl 1.29+ checks that each resource's PATCH operation carries `x-kubernetes-group-version-kind`
and an operation-level `fieldValidation` parameter before it leaves validation to the server, and
computes client-side-apply strategic merge patches from `components.schemas` when the operation lists
strategic merge (built-ins only: for custom resources it sends a JSON merge patch, which they accept). Built-in schemas come
from kubernetes-validate (`$ref`s rewritten, `["string","null"]` narrowed), CR schemas from their CRD.
Documents are cached per set of served types. OpenAPI v2 is not served (404), as kubectl tolerates.
"""

from __future__ import annotations

import hashlib
from typing import Any

from kubesim import schemas
from kubesim.meta import JSON, dumps
from kubesim.patch import accepted_patch_types
from kubesim.resources import Registry, ResourceType

_QUERY = ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
# The texts kube-apiserver gives a custom resource's apiVersion, kind (TypeMeta's) and metadata
# (PartialObjectMetadata's), which `kubectl explain` prints for every CRD kind.
_CONVENTIONS = "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
_API_VERSION_DOC = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
    "recognized schemas to the latest internal value, and may reject unrecognized values. More info: "
    f"{_CONVENTIONS}#resources"
)
_KIND_DOC = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer this "
    "from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
    f"{_CONVENTIONS}#types-kinds"
)
_METADATA_DOC = f"Standard object's metadata. More info: {_CONVENTIONS}#metadata"


def _param(name: str) -> JSON:
    return {"name": name, "in": "query", "description": name, "schema": {"type": "string", "uniqueItems": True}}


def _convert(node: Any) -> Any:
    if isinstance(node, dict):
        out: JSON = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = "#/components/schemas/" + value.rsplit("/", 1)[-1]
            elif key == "type" and isinstance(value, list):
                kinds = [v for v in value if v != "null"]
                out[key] = kinds[0] if kinds else "object"
            elif key == "oneOf" and isinstance(value, list) and len(value) == 2:
                out["x-kubernetes-int-or-string"] = True
                out["anyOf"] = [_convert(v) for v in value]
            elif key not in ("$schema", "$id"):
                out[key] = _convert(value)
        return out
    if isinstance(node, list):
        return [_convert(v) for v in node]
    return node


def _closure(names: list[str], defs: dict[str, JSON]) -> dict[str, JSON]:
    out: dict[str, JSON] = {}
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in out or name not in defs:
            continue
        out[name] = _convert(defs[name])
        pending.extend(_refs(defs[name]))
    return out


def _refs(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.append(value.rsplit("/", 1)[-1])
            else:
                found.extend(_refs(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_refs(value))
    return found


def schema_name(rt: ResourceType) -> str:
    """The component name of a kind (`io.k8s.api.batch.v1.Job`, `com.example.v1.Widget`)."""
    name = schemas.gvk_index().get((rt.group, rt.version, rt.kind))
    if name is not None and rt.extra.get("crd") is None:
        return name
    reversed_group = ".".join(reversed(rt.group.split("."))) if rt.group else "core"
    return f"{reversed_group}.{rt.version}.{rt.kind}"


def _custom_schema(rt: ResourceType) -> JSON:
    raw = getattr(rt.strategy, "raw_schema", None) or {"type": "object"}
    doc = dict(_convert(raw))
    props = dict(doc.get("properties") or {})
    props["apiVersion"] = {"type": "string", "description": _API_VERSION_DOC}
    props["kind"] = {"type": "string", "description": _KIND_DOC}
    props["metadata"] = {"$ref": f"#/components/schemas/{_OBJECT_META}", "description": _METADATA_DOC}
    doc["properties"] = props
    doc["type"] = "object"
    doc["x-kubernetes-group-version-kind"] = [{"group": rt.group, "version": rt.version, "kind": rt.kind}]
    return doc


def _operation(verb: str, rt: ResourceType, ref: str, params: tuple[str, ...]) -> JSON:
    gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    content = {"application/json": {"schema": {"$ref": ref}}}
    op: JSON = {
        "operationId": f"{verb}{rt.kind}",
        "x-kubernetes-action": verb,
        "x-kubernetes-group-version-kind": gvk,
        "parameters": [_param(p) for p in params],
        "responses": {"200": {"description": "OK", "content": content}},
    }
    if verb in ("put", "post"):
        op["requestBody"] = {"content": content, "required": True}
    if verb == "patch":
        op["requestBody"] = {
            "content": {
                str(t): {"schema": {"type": "object"}} for t in accepted_patch_types(rt.strategy.strategic_merge_patch)
            },
            "required": True,
        }
    return op


class OpenApi:
    """OpenAPI v3 documents over a registry."""

    def __init__(self, registry: Registry, minor: str) -> None:
        self.registry = registry
        self.minor = minor
        self._docs: dict[Any, tuple[bytes, str]] = {}

    def _key(self, group: str, version: str) -> Any:
        return (group, version, tuple(id(rt) for rt in self.registry.in_group_version(group, version)))

    def document(self, group: str, version: str) -> tuple[bytes, str] | None:
        """The encoded document for one group/version and its hash, or None when not served."""
        types = self.registry.in_group_version(group, version)
        if not types:
            return None
        key = self._key(group, version)
        cached = self._docs.get(key)
        if cached is None:
            data = dumps(self._build(group, version, types))
            cached = (data, hashlib.sha256(data).hexdigest().upper())
            self._docs[key] = cached
        return cached

    def _build(self, group: str, version: str, types: list[ResourceType]) -> JSON:
        defs = schemas.definitions(int(self.minor) if self.minor.isdigit() else 32)
        builtin_names = [schema_name(rt) for rt in types if rt.extra.get("crd") is None]
        components = _closure([*builtin_names, _OBJECT_META], defs)
        paths: JSON = {}
        base = f"/apis/{group}/{version}" if group else f"/api/{version}"
        for rt in types:
            name = schema_name(rt)
            if rt.extra.get("crd") is not None:
                components[name] = _custom_schema(rt)
            elif name not in components:
                components[name] = {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "x-kubernetes-group-version-kind": [{"group": rt.group, "version": rt.version, "kind": rt.kind}],
                }
            ref = f"#/components/schemas/{name}"
            prefix = f"{base}/namespaces/{{namespace}}" if rt.namespaced else base
            paths[f"{prefix}/{rt.plural}"] = {
                "get": _operation("list", rt, ref, ()),
                "post": _operation("post", rt, ref, ("dryRun", "fieldManager", "fieldValidation", "pretty")),
            }
            item = {
                "get": _operation("get", rt, ref, ()),
                "put": _operation("put", rt, ref, ("dryRun", "fieldManager", "fieldValidation", "pretty")),
                "patch": _operation("patch", rt, ref, _QUERY),
                "delete": _operation("delete", rt, ref, ("dryRun",)),
            }
            paths[f"{prefix}/{rt.plural}/{{name}}"] = item
            for sub in rt.subresources:
                if sub.name in ("status", "scale"):
                    paths[f"{prefix}/{rt.plural}/{{name}}/{sub.name}"] = {
                        "get": _operation("get", rt, ref, ()),
                        "patch": _operation("patch", rt, ref, _QUERY),
                        "put": _operation("put", rt, ref, ("dryRun", "fieldManager", "fieldValidation")),
                    }
        return {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": f"v1.{self.minor}.0"},
            "paths": paths,
            "components": {"schemas": components},
        }

    def root(self) -> JSON:
        """GET /openapi/v3: one entry per served group/version."""
        paths: JSON = {}
        for group, versions in self.registry.group_versions().items():
            for version in versions:
                doc = self.document(group, version)
                if doc is None:
                    continue
                key = f"apis/{group}/{version}" if group else f"api/{version}"
                paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={doc[1]}"}
        return {"paths": paths}
