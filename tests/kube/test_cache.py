"""Caches: replace semantics, the namespace index, projections, and the union of caches as one ObjectStore."""

from __future__ import annotations

import re
import sys
from typing import Any

import orjson
import pytest

from engine.core.store import ObjectStore
from engine.kube.cache import HOT, CacheRegistry, EventKind, ObjectCache, drop_paths, encode, strip
from engine.model import GVK

JOB = GVK("batch", "v1", "Job")


def obj(name: str, namespace: str = "ns", rv: str = "1") -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": rv},
    }


def test_replace_reports_added_modified_and_synthetic_deleted() -> None:
    """Replace swaps the whole state and reports vanished keys as DELETED, RV changes as MODIFIED, new keys as
    ADDED; an unchanged RV is not a change."""
    cache = ObjectCache(JOB)
    cache.replace([obj("same"), obj("changed"), obj("gone", "other")])
    changes = cache.replace([obj("same"), obj("changed", rv="2"), obj("new")])
    summary = [(kind, (old or new or {})["metadata"]["name"]) for kind, old, new in changes]
    assert summary == [(EventKind.DELETED, "gone"), (EventKind.MODIFIED, "changed"), (EventKind.ADDED, "new")]
    assert len(cache) == 3
    assert cache.get("other", "gone") is None


def test_list_by_namespace_reads_only_that_namespace() -> None:
    """The namespace index answers one namespace without scanning the others; None lists everything."""
    cache = ObjectCache(JOB)
    for i in range(3):
        cache.upsert(obj(f"a{i}", "a"))
    cache.upsert(obj("b0", "b"))
    assert [o["metadata"]["name"] for o in cache.list("b")] == ["b0"]
    assert len(cache.list()) == 4
    assert cache.list("missing") == []
    assert cache.remove("b", "b0") is not None
    assert cache.remove("b", "b0") is None
    assert len(cache) == 3


def test_upsert_returns_the_replaced_object() -> None:
    """upsert returns the previous version so the informer can say ADDED or MODIFIED."""
    cache = ObjectCache(JOB)
    first = obj("a")
    assert cache.upsert(first) is None
    assert cache.upsert(obj("a", rv="2")) == first
    assert len(cache) == 1


def test_put_returns_the_replaced_object_as_json() -> None:
    """put stores like upsert but returns what it replaced unparsed (None when the object is new)."""
    cache = ObjectCache(JOB)
    first = obj("a")
    assert cache.put(first) is None
    assert cache.put(obj("a", rv="2")) == encode(first)
    assert cache.get("ns", "a") == obj("a", rv="2")
    assert len(cache) == 1


def test_strip_drops_managed_fields_and_last_applied_only() -> None:
    """strip removes managedFields and kubectl's last-applied annotation and nothing else."""
    o = obj("a")
    o["metadata"]["managedFields"] = [{"manager": "x"}]
    o["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{}", "k": "v"}
    strip(o)
    assert o["metadata"] == {"name": "a", "namespace": "ns", "resourceVersion": "1", "annotations": {"k": "v"}}


def test_drop_paths_handles_missing_parts_and_lists() -> None:
    """Paths that do not exist in an object are ignored; [*] walks every list item."""
    project = drop_paths(["status.conditions[*].message", "spec.missing.deeper", "spec.template"])
    o = {"spec": {"template": {}, "x": 1}, "status": {"conditions": [{"message": "m", "type": "A"}, "odd"]}}
    assert project(o) == {"spec": {"x": 1}, "status": {"conditions": [{"type": "A"}, "odd"]}}


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("spec..x", "projection path 'spec..x': cannot read '..x' (at offset 4)"),
        ("spec.items[*]", "projection path 'spec.items[*]': must end with a field name"),
        ("", "projection path '': must end with a field name"),
    ],
)
def test_drop_paths_rejects_bad_paths(path: str, message: str) -> None:
    """A path that cannot be read is refused when compiled, with where it failed."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        drop_paths([path])


def test_registry_is_an_object_store_across_caches() -> None:
    """Two caches of one kind (two namespace scopes) and one of another answer as one store; a key present in
    both is listed once; detaching a cache removes its objects from the store."""
    a, b, other = ObjectCache(JOB), ObjectCache(JOB), ObjectCache(GVK("", "v1", "ConfigMap"))
    a.upsert(obj("x", "a"))
    b.upsert(obj("y", "b"))
    b.upsert(obj("x", "a"))
    other.upsert({"metadata": {"name": "c", "namespace": "a"}})
    registry = CacheRegistry()
    for cache in (a, b, other):
        registry.attach(cache)
    store: ObjectStore = registry
    assert store.get(JOB, "b", "y") is not None
    assert sorted(o["metadata"]["name"] for o in store.list(JOB)) == ["x", "y"]
    assert [o["metadata"]["name"] for o in store.list(JOB, "a")] == ["x"]
    registry.detach(b)
    assert store.get(JOB, "b", "y") is None
    assert registry.kinds() == [GVK("", "v1", "ConfigMap"), JOB]


def labelled(name: str, owner: str, namespace: str = "ns", rv: str = "1") -> dict[str, Any]:
    return {**obj(name, namespace, rv), "spec": {"owner": owner}}


def test_select_answers_from_an_index_kept_up_to_date() -> None:
    """select() finds objects by a field's value, and its index follows upserts, removals and replaces."""
    cache = ObjectCache(JOB)
    cache.upsert(labelled("a", "w1"))
    cache.upsert(labelled("b", "w2"))
    assert [o["metadata"]["name"] for o in cache.select("ns", "spec.owner", "w1")] == ["a"]
    cache.upsert(labelled("a", "w2", rv="2"))  # its value moved: the index must follow
    cache.upsert(labelled("c", "w1", namespace="other"))
    assert sorted(o["metadata"]["name"] for o in cache.select("ns", "spec.owner", "w2")) == ["a", "b"]
    assert [o["metadata"]["name"] for o in cache.select(None, "spec.owner", "w1")] == ["c"]
    assert cache.select("ns", "spec.owner", "w1") == []
    cache.remove("ns", "b")
    assert [o["metadata"]["name"] for o in cache.select("ns", "spec.owner", "w2")] == ["a"]
    cache.replace([labelled("d", "w2")])
    assert [o["metadata"]["name"] for o in cache.select("ns", "spec.owner", "w2")] == ["d"]
    assert cache.select("ns", "spec.missing", "w2") == []
    assert cache.select("ns", "spec.owner", {"not": "hashable"}) == []


