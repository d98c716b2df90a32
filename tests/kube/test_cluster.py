"""HttpCluster: the executor's Cluster protocol over HTTP, with kinds mapped through discovery."""

from __future__ import annotations

import pytest

from engine.core.cluster import Cluster
from engine.errors import ApiError
from engine.kube.client import KubeClient
from engine.kube.cluster import HttpCluster
from engine.kube.mapper import KindNotFoundError, RESTMapper
from engine.model import ObjectRef, PatchType, Propagation

from .fakeapi import JOBS, FakeApi


def cluster_of(client: KubeClient) -> Cluster:
    return HttpCluster(client, RESTMapper(client), default_namespace="team")


async def test_create_get_patch_delete_round_trip(api: FakeApi, client: KubeClient) -> None:
    """Create lands in the default namespace when none is given; get, status patch and delete (with its
    propagation policy and uid precondition) address the same object; get of a missing object is None."""
    cluster = cluster_of(client)
    created = await cluster.create({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {}})
    assert api.requests[-1].path == "/apis/batch/v1/namespaces/team/jobs"
    ref = ObjectRef.of_object(created)
    assert (await cluster.read(ref) or {})["metadata"]["uid"] == ref.uid
    patched = await cluster.patch(ref, {"status": {"active": 1}}, PatchType.MERGE, "status")
    assert patched["status"] == {"active": 1}
    assert api.requests[-1].path == "/apis/batch/v1/namespaces/team/jobs/j/status"
    await cluster.delete(ref, Propagation.BACKGROUND)
    assert api.requests[-1].body["propagationPolicy"] == "Background"
    assert api.requests[-1].body["preconditions"] == {"uid": ref.uid}
    assert await cluster.read(ref) is None


async def test_errors_are_api_errors(api: FakeApi, client: KubeClient) -> None:
    """A conflict is an ApiError 409; a kind the server does not serve is a KindNotFoundError 404."""
    cluster = cluster_of(client)
    api.add(JOBS, {"metadata": {"name": "j", "namespace": "team"}})
    with pytest.raises(ApiError, match=r"^409 AlreadyExists: j already exists$"):
        await cluster.create({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "team"}})
    with pytest.raises(KindNotFoundError, match=r"no resource serves kind example\.com/v9/Nope"):
        await cluster.read(ObjectRef("example.com/v9", "Nope", "team", "x"))
