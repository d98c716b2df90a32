"""The executor against the in-memory cluster: writes in order, adoption on 409, NotFound on delete, stale state
becomes a requeue, events aggregated into a count, and the outcome the queue gets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from engine.core import events as events_module
from engine.core.execute import Executor, Outcome, Result, Written
from engine.errors import ApiError
from engine.model import (
    GVK,
    JSON,
    CreateObject,
    Decision,
    DeleteObject,
    EmitEvent,
    EventType,
    Obj,
    ObjectRef,
    PatchObject,
    PatchType,
    Propagation,
    Provenance,
)
from engine.testing.memory import MemoryCluster

from .harness import JOB, NOW_TEXT, cluster, job, widget

PROVENANCE = Provenance("widgets", "main", "rule", "widgets.yaml", 1, "digest")
EVENT = ObjectRef("example.com/v1", "Widget", "default", "w1", "uid-w1")


def decision(*actions: Any, error: str = "", requeue_after: float | None = None) -> Decision:
    return Decision(PROVENANCE, tuple(actions), error, requeue_after)


async def execute(store: MemoryCluster, *actions: Any, **options: Any) -> Result:
    return await Executor(store, now=lambda: NOW_TEXT, **options).execute(decision(*actions))


def events(store: MemoryCluster) -> list[dict[str, Any]]:
    return [dict(obj) for (gvk, _, _), obj in store.objects.items() if gvk.kind == "Event"]


async def test_writes_in_order_and_reports_what_was_written() -> None:
    """Actions run in order; the result lists each successful write with the resourceVersion to wait for."""
    store = cluster(widget())
    created = CreateObject(job("new"), owner_uid="uid-w1")
    patched = PatchObject(ObjectRef.of_object(widget()), {"status": {"phase": "Running"}}, PatchType.MERGE, "status")
    result = await execute(store, created, patched)
    assert (result.outcome, result.error) == (Outcome.DONE, "")
    assert [(w.verb, str(w.ref)) for w in result.written] == [
        ("create", "Job/default/new"),
        ("patch", "Widget/default/w1"),
    ]
    assert all(w.resource_version for w in result.written)
    assert store.get(JOB, "default", "new") is not None


async def test_create_conflict_with_our_own_object_is_adopted() -> None:
    """409 AlreadyExists on create is success when the existing object is owned by the decision's owner."""
    store = cluster(job("w1"))
    result = await execute(store, CreateObject(job("w1"), owner_uid="uid-w1"))
    assert (result.outcome, result.error) == (Outcome.DONE, "")
    assert [w.verb for w in result.written] == ["create"]


async def test_create_conflict_with_adopt_labels() -> None:
    """An existing object carrying every adopt label counts as ours too."""
    store = cluster(job("w1", owner="someone", labels={"app": "w"}))
    result = await execute(store, CreateObject(job("w1"), owner_uid="uid-w1", adopt_labels={"app": "w"}))
    assert result.ok


async def test_create_conflict_with_a_foreign_object_is_an_error() -> None:
    """409 on create with an object owned by someone else fails the decision, naming the owners, and requeues."""
    store = cluster(job("w1", owner="someone-else"))
    result = await execute(store, CreateObject(job("w1"), owner_uid="uid-w1"))
    assert result.outcome is Outcome.REQUEUE
    assert result.error == (
        "create Job/default/w1 failed: 409 AlreadyExists: Job/default/w1 already exists and is not ours "
        "(owners: w1); delete or rename it"
    )


async def test_create_conflict_with_a_terminating_object_waits_for_it() -> None:
    """409 on create while the existing object is being deleted is no error: the decision stops there (its status
    write is not sent before the object exists) and is tried again a second later, when the deletion may be done."""
    store = cluster(job("w1", deletionTimestamp=NOW_TEXT), widget())
    status = PatchObject(EVENT, {"status": {"phase": "Running"}}, PatchType.MERGE, "status")
    result = await execute(store, CreateObject(job("w1"), owner_uid="uid-w1"), status)
    assert (result.outcome, result.delay, result.error) == (Outcome.REQUEUE_AFTER, 1.0, "")
    assert "status" not in store.get(GVK("example.com", "v1", "Widget"), "default", "w1")  # type: ignore[operator]


async def test_delete_of_an_absent_object_is_done() -> None:
    """A delete that finds nothing (404) is success; nothing is reported as written."""
    result = await execute(cluster(), DeleteObject(ObjectRef.of_object(job())))
    assert (result.outcome, result.written) == (Outcome.DONE, ())


async def test_delete_with_a_stale_uid_is_retried() -> None:
    """A delete whose uid precondition fails (the object was replaced) stops the decision with a requeue."""
    store = cluster(job())
    ref = ObjectRef("batch/v1", "Job", "default", "w1", "an-older-uid")
    result = await execute(store, DeleteObject(ref, Propagation.FOREGROUND), PatchObject(ref, {"a": 1}))
    assert result.outcome is Outcome.REQUEUE
    assert result.error.startswith("delete Job/default/w1 failed: 409 Conflict: Precondition failed")
    assert store.get(JOB, "default", "w1") is not None