def test_select_by_a_quoted_name_holding_dots_and_slashes() -> None:
    """A label key such as app.kubernetes.io/name is one name of the path when quoted; unquoted, its dots are
    steps into nested fields (none here)."""
    cache = ObjectCache(JOB)
    labelled_job = obj("a", "ns", "1")
    labelled_job["metadata"]["labels"] = {"app.kubernetes.io/name": "orders"}
    cache.upsert(labelled_job)
    quoted = 'metadata.labels."app.kubernetes.io/name"'
    assert [o["metadata"]["name"] for o in cache.select("ns", quoted, "orders")] == ["a"]
    assert cache.select("ns", "metadata.labels.app.kubernetes.io/name", "orders") == []


def test_an_indexed_object_replaced_leaves_its_bucket_without_its_old_json_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """put() moves an object between buckets (also to an unindexable value and back) without parsing what it
    replaces: the index remembers where each object is filed."""
    cache = ObjectCache(JOB)
    cache.put(labelled("a", "w1"))
    assert [o["metadata"]["name"] for o in cache.select("ns", "spec.owner", "w1")] == ["a"]
    parsed: list[bytes] = []
    loads = orjson.loads

    def counting(data: bytes) -> Any:
        parsed.append(data)
        return loads(data)

    monkeypatch.setattr("engine.kube.cache.orjson.loads", counting)
    unindexable = {**obj("a", "ns", "2"), "spec": {"owner": ["w1"]}}
    cache.put(unindexable)
    assert cache.select("ns", "spec.owner", "w1") == []
    cache.put(labelled("a", "w2", rv="3"))
    assert parsed == []
    assert [o["metadata"]["name"] for o in cache.select("ns", "spec.owner", "w2")] == ["a"]


def test_select_tells_true_from_one() -> None:
    """JSON `true` and `1` are different values (Python's dict keys would merge them): each selects its own."""
    cache = ObjectCache(JOB)
    cache.upsert({**obj("flag", "ns", "1"), "spec": {"owner": True}})
    cache.upsert({**obj("one", "ns", "1"), "spec": {"owner": 1}})
    assert [o["metadata"]["name"] for o in cache.select("ns", "spec.owner", True)] == ["flag"]
    assert [o["metadata"]["name"] for o in cache.select("ns", "spec.owner", 1)] == ["one"]
    cache.remove("ns", "flag")
    assert cache.select("ns", "spec.owner", True) == []
    assert [o["metadata"]["name"] for o in cache.select("ns", "spec.owner", 1)] == ["one"]


def test_registry_select_unions_caches_without_duplicates() -> None:
    """A kind watched by two informers (two namespace scopes) is selected from both, each key once."""
    registry = CacheRegistry()
    first, second = ObjectCache(JOB), ObjectCache(JOB)
    registry.attach(first)
    registry.attach(second)
    first.upsert(labelled("a", "w1"))
    second.upsert(labelled("a", "w1"))
    second.upsert(labelled("b", "w1", namespace="other"))
    assert sorted(o["metadata"]["name"] for o in registry.select(JOB, None, "spec.owner", "w1")) == ["a", "b"]


def test_objects_are_kept_as_json_and_recent_reads_stay_parsed() -> None:
    """The cache keeps JSON bytes: a read parses, the most recent reads are kept parsed (and shared), a write
    keeps the written object as its parsed copy, and only the last HOT reads or writes stay parsed."""
    cache = ObjectCache(JOB)
    cache.upsert(obj("a"))
    first = cache.get("ns", "a")
    assert first == obj("a")
    assert cache.get("ns", "a") is first
    written = obj("a", rv="2")
    cache.upsert(written)
    second = cache.get("ns", "a")
    assert second is written
    assert second is not first
    for index in range(HOT):
        cache.upsert(obj(f"b{index}"))
        cache.get("ns", f"b{index}")
    assert cache.get("ns", "a") is not second  # pushed out: parsed again
    assert cache.get("ns", "a") == second
    assert cache.list("ns")[0] == second
    assert ("ns", "a") in cache.names()


def test_kept_json_costs_its_own_size() -> None:
    """orjson hands back its whole write buffer; the cache keeps a copy of the JSON's own size."""
    big = {**obj("a"), "spec": {"text": "x" * 700}}
    blob = encode(big)
    assert orjson.loads(blob) == big
    assert sys.getsizeof(blob) < len(blob) + 64
