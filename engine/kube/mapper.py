"""REST mapping: which resource (plural, scope) serves a kind, learnt from API discovery.

Where this sits: between the kinds the rules name (GVKs) and the REST paths the client, the informers and
`HttpCluster` use. One discovery document per group-version (`/api/v1`, `/apis/GROUP/VERSION`), fetched on
first use and cached. Custom resources appear at runtime, so a miss re-reads that group-version's document
(at most once per `miss_ttl` seconds, so a rule naming a kind that does not exist does not hammer
discovery); `invalidate()` forces it, e.g. when the caller sees a CustomResourceDefinition appear.

What it does not do: no aggregated discovery (`/apis` with the v2 Accept header): one small document per
group-version the rules use is cheaper than the whole cluster's. No short names, no preferred versions.
"""

from __future__ import annotations

import asyncio
from typing import Any

from engine.errors import ApiError
from engine.kube.client import KubeClient
from engine.kube.rest import Verb
from engine.kube.timing import SYSTEM_CLOCK, Clock
from engine.model import GVK, ResourceType


class KindNotFoundError(ApiError):
    """The API server serves no resource for this kind (its group-version or the kind itself is missing)."""

    def __init__(self, gvk: GVK, detail: str) -> None:
        super().__init__(404, "NotFound", f"no resource serves kind {gvk}: {detail}")
        self.gvk = gvk


class RESTMapper:
    """GVK → `ResourceType` through discovery, cached per group-version."""

    def __init__(self, client: KubeClient, *, miss_ttl: float = 5.0, clock: Clock = SYSTEM_CLOCK) -> None:
        self._client = client
        self._miss_ttl = miss_ttl
        self._clock = clock
        self._by_gv: dict[str, dict[str, ResourceType]] = {}
        self._fetched_at: dict[str, float] = {}
        self._static: dict[GVK, ResourceType] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def register(self, rt: ResourceType) -> None:
        """Declare a mapping without discovery (a kind whose plural the caller already knows)."""
        self._static[rt.gvk] = rt

    def invalidate(self, group_version: str | None = None) -> None:
        """Forget one group-version's document (or all): the next lookup fetches it again."""
        if group_version is None:
            self._by_gv.clear()
            self._fetched_at.clear()
        else:
            self._by_gv.pop(group_version, None)
            self._fetched_at.pop(group_version, None)

    def cached(self, gvk: GVK) -> ResourceType | None:
        """The mapping if known now, without I/O."""
        return self._static.get(gvk) or self._by_gv.get(gvk.api_version, {}).get(gvk.kind)

    async def resource_for(self, gvk: GVK) -> ResourceType:
        """The resource serving `gvk`. Raises `KindNotFoundError` (404) when the server has none, or the
        discovery request's `ApiError` when the server could not be asked."""
        found = self.cached(gvk)
        if found is not None:
            return found
        gv = gvk.api_version
        lock = self._locks.setdefault(gv, asyncio.Lock())
        async with lock:
            fetched = self._fetched_at.get(gv)
            if fetched is None or self._clock.monotonic() - fetched >= self._miss_ttl:
                await self._fetch(gv)
        found = self.cached(gvk)
        if found is not None:
            return found
        if gv not in self._by_gv:
            raise KindNotFoundError(gvk, f"group-version {gv} is not served")
        raise KindNotFoundError(gvk, f"group-version {gv} has no kind {gvk.kind}")

    async def _fetch(self, gv: str) -> None:
        path = f"/apis/{gv}" if "/" in gv else f"/api/{gv}"
        try:
            document = await self._client.request("GET", path, verb=Verb.GET)
        except ApiError as exc:
            if exc.status != 404:
                raise
            document = None
        self._fetched_at[gv] = self._clock.monotonic()
        if document is None:
            self._by_gv.pop(gv, None)
        else:
            self._by_gv[gv] = _parse(gv, document)


def _parse(gv: str, document: Any) -> dict[str, ResourceType]:
    """Kind → resource from an APIResourceList; subresources (`jobs/status`) are skipped."""
    group, _, version = gv.rpartition("/")
    kinds: dict[str, ResourceType] = {}
    for resource in (document or {}).get("resources") or []:
        name = str(resource.get("name") or "")
        kind = str(resource.get("kind") or "")
        if not name or not kind or "/" in name:
            continue
        kinds.setdefault(kind, ResourceType(GVK(group, version, kind), name, bool(resource.get("namespaced"))))
    return kinds
