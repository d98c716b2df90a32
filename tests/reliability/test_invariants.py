"""The invariant checks of tests/reliability/history.py catch what they exist for (no vacuous passes)."""

from __future__ import annotations

from typing import Any

from kubesim import RequestRecord

from .history import Change, busiest_window, completed_without_success, doubled_jobs, requests_per_stream


def job(
    name: str, stream: str, *, deleting: bool = False, succeeded: bool = False, backfill_id: str = ""
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "labels": {"arcane/stream-id": stream}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    env = [{"name": "STREAMCONTEXT__BACKFILL_ID", "value": backfill_id}] if backfill_id else []
    status = {"conditions": [{"type": "Complete", "status": "True"}]} if succeeded else {}
    return {
        "metadata": meta,
        "spec": {"template": {"spec": {"containers": [{"name": "c", "env": env}]}}},
        "status": status,
    }


def request(name: str, stream: str, *, completed: bool = False) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": {"streamId": stream, "completed": completed}}


def changes(*items: tuple[str, str, dict[str, Any]]) -> list[Change]:
    return [Change(resource, kind, rv, obj, float(rv)) for rv, (resource, kind, obj) in enumerate(items, start=1)]


def test_two_live_jobs_of_one_stream_are_caught() -> None:
    """A second live Job with a stream's label while the first one lives is reported with both names."""
    found = doubled_jobs(changes(("jobs", "ADDED", job("a-backfill", "a")), ("jobs", "ADDED", job("a", "a"))))
    assert found == ["ns/a: ['a', 'a-backfill']"]


def test_a_job_replacing_one_being_deleted_is_not_a_double() -> None:
    """A Job created after the previous one got its deletionTimestamp (foreground deletion) is not counted twice, nor are Jobs of different streams."""
    history = changes(
        ("jobs", "ADDED", job("a-backfill", "a")),
        ("jobs", "MODIFIED", job("a-backfill", "a", deleting=True)),
        ("jobs", "ADDED", job("a", "a")),
        ("jobs", "ADDED", job("b", "b")),
        ("jobs", "DELETED", job("a-backfill", "a", deleting=True)),
    )
    assert doubled_jobs(history) == []


def test_request_completed_before_its_job_succeeded_is_caught() -> None:
    """A BackfillRequest completed while its backfill Job has not succeeded is reported; once the Job succeeded first, it is not."""
    early = changes(
        ("jobs", "ADDED", job("a-backfill", "a", backfill_id="r1")),
        ("backfillrequests", "MODIFIED", request("r1", "a", completed=True)),
    )
    assert completed_without_success(early) == [
        "ns/r1 completed at resourceVersion 2 before any backfill Job for it succeeded"
    ]
    assert completed_without_success(early, by_users=["ns/r1"]) == []
    ordered = changes(
        ("jobs", "MODIFIED", job("a-backfill", "a", backfill_id="r1", succeeded=True)),
        ("backfillrequests", "MODIFIED", request("r1", "a", completed=True)),
    )
    assert completed_without_success(ordered) == []


def test_a_job_for_another_request_does_not_count() -> None:
    """The success of a backfill Job made for another request does not justify completing this one."""
    history = changes(
        ("jobs", "MODIFIED", job("a-backfill", "a", backfill_id="r0", succeeded=True)),
        ("backfillrequests", "MODIFIED", request("r1", "a", completed=True)),
    )
    assert len(completed_without_success(history)) == 1


def test_requests_are_counted_per_stream() -> None:
    """Each created BackfillRequest counts once for its stream; updates do not."""
    history = changes(
        ("backfillrequests", "ADDED", request("r1", "a")),
        ("backfillrequests", "MODIFIED", request("r1", "a", completed=True)),
        ("backfillrequests", "ADDED", request("r2", "a")),
        ("backfillrequests", "ADDED", request("r3", "b")),
    )
    assert requests_per_stream(history) == {"ns/a": 2, "ns/b": 1}


def test_busiest_window_counts_requests_within_it() -> None:
    """The busiest window holds the most requests that arrived within its length of each other."""
    records = [RequestRecord(t, "PATCH", "patch", "/x") for t in (0.0, 10.0, 30.0, 59.0, 61.0, 200.0)]
    assert busiest_window(records, 60.0) == 4
    assert busiest_window([], 60.0) == 0
