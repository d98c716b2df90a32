"""Expectations: after its own writes, the runtime waits for its cache to show them before acting again."""

from __future__ import annotations

from typing import Any

from engine.core.execute import Written
from engine.model import GVK, Obj, ObjectKey, ObjectRef
from engine.runtime.expectations import Expectations

STREAM = GVK("example.com", "v1", "Stream")
JOB = GVK("batch", "v1", "Job")
OWNER = ObjectKey(STREAM, "ns", "a")
OTHER = ObjectKey(STREAM, "ns", "b")
TIMEOUT = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Cache:
    """What the informer cache holds, by (kind, namespace, name)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[GVK, str, str], Obj] = {}

    def __call__(self, gvk: GVK, namespace: str, name: str) -> Obj | None:
        return self.objects.get((gvk, namespace, name))


def job(name: str, version: str, **meta: Any) -> Obj:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": version, **meta},
    }


def ref(name: str) -> ObjectRef:
    return ObjectRef("batch/v1", "Job", "ns", name)


def setup() -> tuple[Expectations, Clock, Cache]:
    clock = Clock()
    return Expectations(clock, TIMEOUT), clock, Cache()


def test_create_waits_until_the_watch_delivers_its_version() -> None:
    """A create not yet in the cache makes its owner wait (for the whole timeout at most); the event carrying its resourceVersion releases the owner."""
    expectations, _, cache = setup()
    expectations.expect(OWNER, (Written("create", ref("a"), "5"),), cache)
    assert expectations.waiting(OWNER) == TIMEOUT
    assert expectations.waiting(OTHER) == 0.0
    assert expectations.observe(JOB, "ns", "a", job("a", "5")) == [OWNER]
    assert expectations.waiting(OWNER) == 0.0
    assert len(expectations) == 0


def test_an_older_version_is_not_the_write() -> None:
    """An event with an older resourceVersion than the write's (a stale cache) does not release the owner; a newer one does."""
    expectations, _, cache = setup()
    expectations.expect(OWNER, (Written("patch", ref("a"), "10"),), cache)
    assert expectations.observe(JOB, "ns", "a", job("a", "9")) == []
    assert expectations.waiting(OWNER) > 0
    assert expectations.observe(JOB, "ns", "a", job("a", "11")) == [OWNER]


def test_a_write_the_cache_already_shows_is_not_awaited() -> None:
    """When the watch event arrived before the write's response, the cache already holds that version (or a later one): nothing to wait for."""
    expectations, _, cache = setup()
    cache.objects[(JOB, "ns", "a")] = job("a", "7")
    cache.objects[(JOB, "ns", "b")] = job("b", "8")
    expectations.expect(OWNER, (Written("create", ref("a"), "7"), Written("patch", ref("b"), "6")), cache)
    assert expectations.waiting(OWNER) == 0.0
    assert len(expectations) == 0


def test_delete_is_seen_when_gone_or_terminating() -> None:
    """A delete is seen once the object is gone (a DELETED event) or terminating (deletionTimestamp set); an unchanged object keeps the owner waiting."""
    expectations, _, cache = setup()
    cache.objects[(JOB, "ns", "a")] = job("a", "3")
    expectations.expect(OWNER, (Written("delete", ref("a")),), cache)
    assert expectations.observe(JOB, "ns", "a", job("a", "4")) == []
    assert expectations.waiting(OWNER) > 0
    assert expectations.observe(JOB, "ns", "a", job("a", "5", deletionTimestamp="2026-01-01T00:00:00Z")) == [OWNER]

    expectations.expect(OTHER, (Written("delete", ref("b")),), cache)  # not in the cache: already gone
    assert expectations.waiting(OTHER) == 0.0
    cache.objects[(JOB, "ns", "c")] = job("c", "3")
    expectations.expect(OTHER, (Written("delete", ref("c")),), cache)
    assert expectations.observe(JOB, "ns", "c", None) == [OTHER]


def test_a_create_is_also_seen_when_the_object_goes_away() -> None:
    """An object deleted before its creation event was seen releases the owner too (there is nothing left to wait for)."""
    expectations, _, cache = setup()
    expectations.expect(OWNER, (Written("create", ref("a"), "5"),), cache)
    assert expectations.observe(JOB, "ns", "a", None) == [OWNER]


