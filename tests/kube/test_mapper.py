"""RESTMapper: kinds to resources through discovery, cached, refreshed on a miss, and 'not served' as 404."""

from __future__ import annotations

import pytest

from engine.kube.client import KubeClient
from engine.kube.mapper import KindNotFoundError, RESTMapper
from engine.kube.timing import ManualClock
from engine.model import GVK, ResourceType

from .fakeapi import CONFIGMAPS, JOBS, NAMESPACES, FakeApi

GADGETS = ResourceType(GVK("example.com", "v2", "Gadget"), "gadgets", False)


async def test_discovery_maps_core_and_group_kinds_once_per_group_version(api: FakeApi, client: KubeClient) -> None:
    """Plural and scope come from /api/v1 and /apis/g/v, each fetched once; subresources are skipped."""
    mapper = RESTMapper(client)
    assert await mapper.resource_for(JOBS.gvk) == JOBS
    assert await mapper.resource_for(CONFIGMAPS.gvk) == CONFIGMAPS
    assert await mapper.resource_for(NAMESPACES.gvk) == NAMESPACES
    assert await mapper.resource_for(JOBS.gvk) == JOBS
    assert [r.path for r in api.requests] == ["/apis/batch/v1", "/api/v1"]


async def test_a_kind_that_appears_at_runtime_is_found_after_the_miss_ttl(api: FakeApi, client: KubeClient) -> None:
    """A miss is remembered for `miss_ttl` (no discovery storm), then discovery is asked again and finds a
    kind whose CRD was created meanwhile."""
    clock = ManualClock()
    mapper = RESTMapper(client, miss_ttl=5.0, clock=clock)
    with pytest.raises(
        KindNotFoundError,
        match=r"^404 NotFound: no resource serves kind example.com/v2/Gadget: "
        r"group-version example.com/v2 is not served$",
    ):
        await mapper.resource_for(GADGETS.gvk)
    api.resources[("example.com", "v2", "gadgets")] = GADGETS
    with pytest.raises(KindNotFoundError):
        await mapper.resource_for(GADGETS.gvk)
    assert len(api.requests) == 1
    await clock.advance(5.0)
    assert await mapper.resource_for(GADGETS.gvk) == GADGETS
    assert len(api.requests) == 2


async def test_unknown_kind_in_a_served_group_version(client: KubeClient) -> None:
    """A group-version that exists but lacks the kind says so."""
    mapper = RESTMapper(client)
    with pytest.raises(KindNotFoundError, match=r"group-version batch/v1 has no kind CronThing$") as caught:
        await mapper.resource_for(GVK("batch", "v1", "CronThing"))
    assert caught.value.status == 404


async def test_invalidate_and_register(api: FakeApi, client: KubeClient) -> None:
    """invalidate() forces the next lookup to ask again; register() answers without discovery."""
    mapper = RESTMapper(client)
    await mapper.resource_for(JOBS.gvk)
    mapper.invalidate("batch/v1")
    await mapper.resource_for(JOBS.gvk)
    mapper.register(GADGETS)
    assert await mapper.resource_for(GADGETS.gvk) == GADGETS
    assert mapper.cached(GADGETS.gvk) == GADGETS
    assert len(api.requests) == 2
