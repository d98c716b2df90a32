"""InformerSet: informers started and stopped at runtime, read together as one ObjectStore, with readiness."""

from __future__ import annotations

import asyncio

import pytest

from engine.core.store import ObjectStore
from engine.kube.client import KubeClient
from engine.kube.informer import InformerKey, InformerOptions
from engine.kube.registry import InformerSet
from engine.kube.timing import ManualClock
from engine.model import GVK

from .fakeapi import CONFIGMAPS, JOBS, FakeApi, Fault, eventually


async def test_informers_serve_one_store_and_stop_at_runtime(api: FakeApi, client: KubeClient) -> None:
    """Two kinds (one in two namespace scopes) answer get/list together; stopping one drops its objects."""
    api.add(JOBS, {"metadata": {"name": "j", "namespace": "a"}})
    api.add(JOBS, {"metadata": {"name": "k", "namespace": "b"}})
    api.add(CONFIGMAPS, {"metadata": {"name": "c", "namespace": "a"}})
    informers = InformerSet(client)
    informers.start(InformerOptions(JOBS, namespace="a"))
    informers.start(InformerOptions(JOBS, namespace="b"))
    informers.start(InformerOptions(CONFIGMAPS))
    assert await informers.wait_synced(2)
    store: ObjectStore = informers
    assert sorted(o["metadata"]["name"] for o in store.list(JOBS.gvk)) == ["j", "k"]
    assert store.get(CONFIGMAPS.gvk, "a", "c") is not None
    await informers.stop(InformerKey(JOBS.gvk, "b"))
    assert [o["metadata"]["name"] for o in store.list(JOBS.gvk)] == ["j"]
    assert len(informers) == 2
    await informers.stop_all()
    assert store.list(JOBS.gvk) == []
    await eventually(lambda: not api.watchers)


async def test_starting_the_same_informer_twice_is_refused(client: KubeClient) -> None:
    """One informer per key: a second start says which key is taken."""
    informers = InformerSet(client)
    informers.start(InformerOptions(JOBS, label_selector="app=x"))
    with pytest.raises(
        ValueError, match=r"^an informer for batch/v1/Job in all namespaces \[app=x\] is already running$"
    ):
        informers.start(InformerOptions(JOBS, label_selector="app=x"))
    await informers.stop_all()


async def test_unsynced_names_what_is_not_ready(api: FakeApi, client: KubeClient) -> None:
    """Readiness sees which informers have not completed their first list; wait_synced times out on them."""
    api.faults.append(Fault(status=500, watch=False, path="/configmaps", times=100))
    informers = InformerSet(client, clock=ManualClock())
    informers.start(InformerOptions(JOBS))
    informers.start(InformerOptions(CONFIGMAPS))
    assert not await informers.wait_synced(0.3)
    await eventually(lambda: len(informers.unsynced()) == 1)
    assert informers.unsynced() == ["v1/ConfigMap in all namespaces: backing_off"]
    await informers.stop_all()
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("informer ")]


async def test_behind_names_kinds_whose_watch_is_down(api: FakeApi, client: KubeClient) -> None:
    """A kind is behind while one of its informers backs off after failing watches (its cache can lag without bound), not while every one of them watches; a kind without informers is never behind."""
    api.faults.append(Fault(status=503, watch=True, path="/configmaps", times=100))
    informers = InformerSet(client, clock=ManualClock())
    informers.start(InformerOptions(JOBS))
    informers.start(InformerOptions(CONFIGMAPS, namespace="a"))
    informers.start(InformerOptions(CONFIGMAPS, namespace="b", label_selector="app=x"))
    await eventually(lambda: informers.behind(CONFIGMAPS.gvk))
    await eventually(lambda: not informers.behind(JOBS.gvk))
    assert not informers.behind(GVK("example.com", "v1", "Unwatched"))
    await informers.stop_all()