def test_owner_is_released_by_its_last_write_only() -> None:
    """With several writes pending, the owner is released (returned by `observe`) when the last one is seen, not before."""
    expectations, _, cache = setup()
    written = (Written("create", ref("a"), "5"), Written("patch", ref("b"), "6"))
    expectations.expect(OWNER, written, cache)
    assert expectations.observe(JOB, "ns", "a", job("a", "5")) == []
    assert expectations.waiting(OWNER) > 0
    assert expectations.observe(JOB, "ns", "b", job("b", "6")) == [OWNER]
    assert expectations.waiting(OWNER) == 0.0


def test_two_owners_waiting_for_one_object_are_both_released() -> None:
    """Two keys that wrote the same object are both released by the event showing both writes."""
    expectations, _, cache = setup()
    expectations.expect(OWNER, (Written("patch", ref("shared"), "5"),), cache)
    expectations.expect(OTHER, (Written("patch", ref("shared"), "6"),), cache)
    assert expectations.observe(JOB, "ns", "shared", job("shared", "5")) == [OWNER]
    assert expectations.observe(JOB, "ns", "shared", job("shared", "6")) == [OTHER]


def test_unseen_writes_expire_after_the_timeout() -> None:
    """A write never seen (a relist skipped its event) stops holding the owner after the timeout; `waiting` says how long is left until then."""
    expectations, clock, cache = setup()
    expectations.expect(OWNER, (Written("create", ref("a"), "5"),), cache)
    clock.now += 4.0
    assert expectations.waiting(OWNER) == TIMEOUT - 4.0
    clock.now += TIMEOUT
    assert expectations.waiting(OWNER) == 0.0
    assert len(expectations) == 0
    assert expectations.observe(JOB, "ns", "a", job("a", "5")) == []


def test_the_timeout_does_not_run_out_while_the_watch_is_down() -> None:
    """A write whose kind's watch is down at its deadline (the server restarted, the watch backs off) is awaited for another timeout, as often as that happens: the watch resumes from its resourceVersion, so the event still comes, and it releases the owner. Once the watch is back, an unseen write expires as usual; other kinds' watches do not hold it."""
    down: set[GVK] = {JOB}
    clock = Clock()
    expectations, cache = Expectations(clock, TIMEOUT, down.__contains__), Cache()
    expectations.expect(OWNER, (Written("create", ref("a"), "5"),), cache)
    for _ in range(3):
        clock.now += TIMEOUT
        assert expectations.waiting(OWNER) == TIMEOUT
    assert expectations.observe(JOB, "ns", "a", job("a", "5")) == [OWNER]
    assert expectations.waiting(OWNER) == 0.0

    expectations.expect(OWNER, (Written("create", ref("b"), "7"),), cache)
    clock.now += TIMEOUT
    assert expectations.waiting(OWNER) == TIMEOUT
    down.clear()
    down.add(STREAM)
    clock.now += TIMEOUT
    assert expectations.waiting(OWNER) == 0.0
    assert len(expectations) == 0


def test_opaque_resource_versions_compare_by_equality_only() -> None:
    """resourceVersions that are not decimal are opaque: only the same string shows the write."""
    expectations, _, cache = setup()
    expectations.expect(OWNER, (Written("patch", ref("a"), "b7"),), cache)
    assert expectations.observe(JOB, "ns", "a", job("a", "c9")) == []
    assert expectations.observe(JOB, "ns", "a", job("a", "b7")) == [OWNER]


def test_writes_without_a_version_are_not_awaited() -> None:
    """A create or patch whose answer carried no resourceVersion cannot be matched, so it is not awaited."""
    expectations, _, cache = setup()
    expectations.expect(OWNER, (Written("patch", ref("a"), ""),), cache)
    assert expectations.waiting(OWNER) == 0.0
    assert len(expectations) == 0


def test_forget_drops_an_owners_expectations() -> None:
    """Forgetting a key (its object was deleted) drops what it waited for; a later event releases no one."""
    expectations, _, cache = setup()
    cache.objects[(JOB, "ns", "b")] = job("b", "2")
    expectations.expect(OWNER, (Written("create", ref("a"), "5"), Written("delete", ref("b"))), cache)
    assert len(expectations) == 2
    expectations.forget(OWNER)
    assert expectations.waiting(OWNER) == 0.0
    assert len(expectations) == 0
    assert expectations.observe(JOB, "ns", "a", job("a", "5")) == []
