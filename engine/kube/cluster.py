"""`HttpCluster`: the executor's `engine.core.cluster.Cluster` over HTTP, through `KubeClient` and `RESTMapper`.

Where this sits: under the executor (engine.core), which decides what to write; this module only maps a
kind to its REST path (discovery) and sends the write. Rate limiting, Retry-After and retries are the
client's; errors arrive as `engine.errors.ApiError` (status 0 when no answer came).

What it does not do: no create-or-adopt, no conflict retries, no no-op suppression: those are decisions
the executor makes from the `ApiError` it gets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.errors import ApiError
from engine.kube.client import KubeClient
from engine.kube.mapper import RESTMapper
from engine.model import GVK, JSON, Obj, ObjectRef, PatchType, Propagation, ResourceType


class HttpCluster:
    """Implements `engine.core.cluster.Cluster`. `default_namespace` is used for namespaced objects that
    name none (the kubeconfig context's namespace, or the pod's)."""

    def __init__(self, client: KubeClient, mapper: RESTMapper, *, default_namespace: str = "default") -> None:
        self._client = client
        self._mapper = mapper
        self._default_namespace = default_namespace

    async def _resolve(self, gvk: GVK, namespace: str) -> tuple[ResourceType, str]:
        rt = await self._mapper.resource_for(gvk)
        if not rt.namespaced:
            return rt, ""
        return rt, namespace or self._default_namespace

    async def create(self, obj: Obj) -> Obj:
        rt, namespace = await self._resolve(GVK.of_object(obj), str((obj.get("metadata") or {}).get("namespace") or ""))
        return await self._client.create(rt, namespace, obj)

    async def patch(self, ref: ObjectRef, patch: JSON, patch_type: PatchType, subresource: str = "") -> Obj:
        rt, namespace = await self._resolve(ref.gvk, ref.namespace)
        return await self._client.patch(rt, namespace, ref.name, patch, patch_type, subresource=subresource)

    async def delete(self, ref: ObjectRef, propagation: Propagation) -> None:
        rt, namespace = await self._resolve(ref.gvk, ref.namespace)
        await self._client.delete(rt, namespace, ref.name, propagation=propagation, uid=ref.uid)

    async def read(self, ref: ObjectRef) -> Obj | None:
        rt, namespace = await self._resolve(ref.gvk, ref.namespace)
        try:
            return await self._client.get(rt, namespace, ref.name)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise


if TYPE_CHECKING:
    from engine.core.cluster import Cluster

    def _is_a_cluster(cluster: HttpCluster) -> Cluster:
        """mypy checks here that HttpCluster keeps matching the protocol the executor writes through."""
        return cluster