async def test_delete_garbage_collects_owned_objects() -> None:
    """Deleting an owner removes what it owns (background propagation in the in-memory cluster)."""
    store = cluster(widget(), job())
    result = await execute(
        store, DeleteObject(ObjectRef.of_object(store.get_sync(ObjectRef.of_object(widget())) or {}))
    )
    assert [w.verb for w in result.written] == ["delete"]
    assert store.get(JOB, "default", "w1") is None


async def test_failed_json_patch_test_is_retried() -> None:
    """A JSON patch whose `test` fails (422: the state moved on) requeues, and later actions are not run."""
    store = cluster(job())
    ref = ObjectRef.of_object(job())
    test_op = [{"op": "test", "path": "/metadata/name", "value": "other"}]
    later = DeleteObject(ref)
    result = await execute(store, PatchObject(ref, test_op, PatchType.JSON), later)
    assert result.outcome is Outcome.REQUEUE
    assert result.error.startswith("patch Job/default/w1 failed: 422 Invalid: ")
    assert store.get(JOB, "default", "w1") is not None


class Refusing(MemoryCluster):
    """The in-memory cluster, answering every patch with a given API error (a fake of the one boundary)."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(lambda: NOW_TEXT)
        self.error = error

    async def patch(self, ref: ObjectRef, patch: JSON, patch_type: PatchType, subresource: str = "") -> Obj:
        raise self.error


@pytest.mark.parametrize(
    ("error", "outcome", "delay"),
    [
        (ApiError(409, "Conflict", "the object has been modified"), Outcome.REQUEUE, 0.0),
        (ApiError(404, "NotFound", "gone"), Outcome.REQUEUE, 0.0),
        (ApiError(500, "InternalError", "boom"), Outcome.REQUEUE, 0.0),
        (ApiError(429, "TooManyRequests", "slow down", retry_after=7), Outcome.REQUEUE_AFTER, 7.0),
        (ApiError(503, "ServiceUnavailable", "later", retry_after=2), Outcome.REQUEUE_AFTER, 2.0),
    ],
)
async def test_api_errors_become_outcomes(error: ApiError, outcome: Outcome, delay: float) -> None:
    """A failed write stops the decision: conflicts and other errors requeue (rate-limited); a server's
    Retry-After becomes a requeue after that delay; writes already done are still reported."""
    store = Refusing(error)
    store.put(job())
    result = await Executor(store, now=lambda: NOW_TEXT).execute(
        decision(CreateObject(job("first")), PatchObject(ObjectRef.of_object(job()), {"a": 1}))
    )
    assert (result.outcome, result.delay) == (outcome, delay)
    assert result.error == f"patch Job/default/w1 failed: {error}"
    assert [str(w.ref) for w in result.written] == ["Job/default/first"]


async def test_error_decisions_and_requeue_after() -> None:
    """An error decision writes nothing and requeues; a decision asking for a requeue gets REQUEUE_AFTER."""
    store = cluster()
    failed = await Executor(store).execute(decision(CreateObject(job()), error="condition failed: x"))
    assert (failed.outcome, failed.error, failed.written) == (Outcome.REQUEUE, "condition failed: x", ())
    assert store.get(JOB, "default", "w1") is None
    later = await Executor(store).execute(decision(requeue_after=30.0))
    assert (later.outcome, later.delay, later.ok) == (Outcome.REQUEUE_AFTER, 30.0, True)


async def test_dry_run_writes_nothing_and_observes() -> None:
    """In dry-run mode nothing is written; the observer hears each action's verb with `dry-run`."""
    seen: list[tuple[str, str]] = []
    store = cluster(widget())
    ref = ObjectRef.of_object(widget())
    result = await execute(
        store,
        CreateObject(job()),
        PatchObject(ref, {"status": {}}, PatchType.MERGE, "status"),
        DeleteObject(ref),
        EmitEvent(EVENT, EventType.NORMAL, "R", "m"),
        dry_run=True,
        observe=lambda verb, outcome: seen.append((verb, outcome)),
    )
    assert result.outcome is Outcome.DONE
    assert seen == [("create", "dry-run"), ("patch-status", "dry-run"), ("delete", "dry-run"), ("event", "dry-run")]
    assert store.get(JOB, "default", "w1") is None


async def test_observer_hears_results() -> None:
    """The observer is told `ok` for each successful action and `error` for the failing one."""
    seen: list[tuple[str, str]] = []
    store = cluster(job())
    await execute(
        store,
        DeleteObject(ObjectRef.of_object(job())),
        CreateObject(job("x"), owner_uid="nobody"),
        observe=lambda v, o: seen.append((v, o)),
    )
    assert seen == [("delete", "ok"), ("create", "ok")]
    await execute(store, CreateObject(job("x"), owner_uid="nobody-else"), observe=lambda v, o: seen.append((v, o)))
    assert seen[-1] == ("create", "error")


