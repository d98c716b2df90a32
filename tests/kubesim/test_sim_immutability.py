"""Stored objects are never mutated: writes share unchanged subtrees with them (copy-on-write).

Merge patches, status writes and metadata patches reuse the stored object's unchanged parts instead of
deep-copying them, pruning skips those parts, and managedFields documents are shared between objects
of one shape. Every one of these relies on no step of the write pipeline (pruning, defaulting, system
metadata, managedFields) changing a shared part in place. Here each kind of write runs against objects
whose every stored version is snapshotted first: a mutation of an earlier version (which watch history
and open watchers still hold) fails the test.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from simhelpers import WIDGET_CRD, job, widget

from kubesim import ApiError
from kubesim.meta import deep_copy


def _versions(sim: Any, group: str, plural: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every event object in the history of a resource, with a deep snapshot of it."""
    bucket = sim.runtime.store.bucket((group, plural))
    return [(event.obj, deep_copy(event.obj)) for event in bucket.history]


def _unchanged(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    for live, snapshot in pairs:
        assert live == snapshot, f"stored version {snapshot['metadata'].get('resourceVersion')} was mutated"


def test_writes_never_mutate_stored_versions(widgets: Any) -> None:
    sim = widgets
    sim.apply(job("j1", "run-forever", parallelism=1))
    sim.apply(widget("w1", "red"))
    sim.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1", "labels": {"a": "b"}}, "data": {"k": "v"}}
    )
    sim.settle()
    history = (
        _versions(sim, "batch", "jobs") + _versions(sim, "example.com", "widgets") + _versions(sim, "", "configmaps")
    )
    sim.patch("batch/v1", "Job", "default", "j1", {"status": {"active": 1}}, subresource="status")
    sim.patch("batch/v1", "Job", "default", "j1", {"metadata": {"annotations": {"x": "1"}}})
    sim.patch("batch/v1", "Job", "default", "j1", {"metadata": {"labels": {"team": "a"}}}, patch_type="strategic")
    sim.patch("example.com/v1", "Widget", "default", "w1", {"status": {"phase": "Ready"}}, subresource="status")
    sim.patch("example.com/v1", "Widget", "default", "w1", {"spec": {"size": 4}})
    sim.patch("example.com/v1", "Widget", "default", "w1", {"metadata": {"labels": {"l": "1"}}})
    sim.patch("v1", "ConfigMap", "default", "c1", {"data": {"k2": "v2"}})
    sim.patch("v1", "ConfigMap", "default", "c1", [{"op": "add", "path": "/data/k3", "value": "v3"}], patch_type="json")
    sim.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1"}, "data": {"k": "changed"}})
    sim.settle()
    _unchanged(history)
    newer = _versions(sim, "batch", "jobs") + _versions(sim, "example.com", "widgets")
    sim.patch("batch/v1", "Job", "default", "j1", {"status": {"active": 2}}, subresource="status")
    sim.patch("example.com/v1", "Widget", "default", "w1", {"status": {"phase": "Done"}}, subresource="status")
    sim.delete("v1", "ConfigMap", "default", "c1")
    sim.settle()
    _unchanged(newer)
    assert sim.get("example.com/v1", "Widget", "default", "w1")["status"] == {"phase": "Done"}
    assert sim.get("example.com/v1", "Widget", "default", "w1")["spec"]["size"] == 4


def test_objects_of_one_shape_share_field_ownership_documents_safely(kubesim: Any) -> None:
    for name in ("a", "b"):
        kubesim.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": name}})
    kubesim.patch("v1", "ConfigMap", "default", "a", {"data": {"extra": "1"}})
    a = kubesim.get("v1", "ConfigMap", "default", "a")
    b = kubesim.get("v1", "ConfigMap", "default", "b")
    fields_b = [e["fieldsV1"] for e in b["metadata"]["managedFields"]]
    assert fields_b == [{"f:data": {".": {}, "f:k": {}}}]
    owned_a = {key for e in a["metadata"]["managedFields"] for key in e["fieldsV1"].get("f:data", {})}
    assert owned_a == {".", "f:k", "f:extra"}


def test_a_changed_crd_schema_applies_to_unchanged_parts_again(widgets: Any) -> None:
    sim = widgets
    sim.apply(widget("w1", "red"))
    crd = yaml.safe_load(WIDGET_CRD)
    spec_schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec_schema["properties"]["shape"] = {"type": "string", "default": "round"}
    sim.apply(crd)
    # A status write leaves spec alone, but the new schema's default applies to it (as on any write).
    sim.patch("example.com/v1", "Widget", "default", "w1", {"status": {"phase": "Ready"}}, subresource="status")
    assert sim.get("example.com/v1", "Widget", "default", "w1")["spec"]["shape"] == "round"
    # Written after the schema: unchanged parts are trusted; changed parts are still checked.
    sim.patch("example.com/v1", "Widget", "default", "w1", {"status": {"phase": "Done"}}, subresource="status")
    with pytest.raises(ApiError) as refused:
        sim.patch("example.com/v1", "Widget", "default", "w1", {"spec": {"size": 11}})
    assert refused.value.code == 422
    got = sim.get("example.com/v1", "Widget", "default", "w1")
    assert got["spec"] == {"color": "red", "size": 3, "replicas": 1, "shape": "round"}
    assert got["status"] == {"phase": "Done"}
