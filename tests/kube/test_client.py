"""KubeClient against the fake API server: raw JSON, error mapping, retries, Retry-After, write budget, auth."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from engine.errors import ApiError
from engine.kube.client import ClientOptions, KubeClient, WatchOptions, resource_path
from engine.kube.config import KubeSettings
from engine.kube.timing import BackoffPolicy, ManualClock
from engine.model import PatchType, Propagation

from .fakeapi import CONFIGMAPS, JOBS, NAMESPACES, WIDGETS, FakeApi, Fault, drive, eventually


class Calls:
    """An ApiObserver that keeps every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def api_request(self, verb: str, code: int, seconds: float) -> None:
        assert seconds >= 0
        self.calls.append((verb, code))


def job(name: str, **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": {"parallelism": 1}, **extra}


def test_resource_paths() -> None:
    """Core, grouped, namespaced, cluster-scoped and subresource paths follow the REST conventions."""
    assert resource_path(CONFIGMAPS, "ns", "a") == "/api/v1/namespaces/ns/configmaps/a"
    assert resource_path(JOBS, None) == "/apis/batch/v1/jobs"
    assert resource_path(WIDGETS, "ns", "w", "status") == "/apis/example.com/v1/namespaces/ns/widgets/w/status"
    assert resource_path(NAMESPACES, "ignored", "kube-system") == "/api/v1/namespaces/kube-system"


def test_resource_path_segments_are_quoted_as_urllib_does() -> None:
    """A name that needs escaping is escaped as `quote(name, safe="")` does; a plain one is kept as it is."""
    for name in ("s-000001", "a.b_c~d", "with space", "ü", "a/b", "a%b", "A-9"):
        assert resource_path(CONFIGMAPS, "ns", name) == f"/api/v1/namespaces/ns/configmaps/{quote(name, safe='')}"


async def test_get_returns_raw_json_with_unknown_fields(api: FakeApi, client: KubeClient) -> None:
    """Objects come back as plain dicts, fields the client never heard of included."""
    api.add(JOBS, job("j1", spec={"futureField": {"x": 1}}))
    got = await client.get(JOBS, "ns", "j1")
    assert got["spec"] == {"futureField": {"x": 1}}
    assert got["metadata"]["resourceVersion"] == "101"


async def test_list_sends_paging_and_selector_parameters(api: FakeApi, client: KubeClient) -> None:
    """limit, continue, resourceVersion and selectors reach the server as query parameters."""
    for i in range(3):
        api.add(JOBS, job(f"j{i}", metadata={"name": f"j{i}", "namespace": "ns", "labels": {"app": "a"}}))
    page = await client.list(JOBS, "ns", limit=2, resource_version="0", label_selector="app=a")
    assert [i["metadata"]["name"] for i in page["items"]] == ["j0", "j1"]
    rest = await client.list(JOBS, "ns", limit=2, continue_token=page["metadata"]["continue"], resource_version="0")
    assert [i["metadata"]["name"] for i in rest["items"]] == ["j2"]
    first, second = (r.query for r in api.requests)
    assert first == {"limit": "2", "resourceVersion": "0", "labelSelector": "app=a"}
    assert second == {"limit": "2", "continue": "2"}


async def test_error_answer_becomes_api_error_with_status_fields(client: KubeClient) -> None:
    """A Status answer maps to ApiError(status, reason, message)."""
    with pytest.raises(ApiError) as caught:
        await client.get(JOBS, "ns", "missing")
    assert (caught.value.status, caught.value.reason) == (404, "NotFound")
    assert str(caught.value) == "404 NotFound: jobs 'missing' not found"


async def test_429_waits_at_least_retry_after_then_succeeds(
    api: FakeApi, client: KubeClient, clock: ManualClock
) -> None:
    """A 429 with `Retry-After: 3` is retried, never sooner than 3 s later."""
    api.add(JOBS, job("j1"))
    api.faults.append(Fault(status=429, headers={"Retry-After": "3"}))
    got = await client.get(JOBS, "ns", "j1")
    assert got["metadata"]["name"] == "j1"
    assert api.requests[1].at - api.requests[0].at >= 3.0


async def test_retry_after_seconds_in_status_details_is_honoured(api: FakeApi, client: KubeClient) -> None:
    """The legacy `details.retryAfterSeconds` counts like the header."""
    api.add(JOBS, job("j1"))
    body = {"kind": "Status", "code": 429, "reason": "TooManyRequests", "details": {"retryAfterSeconds": 7}}
    api.faults.append(Fault(status=429, body=body))
    await client.get(JOBS, "ns", "j1")
    assert api.requests[1].at - api.requests[0].at >= 7.0


async def test_5xx_is_retried_a_bounded_number_of_times(api: FakeApi, clock: ManualClock) -> None:
    """500s are retried `retries` times with growing backoff, then the last error is raised."""
    api.faults.append(Fault(status=500, times=10))
    policy = BackoffPolicy(initial=0.2, cap=10.0, jitter=False)
    options = ClientOptions(retries=3, retry_backoff=policy)
    async with KubeClient(KubeSettings(host=api.url), options, clock=clock) as client:
        with pytest.raises(ApiError, match="500 Injected: injected 500"):
            await client.get(JOBS, "ns", "j1")
    assert len(api.requests) == 4
    assert clock.sleeps == [0.2, 0.4, 0.8]


async def test_client_errors_are_not_retried(api: FakeApi, client: KubeClient) -> None:
    """409 and 404 are answers, not failures: one request each."""
    api.add(JOBS, job("j1"))
    with pytest.raises(ApiError, match="409 AlreadyExists"):
        await client.create(JOBS, "ns", job("j1"))
    assert api.count("POST") == 1


async def test_generate_name_create_is_not_retried_after_a_5xx(api: FakeApi, client: KubeClient) -> None:
    """A POST with generateName may have been applied: a 500 is raised, not retried (a retry could duplicate)."""
    api.faults.append(Fault(method="POST", status=500))
    with pytest.raises(ApiError, match="500"):
        await client.create(JOBS, "ns", {"metadata": {"generateName": "j-"}})
    assert api.count("POST") == 1


async def test_named_create_is_retried_after_a_5xx(api: FakeApi, client: KubeClient) -> None:
    """A POST with a name is safe to retry (a duplicate would be a 409), so a 503 is retried."""
    api.faults.append(Fault(method="POST", status=503))
    created = await client.create(JOBS, "ns", job("j1"))
    assert created["metadata"]["name"] == "j1"
    assert api.count("POST") == 2


async def test_401_rereads_the_token_file_and_retries_once(api: FakeApi, tmp_path: Path, clock: ManualClock) -> None:
    """After a rotation the old token gets 401; the client re-reads its file and the retry succeeds."""
    token = tmp_path / "token"
    token.write_text("old\n")
    settings = KubeSettings(host=api.url, authorization="Bearer old", token_file=str(token))
    api.token = "new"
    api.add(JOBS, job("j1"))
    token.write_text("new\n")
    async with KubeClient(settings, clock=clock) as client:
        await client.get(JOBS, "ns", "j1")
    assert [r.authorization for r in api.requests] == ["Bearer old", "Bearer new"]


async def test_401_with_an_unchanged_token_is_raised(api: FakeApi, tmp_path: Path, clock: ManualClock) -> None:
    """When re-reading gives the same token, the 401 is the answer: no retry loop."""
    token = tmp_path / "token"
    token.write_text("old")
    api.token = "new"
    settings = KubeSettings(host=api.url, authorization="Bearer old", token_file=str(token))
    async with KubeClient(settings, clock=clock) as client:
        with pytest.raises(ApiError, match="401 Unauthorized"):
            await client.get(JOBS, "ns", "j1")
    assert len(api.requests) == 1


async def test_token_file_is_reread_periodically(api: FakeApi, tmp_path: Path) -> None:
    """Every `token_refresh_interval` seconds the next request carries the file's current token."""
    clock = ManualClock()
    token = tmp_path / "token"
    token.write_text("one")
    settings = KubeSettings(host=api.url, authorization="Bearer one", token_file=str(token))
    async with KubeClient(settings, ClientOptions(token_refresh_interval=60), clock=clock) as client:
        await client.list(JOBS)
        token.write_text("two")
        await clock.advance(30)
        await client.list(JOBS)
        await clock.advance(31)
        await client.list(JOBS)
    assert [r.authorization for r in api.requests] == ["Bearer one", "Bearer one", "Bearer two"]


async def test_writes_are_paced_by_the_token_bucket(api: FakeApi, clock: ManualClock) -> None:
    """With 10 QPS and burst 2, twelve creates in a row span exactly one second of (virtual) time."""
    async with KubeClient(KubeSettings(host=api.url), ClientOptions(write_qps=10, write_burst=2), clock=clock) as c:
        for i in range(12):
            await c.create(JOBS, "ns", job(f"j{i}"))
    times = [r.at for r in api.requests]
    assert times[1] == times[0]
    assert round(times[-1] - times[0], 6) == 1.0


async def test_reads_are_not_paced_by_the_write_budget(api: FakeApi, clock: ManualClock) -> None:
    """GETs and LISTs do not consume write tokens."""
    async with KubeClient(KubeSettings(host=api.url), ClientOptions(write_qps=1, write_burst=1), clock=clock) as c:
        await asyncio.gather(*(c.list(JOBS) for _ in range(5)))
    assert clock.sleeps == []


async def test_429_on_a_write_holds_every_write_for_retry_after(api: FakeApi) -> None:
    """A 429 storm: each 429 with Retry-After 3 stops all writes for 3 s (virtual time, driven only when no
    request is in flight); the write rate stays under budget and every write eventually lands."""
    clock = ManualClock()
    api.clock = clock.monotonic
    api.faults += [Fault(method="POST", status=429, headers={"Retry-After": "3"}) for _ in range(4)]
    options = ClientOptions(write_qps=5, write_burst=5, retries=10)
    async with KubeClient(KubeSettings(host=api.url), options, clock=clock) as c:
        await drive(clock, [asyncio.create_task(c.create(JOBS, "ns", job(f"j{i}"))) for i in range(20)])
    posts = [r for r in api.requests if r.method == "POST"]
    assert len(api.objects[JOBS]) == 20
    throttled = [r for r in posts if r.status == 429]
    assert len(throttled) == 4
    for r429 in throttled:
        assert not [r for r in posts if r429.at < r.at < r429.at + 3.0]
    times = [r.at for r in posts]
    assert all(sum(1 for t in times if s <= t < s + 1.0) <= 5 + 5 for s in times)


async def test_connection_refused_is_an_api_error_with_status_0(clock: ManualClock) -> None:
    """No server: after the bounded retries, ApiError(0, ConnectionError) says what failed."""
    options = ClientOptions(retries=2)
    async with KubeClient(KubeSettings(host="http://127.0.0.1:9"), options, clock=clock) as client:
        with pytest.raises(ApiError) as caught:
            await client.get(JOBS, "ns", "j1")
    assert (caught.value.status, caught.value.reason) == (0, "ConnectionError")
    assert str(caught.value).startswith("0 ConnectionError: GET /apis/batch/v1/namespaces/ns/jobs/j1: ")
    assert len(clock.sleeps) == 2


async def test_slow_answer_hits_the_request_timeout(api: FakeApi, clock: ManualClock) -> None:
    """A request slower than `request_timeout` fails with ApiError(0, Timeout) instead of hanging."""
    api.faults.append(Fault(action="delay", delay=1.0, times=5))
    options = ClientOptions(request_timeout=0.05, retries=1)
    async with KubeClient(KubeSettings(host=api.url), options, clock=clock) as client:
        with pytest.raises(ApiError, match=r"^0 Timeout: GET /apis/batch/v1/jobs: no answer in time$"):
            await client.list(JOBS)


async def test_observer_sees_every_attempt(api: FakeApi, clock: ManualClock) -> None:
    """Each HTTP attempt is reported with its verb and status code (retries included)."""
    calls = Calls()
    api.faults.append(Fault(status=503))
    async with KubeClient(KubeSettings(host=api.url), clock=clock, observer=calls) as client:
        await client.list(JOBS)
        await client.create(JOBS, "ns", job("j1"))
    assert calls.calls == [("list", 503), ("list", 200), ("create", 201)]


async def test_delete_sends_propagation_and_preconditions(api: FakeApi, client: KubeClient) -> None:
    """DeleteOptions carry the propagation policy and the uid precondition; a wrong uid is a 409."""
    created = api.add(JOBS, job("j1"))
    with pytest.raises(ApiError, match="409 Conflict: Precondition failed: UID"):
        await client.delete(JOBS, "ns", "j1", propagation=Propagation.BACKGROUND, uid="other")
    await client.delete(JOBS, "ns", "j1", propagation=Propagation.FOREGROUND, uid=created["metadata"]["uid"])
    assert api.requests[-1].body == {
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "propagationPolicy": "Foreground",
        "preconditions": {"uid": created["metadata"]["uid"]},
    }


async def test_patch_types_and_subresources(api: FakeApi, clock: ManualClock) -> None:
    """Merge and JSON patches go with their content types, to the subresource path when asked, with the
    field manager."""
    api.add(JOBS, job("j1"))
    async with KubeClient(KubeSettings(host=api.url), ClientOptions(field_manager="op"), clock=clock) as client:
        merged = await client.patch(JOBS, "ns", "j1", {"status": {"active": 1}}, subresource="status")
        ops = [
            {"op": "test", "path": "/status/active", "value": 1},
            {"op": "replace", "path": "/status/active", "value": 2},
        ]
        patched = await client.patch(JOBS, "ns", "j1", ops, PatchType.JSON)
    assert merged["status"] == {"active": 1}
    assert patched["status"] == {"active": 2}
    assert api.requests[0].path.endswith("/jobs/j1/status")
    assert api.requests[0].query == {"fieldManager": "op"}


async def test_watch_delivers_events_and_raises_410_errors(api: FakeApi, client: KubeClient) -> None:
    """A watch hands each event to the callback and ends on the server's close; an ERROR 410 event raises."""
    api.add(JOBS, job("j1"))
    api.add(JOBS, job("j2"))
    events: list[dict[str, Any]] = []
    api.faults.append(Fault(action="gone", watch=True))
    with pytest.raises(ApiError, match=r"^410 Expired: too old resource version$"):
        await client.watch(JOBS, "ns", WatchOptions("100"), events.append)
    task = asyncio.create_task(client.watch(JOBS, "ns", WatchOptions("100", timeout_seconds=1), events.append))
    await eventually(lambda: len(events) == 2)
    api.close_watches()
    assert await task == 2
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "j1"), ("ADDED", "j2")]
    assert api.requests[-1].query == {
        "watch": "true",
        "resourceVersion": "100",
        "allowWatchBookmarks": "true",
        "timeoutSeconds": "1",
    }


async def test_silent_watch_ends_after_the_inactivity_timeout(api: FakeApi, client: KubeClient) -> None:
    """A watch that sends nothing (no FIN, no bytes) fails with InactivityTimeout instead of hanging."""
    api.faults.append(Fault(action="stall", watch=True))
    with pytest.raises(ApiError, match=r"^0 InactivityTimeout: watch /apis/batch/v1/jobs: nothing received for 0.1 s$"):
        await client.watch(JOBS, None, WatchOptions("1", inactivity_timeout=0.1), lambda e: None)


async def test_watch_reads_objects_larger_than_the_default_line_limit(api: FakeApi, client: KubeClient) -> None:
    """A 1 MiB object (etcd's limit is 1.5 MiB) arrives in one event."""
    api.add(JOBS, job("big", data={"blob": "x" * (1 << 20)}))
    events: list[dict[str, Any]] = []
    task = asyncio.create_task(client.watch(JOBS, "ns", WatchOptions("100"), events.append))
    await eventually(lambda: len(events) == 1)
    api.close_watches()
    await task
    assert len(events[0]["object"]["data"]["blob"]) == 1 << 20