async def test_events_are_recorded_then_aggregated() -> None:
    """The first event creates a core/v1 Event about the object; a repeat patches its count; another message
    makes another Event."""
    store = cluster(widget())
    executor = Executor(store, component="widget-operator", now=lambda: NOW_TEXT)
    first = EmitEvent(EVENT, EventType.WARNING, "Failed", "it broke")
    for _ in range(3):
        assert (await executor.execute(decision(first))).ok
    await executor.execute(decision(EmitEvent(EVENT, EventType.WARNING, "Failed", "it broke again")))
    recorded = sorted(events(store), key=lambda e: e["message"])
    assert [(e["reason"], e["message"], e["count"], e["type"]) for e in recorded] == [
        ("Failed", "it broke", 3, "Warning"),
        ("Failed", "it broke again", 1, "Warning"),
    ]
    event = recorded[0]
    assert event["involvedObject"] == {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "name": "w1",
        "namespace": "default",
        "uid": "uid-w1",
    }
    assert (event["source"], event["reportingComponent"]) == ({"component": "widget-operator"}, "widget-operator")
    assert (event["firstTimestamp"], event["lastTimestamp"]) == (NOW_TEXT, NOW_TEXT)
    assert event["metadata"]["name"].startswith("w1.")


async def test_an_expired_event_is_recreated() -> None:
    """When the aggregated Event is gone (expired), the next repeat creates a new one with count 1."""
    store = cluster(widget())
    executor = Executor(store, now=lambda: NOW_TEXT)
    emit = EmitEvent(EVENT, EventType.NORMAL, "R", "m")
    await executor.execute(decision(emit))
    (event,) = events(store)
    store.remove(GVK("", "v1", "Event"), "default", event["metadata"]["name"])
    await executor.execute(decision(emit))
    assert [e["count"] for e in events(store)] == [1]


async def test_the_aggregation_memory_forgets_the_least_recently_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MEMORY distinct events the one repeated least recently is forgotten: its next repeat creates another
    Event, while a repeat of one seen since still counts on the Event it has."""
    monkeypatch.setattr(events_module, "MEMORY", 3)
    store = cluster(widget())
    executor = Executor(store, now=lambda: NOW_TEXT)

    def emit(message: str) -> Decision:
        return decision(EmitEvent(EVENT, EventType.NORMAL, "R", message))

    for message in ("a", "b", "c", "a", "d", "a", "b"):
        await executor.execute(emit(message))
    counts = sorted((e["message"], e["count"]) for e in events(store))
    assert counts == [("a", 3), ("b", 1), ("b", 1), ("c", 1), ("d", 1)]


class SlowPatches(MemoryCluster):
    """The in-memory cluster whose patches wait until `release` is set (a write in flight)."""

    release: asyncio.Event

    async def patch(self, ref: ObjectRef, patch: JSON, patch_type: PatchType, subresource: str = "") -> Obj:
        await self.release.wait()
        return await super().patch(ref, patch, patch_type, subresource)


async def test_a_repeat_while_another_is_being_written_counts_on_the_same_event() -> None:
    """Two repeats of one event at once (two workers) both update the Event recorded for it: the memory still
    holds it while the first update is in flight, so no second Event is created beside it."""
    store = SlowPatches(lambda: NOW_TEXT)
    store.release = asyncio.Event()
    executor = Executor(store, now=lambda: NOW_TEXT)
    emit = decision(EmitEvent(EVENT, EventType.NORMAL, "R", "m"))
    await executor.execute(emit)
    repeats = asyncio.gather(executor.execute(emit), executor.execute(emit))
    await asyncio.sleep(0)
    store.release.set()
    await repeats
    assert [(e["message"], e["count"] >= 2) for e in events(store)] == [("m", True)]


class NoEvents(MemoryCluster):
    """The in-memory cluster refusing to create Events (e.g. RBAC forbids it)."""

    async def create(self, obj: Obj) -> Obj:
        if obj.get("kind") == "Event":
            raise ApiError(403, "Forbidden", "events are forbidden")
        return await super().create(obj)


async def test_events_never_fail_a_decision() -> None:
    """An Event that cannot be recorded is logged and skipped: the decision still succeeds."""
    store = NoEvents(lambda: NOW_TEXT)
    result = await Executor(store).execute(decision(EmitEvent(EVENT, EventType.NORMAL, "R", "m"), CreateObject(job())))
    assert (result.outcome, [w.verb for w in result.written]) == (Outcome.DONE, ["create"])


def test_written_and_result_records() -> None:
    """Written is what the runtime waits to see in its cache; a Result without error is ok."""
    ref = ObjectRef.of_object(job())
    assert Written("create", ref, "7").resource_version == "7"
    assert Result(Outcome.DONE).ok
    assert not Result(Outcome.REQUEUE, error="x").ok
