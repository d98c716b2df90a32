"""The kube layer against kubesim, a spec-faithful API server: TLS with a CA from kubeconfig, bearer tokens,
discovery, managedFields, real watch semantics, and its fault knobs (compaction, restart, token rotation)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.kube.cache import EventKind
from engine.kube.client import KubeClient
from engine.kube.cluster import HttpCluster
from engine.kube.config import load_settings
from engine.kube.informer import Informer, InformerOptions
from engine.kube.mapper import RESTMapper
from engine.model import GVK, Obj, ObjectRef, PatchType, Propagation
from kubesim.server import KubeSim
from kubesim.testing import kubesim, kubesim_factory  # noqa: F401 (fixtures)

from .fakeapi import eventually

CONFIGMAP = GVK("", "v1", "ConfigMap")


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": data}


@pytest.fixture
async def client(kubesim: KubeSim) -> AsyncIterator[KubeClient]:  # noqa: F811
    async with KubeClient(load_settings(str(kubesim.kubeconfig_path), environ={})) as c:
        yield c


class Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def __call__(self, kind: EventKind, old: Obj | None, new: Obj | None) -> None:
        obj = new if new is not None else old
        assert obj is not None
        self.events.append((kind.value, obj["metadata"]["name"]))


async def informer_on(client: KubeClient, **options: Any) -> tuple[Informer, Log]:
    rt = await RESTMapper(client).resource_for(CONFIGMAP)
    log = Log()
    informer = Informer(client, InformerOptions(rt, namespace="default", **options), log)
    informer.start()
    await asyncio.wait_for(informer.synced.wait(), 5)
    return informer, log


async def test_cluster_writes_over_tls_with_discovery(kubesim: KubeSim, client: KubeClient) -> None:  # noqa: F811
    """HttpCluster creates, reads, patches and deletes through discovery over TLS with the kubeconfig's token."""
    cluster = HttpCluster(client, RESTMapper(client))
    created = await cluster.create(configmap("c1", a="1"))
    ref = ObjectRef.of_object(created)
    patched = await cluster.patch(ref, [{"op": "add", "path": "/data/b", "value": "2"}], PatchType.JSON)
    assert patched["data"] == {"a": "1", "b": "2"}
    await cluster.delete(ref, Propagation.BACKGROUND)
    assert await cluster.read(ref) is None
    assert kubesim.get("v1", "ConfigMap", "default", "c1") is None


async def test_informer_caches_stripped_objects_and_follows_changes(kubesim: KubeSim, client: KubeClient) -> None:  # noqa: F811
    """The initial list and live events land in the cache without managedFields; deletes leave it."""
    kubesim.apply(configmap("before", x="1"))
    informer, log = await informer_on(client)
    cached = informer.cache.get("default", "before")
    assert cached is not None
    assert "managedFields" not in cached["metadata"]
    kubesim.apply(configmap("after", y="2"))
    kubesim.patch("v1", "ConfigMap", "default", "before", {"data": {"x": "3"}})
    kubesim.delete("v1", "ConfigMap", "default", "after")
    await eventually(lambda: len(log.events) == 4)
    assert log.events == [("ADDED", "before"), ("ADDED", "after"), ("MODIFIED", "before"), ("DELETED", "after")]
    assert (informer.cache.get("default", "before") or {})["data"] == {"x": "3"}
    await informer.stop()


def lists_and_watches(sim: KubeSim) -> tuple[int, int]:
    """How many LISTs and WATCHes of configmaps the server has seen."""
    requests = sim.requests
    return len(requests.filter(verb="list", resource="configmaps")), len(
        requests.filter(verb="watch", resource="configmaps")
    )


async def test_compaction_relists_once_and_restart_does_not(kubesim: KubeSim, client: KubeClient) -> None:  # noqa: F811
    """After compaction and a dropped watch the informer relists once (with a synthetic delete); after a
    server restart it resumes the watch from its last resourceVersion with no relist."""
    kubesim.apply(configmap("stays"))
    kubesim.apply(configmap("goes"))
    informer, log = await informer_on(client)
    await eventually(lambda: lists_and_watches(kubesim)[1] == 1)
    kubesim.faults.stall_watches(resource="configmaps")
    kubesim.delete("v1", "ConfigMap", "default", "goes")
    kubesim.faults.compact()
    kubesim.faults.clear()
    kubesim.faults.drop_watches(resource="configmaps")
    await eventually(lambda: ("DELETED", "goes") in log.events, timeout=5)
    assert lists_and_watches(kubesim)[0] == 2
    kubesim.faults.restart(down_for=0.2)
    kubesim.wait_until_serving()
    kubesim.apply(configmap("new"))
    await eventually(lambda: ("ADDED", "new") in log.events, timeout=8)
    assert lists_and_watches(kubesim)[0] == 2
    await informer.stop()


async def test_token_rotation_through_a_token_file(kubesim: KubeSim, tmp_path: Path) -> None:  # noqa: F811
    """With a kubeconfig whose user reads a token file, rotating the server's token and the file recovers
    the watch without a restart or a relist."""
    config = yaml.safe_load(kubesim.kubeconfig_path.read_text())
    token_file = tmp_path / "token"
    token_file.write_text(kubesim.token)
    config["users"][0]["user"] = {"tokenFile": str(token_file)}
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    async with KubeClient(load_settings(str(path), environ={})) as client:
        informer, log = await informer_on(client)
        await eventually(lambda: lists_and_watches(kubesim)[1] == 1)
        token_file.write_text(kubesim.faults.rotate_token())
        kubesim.faults.drop_watches(resource="configmaps")
        kubesim.apply(configmap("seen"))
        await eventually(lambda: ("ADDED", "seen") in log.events, timeout=8)
        assert lists_and_watches(kubesim)[0] == 1
        await informer.stop()
