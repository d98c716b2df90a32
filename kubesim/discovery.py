"""Discovery documents: /version, legacy (/api, /apis, /api/v1, /apis/g/v) and aggregated (v2, v2beta1).

Built from the registry, so CRDs appear and disappear at once; results are cached per registry
generation. Aggregated discovery is answered only when the Accept header asks for it, with the exact
Content-Type kubectl checks (`application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`).
"""

from __future__ import annotations

import platform
from typing import Any

from kubesim.meta import JSON
from kubesim.resources import Registry, ResourceType

AGGREGATED_TYPES = {
    "v2": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
    "v2beta1": "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList",
}


def version_info(minor: str) -> JSON:
    """The /version document of a 1.<minor> server."""
    return {
        "major": "1",
        "minor": minor,
        "gitVersion": f"v1.{minor}.0-kubesim",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-12-11T00:00:00Z",
        "goVersion": "go1.23.4",
        "compiler": "gc",
        "platform": f"{platform.system().lower()}/amd64",
    }


def parse_accept(accept: str) -> list[tuple[str, dict[str, str]]]:
    """An Accept header as (media type, parameters) pairs, in order."""
    out = []
    for part in accept.split(","):
        pieces = [p.strip() for p in part.split(";")]
        params = {}
        for piece in pieces[1:]:
            key, _, value = piece.partition("=")
            params[key.strip()] = value.strip()
        out.append((pieces[0].lower(), params))
    return out


def wants_aggregated(accept: str) -> str | None:
    """`v2` or `v2beta1` when the Accept header asks for aggregated discovery, else None."""
    for _media, params in parse_accept(accept):
        aggregated = params.get("as") == "APIGroupDiscoveryList" and params.get("g") == "apidiscovery.k8s.io"
        if aggregated and params.get("v") in AGGREGATED_TYPES:
            return params["v"]
    return None


class Discovery:
    """Discovery documents over a registry, cached by registry generation."""

    def __init__(self, registry: Registry, server_address: str = "") -> None:
        self.registry = registry
        self.server_address = server_address
        self._cache: dict[Any, JSON] = {}
        self._generation = -1

    def _cached(self, key: Any, build: Any) -> JSON:
        if self._generation != self.registry.generation:
            self._cache.clear()
            self._generation = self.registry.generation
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def api_versions(self) -> JSON:
        """GET /api."""
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": self.server_address}],
        }

    def api_groups(self) -> JSON:
        """GET /apis (legacy form)."""
        return self._cached("groups", self._build_groups)

    def _build_groups(self) -> JSON:
        groups = []
        for group, versions in self.registry.group_versions().items():
            if not group:
                continue
            entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
            groups.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def api_group(self, group: str) -> JSON | None:
        """GET /apis/<group>."""
        for entry in self.api_groups()["groups"]:
            if entry["name"] == group:
                return {"kind": "APIGroup", "apiVersion": "v1", **entry}
        return None

    def resource_list(self, group: str, version: str) -> JSON | None:
        """GET /api/v1 or /apis/<group>/<version>, or None when not served."""
        return self._cached(("list", group, version), lambda: self._build_list(group, version))

    def _build_list(self, group: str, version: str) -> JSON | None:
        types = self.registry.in_group_version(group, version)
        if not types:
            return None
        resources: list[JSON] = []
        for rt in sorted(types, key=lambda t: t.plural):
            entry: JSON = {
                "name": rt.plural,
                "singularName": rt.singular,
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": list(rt.verbs),
            }
            if rt.short_names:
                entry["shortNames"] = list(rt.short_names)
            if rt.categories:
                entry["categories"] = list(rt.categories)
            entry["storageVersionHash"] = rt.storage_version_hash
            resources.append(entry)
            for sub in rt.subresources:
                sub_entry: JSON = {
                    "name": f"{rt.plural}/{sub.name}",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "kind": sub.kind,
                    "verbs": list(sub.verbs),
                }
                if sub.group:
                    sub_entry["group"], sub_entry["version"] = sub.group, sub.version
                resources.append(sub_entry)
        group_version = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}

    def aggregated(self, core: bool, which: str) -> JSON:
        """GET /api or /apis with an aggregated-discovery Accept (`which` is v2 or v2beta1)."""
        return self._cached(("agg", core, which), lambda: self._build_aggregated(core, which))

    def _build_aggregated(self, core: bool, which: str) -> JSON:
        items = []
        for group, versions in self.registry.group_versions().items():
            if (group == "") != core:
                continue
            version_docs = []
            for version in versions:
                types = sorted(self.registry.in_group_version(group, version), key=lambda t: t.plural)
                version_docs.append(
                    {
                        "version": version,
                        "resources": [_aggregated_resource(rt) for rt in types],
                        "freshness": "Current",
                    }
                )
            items.append({"metadata": {"name": group, "creationTimestamp": None}, "versions": version_docs})
        return {
            "kind": "APIGroupDiscoveryList",
            "apiVersion": f"apidiscovery.k8s.io/{which}",
            "metadata": {},
            "items": items,
        }


def _aggregated_resource(rt: ResourceType) -> JSON:
    doc: JSON = {
        "resource": rt.plural,
        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        doc["shortNames"] = list(rt.short_names)
    if rt.categories:
        doc["categories"] = list(rt.categories)
    if rt.subresources:
        doc["subresources"] = [
            {
                "subresource": sub.name,
                "responseKind": {
                    "group": sub.group or rt.group,
                    "version": sub.version or rt.version,
                    "kind": sub.kind,
                },
                "verbs": list(sub.verbs),
            }
            for sub in rt.subresources
        ]
    return doc
