"""The in-memory cluster's additions for fixtures: CRD scope, pruning and defaulting, merge, the journal, and
that a stored object never changes once stored (later writes make new objects that share the untouched parts)."""

from __future__ import annotations

import asyncio
import copy

import pytest
import yaml

from engine.errors import ApiError
from engine.model import GVK, ObjectRef, PatchType, Propagation
from engine.testing.memory import MemoryCluster
from engine.testing.structural import admit, crd_kinds

from .helpers import CRDS

WIDGET = GVK("example.dev", "v1", "Widget")
FLEET = GVK("example.dev", "v1", "Fleet")


@pytest.fixture
def cluster() -> MemoryCluster:
    memory = MemoryCluster(lambda: "2026-01-01T00:00:00Z")
    for crd in yaml.safe_load_all(CRDS.read_text()):
        memory.learn(crd)
    return memory


def widget(**spec: object) -> dict[str, object]:
    return {"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "n"}, "spec": spec}


def test_crd_kinds_give_scope_and_schema_per_version() -> None:
    """A CRD declares one kind per version, with its scope and its structural schema."""
    kinds = [kind for crd in yaml.safe_load_all(CRDS.read_text()) for kind in crd_kinds(crd)]
    assert [(k.gvk, k.namespaced, k.schema is not None) for k in kinds] == [(WIDGET, True, True), (FLEET, False, True)]


def test_a_cluster_scoped_object_loses_its_namespace(cluster: MemoryCluster) -> None:
    """Like the API server, the cluster drops metadata.namespace of a cluster-scoped kind it knows from a CRD
    (and defaults apply inside objects that are there: `spec: {}` gets its `size`)."""
    fleet = {"apiVersion": "example.dev/v1", "kind": "Fleet", "metadata": {"name": "f", "namespace": "x"}, "spec": {}}
    stored = cluster.put(fleet)
    assert "namespace" not in stored["metadata"]
    assert cluster.get(FLEET, "anything", "f") is stored
    assert stored["spec"] == {"size": 3}


def test_create_prunes_unknown_fields_and_applies_defaults(cluster: MemoryCluster) -> None:
    """Unknown fields go, preserved subtrees stay, defaults fill absent fields; status is pruned by its schema too."""
    created = asyncio.run(cluster.create(widget(image="i", bogus=1, extra={"anything": {"goes": True}})))
    assert created["spec"] == {"image": "i", "extra": {"anything": {"goes": True}}, "paused": False, "replicas": 1}


def test_patches_are_admitted_and_never_change_the_stored_object(cluster: MemoryCluster) -> None:
    """A patch stores a new object (pruned, defaulted); the object read before the patch is unchanged."""
    before = cluster.put(widget(image="i"))
    snapshot = copy.deepcopy(before)
    ref = ObjectRef.of_object(before)
    after = asyncio.run(cluster.patch(ref, {"spec": {"paused": None, "bogus": 2}}, PatchType.MERGE))
    assert after["spec"] == {"image": "i", "replicas": 1, "paused": False}
    asyncio.run(cluster.patch(ref, {"status": {"phase": "A"}}, PatchType.MERGE, "status"))
    assert before == snapshot
    assert cluster.get(WIDGET, "n", "w")["status"] == {"phase": "A"}  # type: ignore[index]


def test_merge_writes_status_too_and_404s_on_absent_objects(cluster: MemoryCluster) -> None:
    """`merge` (a fixture's patch step) patches the whole object, status included; a missing object is a 404."""
    stored = cluster.put(widget(image="i"))
    merged = cluster.merge(ObjectRef.of_object(stored), {"spec": {"tier": "t"}, "status": {"phase": "B"}})
    assert (merged["spec"]["tier"], merged["status"], merged["metadata"]["generation"]) == ("t", {"phase": "B"}, 2)
    with pytest.raises(ApiError) as caught:
        cluster.merge(ObjectRef("example.dev/v1", "Widget", "n", "nope"), {})
    assert caught.value.status == 404


def test_put_keeps_the_status_when_asked_and_none_is_given(cluster: MemoryCluster) -> None:
    """`keep_status` keeps the stored status when the new object has none (kubectl apply); a given status wins."""
    cluster.put({**widget(image="i"), "status": {"phase": "A"}})
    assert cluster.put(widget(image="j"), keep_status=True)["status"] == {"phase": "A"}
    assert cluster.put({**widget(image="k"), "status": {"phase": "B"}}, keep_status=True)["status"] == {"phase": "B"}
    assert "status" not in cluster.put(widget(image="l"))


def test_the_journal_records_every_change_with_garbage_collection(cluster: MemoryCluster) -> None:
    """Creates, patches and deletes are journalled, including objects deleted or updated by garbage collection."""
    owner = cluster.put(widget(image="i"))
    second = cluster.put({**widget(image="i"), "metadata": {"name": "w2", "namespace": "n"}})
    reference = {"apiVersion": "example.dev/v1", "kind": "Widget", "controller": True}
    owned_by_one = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "a", "namespace": "n", "ownerReferences": [{**reference, "name": "w", "uid": owner["metadata"]["uid"]}]}}  # fmt: skip
    owned_by_both = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": "n", "ownerReferences": [
        {**reference, "name": "w", "uid": owner["metadata"]["uid"]}, {**reference, "name": "w2", "uid": second["metadata"]["uid"]}]}}  # fmt: skip
    asyncio.run(cluster.create(owned_by_one))
    asyncio.run(cluster.create(owned_by_both))
    start = len(cluster.journal)
    asyncio.run(cluster.delete(ObjectRef.of_object(owner), Propagation.BACKGROUND))
    changes = [(w.verb, w.obj["metadata"]["name"]) for w in cluster.journal[start:]]
    assert changes == [("delete", "w"), ("delete", "a"), ("update", "b")]
    kept = cluster.get(GVK("", "v1", "ConfigMap"), "n", "b")
    assert [r["name"] for r in kept["metadata"]["ownerReferences"]] == ["w2"]  # type: ignore[index]


def test_admit_without_properties_keeps_everything() -> None:
    """An object schema without `type` or properties keeps what it holds; a typed one without properties drops it."""
    loose = {"a": {"b": 1}}
    admit(loose, {"properties": {"a": {}}})
    assert loose == {"a": {"b": 1}}
    strict = {"a": {"b": 1}}
    admit(strict, {"type": "object", "properties": {"a": {"type": "object"}}})
    assert strict == {"a": {}}
