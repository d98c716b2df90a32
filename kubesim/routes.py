"""Request paths to request info: verb, API group/version, resource, subresource, namespace, name.

The same decomposition kube-apiserver's RequestInfoFactory does, so the request log, fault matching
and RBAC comparisons speak in Kubernetes verbs (`list`, `watch`, `deletecollection`). Pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass
class RequestInfo:
    """What a request addresses."""

    method: str
    path: str
    is_resource: bool = False
    verb: str = ""
    api_prefix: str = ""
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    parts: tuple[str, ...] = ()

    @property
    def cluster_wide(self) -> bool:
        """True for a collection request across all namespaces (or a cluster-scoped resource)."""
        return not self.namespace


def parse(method: str, path: str, watch: bool) -> RequestInfo:
    """Decompose an HTTP method and path (watch is the `watch` query flag)."""
    info = RequestInfo(method=method, path=path)
    parts = tuple(p for p in path.strip("/").split("/") if p)
    if "%" in path:
        parts = tuple(unquote(p) for p in parts)
    info.parts = parts
    lower = method.upper()
    if not parts or parts[0] not in ("api", "apis"):
        info.verb = lower.lower()
        return info
    if parts[0] == "api":
        if len(parts) < 2:
            info.verb = "get"
            return info
        info.api_prefix, info.group, info.version, rest = "api", "", parts[1], parts[2:]
    else:
        if len(parts) < 3:
            info.verb = "get"
            info.group = parts[1] if len(parts) > 1 else ""
            return info
        info.api_prefix, info.group, info.version, rest = "apis", parts[1], parts[2], parts[3:]
    if not rest:
        info.verb = "get"
        return info
    info.is_resource = True
    if rest[0] == "namespaces" and len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
        info.namespace = rest[1]
        rest = rest[2:]
    info.resource = rest[0]
    if len(rest) > 1:
        info.name = rest[1]
    if len(rest) > 2:
        info.subresource = rest[2]
    if info.resource == "namespaces" and info.name:
        info.namespace = info.name
    match lower:
        case "GET" | "HEAD":
            info.verb = "get" if info.name else ("watch" if watch else "list")
        case "POST":
            info.verb = "create"
        case "PUT":
            info.verb = "update"
        case "PATCH":
            info.verb = "patch"
        case "DELETE":
            info.verb = "delete" if info.name else "deletecollection"
        case _:
            info.verb = lower.lower()
    return info
