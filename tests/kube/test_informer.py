"""Informers against the fake API server: list+watch, the fault matrix of controller-runtime.md §5.2 that
concerns this layer (restart, 410, stall, immediate close, 429, 5xx, 401, kind gone), caching and delivery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from engine.kube.cache import EventKind
from engine.kube.client import ClientOptions, KubeClient
from engine.kube.config import KubeSettings
from engine.kube.informer import Informer, InformerOptions, InformerState
from engine.kube.timing import BackoffPolicy, ManualClock
from engine.model import GVK, Obj, ResourceType

from .fakeapi import JOBS, FakeApi, Fault, eventually

NO_JITTER = BackoffPolicy(jitter=False)


class Recorder:
    """A handler that keeps (kind, name, old rv, new rv, synced-at-delivery)."""

    def __init__(self) -> None:
        self.informer: Informer | None = None
        self.events: list[tuple[str, str, str, str]] = []
        self.during_sync: list[bool] = []

    def __call__(self, kind: EventKind, old: Obj | None, new: Obj | None) -> None:
        obj = new if new is not None else old
        assert obj is not None
        rv = lambda o: "" if o is None else o["metadata"]["resourceVersion"]  # noqa: E731
        self.events.append((kind.value, obj["metadata"]["name"], rv(old), rv(new)))
        assert self.informer is not None
        self.during_sync.append(not self.informer.synced.is_set())

    def kinds(self) -> list[tuple[str, str]]:
        return [(kind, name) for kind, name, _, _ in self.events]


def job(name: str, namespace: str = "ns", **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, **meta}, "spec": {}}


@pytest.fixture
def vclock() -> ManualClock:
    """Virtual time that moves only when a test says so."""
    return ManualClock()


@pytest.fixture
async def vclient(api: FakeApi, vclock: ManualClock) -> AsyncIterator[KubeClient]:
    async with KubeClient(KubeSettings(host=api.url), ClientOptions(write_qps=0), clock=vclock) as c:
        yield c


def make(client: KubeClient, clock: ManualClock, **options: Any) -> tuple[Informer, Recorder]:
    recorder = Recorder()
    informer = Informer(client, InformerOptions(JOBS, **{"backoff": NO_JITTER, **options}), recorder, clock=clock)
    recorder.informer = informer
    informer.start()
    return informer, recorder


def watches(api: FakeApi) -> list[dict[str, str]]:
    return [r.query for r in api.requests if r.query.get("watch") == "true"]


def lists(api: FakeApi) -> list[dict[str, str]]:
    return [r.query for r in api.requests if r.method == "GET" and "watch" not in r.query]


async def test_initial_list_is_paginated_then_watched_from_its_resource_version(
    api: FakeApi, vclient: KubeClient, vclock: ManualClock
) -> None:
    """Five objects in pages of two: three LISTs (RV "0" first, then continue tokens), every object ADDED
    before `synced` is set, then one WATCH from the list's RV with bookmarks and a 300-600 s timeout."""
    for i in range(5):
        api.add(JOBS, job(f"j{i}"))
    informer, recorder = make(vclient, vclock, page_size=2)
    await asyncio.wait_for(informer.synced.wait(), 2)
    await eventually(lambda: len(watches(api)) == 1)
    assert lists(api) == [
        {"limit": "2", "resourceVersion": "0"},
        {"limit": "2", "continue": "2"},
        {"limit": "2", "continue": "4"},
    ]
    assert recorder.kinds() == [("ADDED", f"j{i}") for i in range(5)]
    assert all(recorder.during_sync)
    (watch,) = watches(api)
    assert watch["resourceVersion"] == "105"
    assert watch["allowWatchBookmarks"] == "true"
    assert 300 <= int(watch["timeoutSeconds"]) < 600
    assert len(informer.cache) == 5
    await informer.stop()


async def test_listed_objects_get_their_kind_and_are_stripped(
    api: FakeApi, vclient: KubeClient, vclock: ManualClock
) -> None:
    """Core-group list items get apiVersion/kind; managedFields and last-applied go, other annotations stay."""
    from .fakeapi import CONFIGMAPS

    api.add(
        CONFIGMAPS,
        {
            "metadata": {
                "name": "c",
                "namespace": "ns",
                "managedFields": [{"manager": "kubectl"}],
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "me"},
            },
            "data": {"a": "b"},
        },
    )
    informer = Informer(vclient, InformerOptions(CONFIGMAPS), clock=vclock)
    informer.start()
    await asyncio.wait_for(informer.synced.wait(), 2)
    cached = informer.cache.get("ns", "c")
    assert cached is not None
    assert (cached["apiVersion"], cached["kind"]) == ("v1", "ConfigMap")
    assert "managedFields" not in cached["metadata"]
    assert cached["metadata"]["annotations"] == {"keep": "me"}
    await informer.stop()


async def test_live_events_update_the_cache_then_reach_the_handler(
    api: FakeApi, vclient: KubeClient, vclock: ManualClock
) -> None:
    """ADDED, MODIFIED and DELETED change the cache first, then the handler gets (kind, old, new)."""
    informer, recorder = make(vclient, vclock)
    await asyncio.wait_for(informer.synced.wait(), 2)
    await eventually(lambda: len(api.watchers) == 1)
    api.add(JOBS, job("a"))
    api.modify(JOBS, "ns", "a", spec={"x": 1})
    api.remove(JOBS, "ns", "a")
    await eventually(lambda: len(recorder.events) == 3)
    assert recorder.events == [("ADDED", "a", "", "101"), ("MODIFIED", "a", "101", "102"), ("DELETED", "a", "103", "")]
    assert not any(recorder.during_sync)
    assert len(informer.cache) == 0
    assert informer.resource_version == "103"
    await informer.stop()


async def test_modified_carries_the_old_object_only_while_the_consumer_wants_it(
    api: FakeApi, vclient: KubeClient, vclock: ManualClock
) -> None:
    """With `wants_old`, a MODIFIED carries the replaced object when it answers True and None when it answers
    False (asked at each event); it stays a MODIFIED either way."""
    wanted = [False]
    recorder = Recorder()
    informer = Informer(
        vclient, InformerOptions(JOBS, backoff=NO_JITTER), recorder, clock=vclock, wants_old=lambda: wanted[0]
    )
    recorder.informer = informer
    informer.start()
    await asyncio.wait_for(informer.synced.wait(), 2)
    await eventually(lambda: len(api.watchers) == 1)
    api.add(JOBS, job("a"))
    api.modify(JOBS, "ns", "a", spec={"x": 1})
    await eventually(lambda: len(recorder.events) == 2)
    wanted[0] = True
    api.modify(JOBS, "ns", "a", spec={"x": 2})
    await eventually(lambda: len(recorder.events) == 3)
    assert recorder.events == [("ADDED", "a", "", "101"), ("MODIFIED", "a", "", "102"), ("MODIFIED", "a", "102", "103")]
    await informer.stop()


async def test_normal_end_rewatches_at_once_from_the_last_bookmark(
    api: FakeApi, vclient: KubeClient, vclock: ManualClock
) -> None:
    """A watch closed by the server (its timeout) is resumed immediately, from the RV of the last bookmark,
    with no relist and no backoff."""
    api.add(JOBS, job("a"))
    informer, _ = make(vclient, vclock)
    await eventually(lambda: len(api.watchers) == 1)
    api.rv = 150
    api.bookmark()
    await eventually(lambda: informer.resource_version == "150")
    api.close_watches()
    await eventually(lambda: len(watches(api)) == 2 and len(api.watchers) == 1)
    assert watches(api)[1]["resourceVersion"] == "150"
    assert len(lists(api)) == 1
    assert vclock.sleeps == []
    await informer.stop()


async def test_api_restart_resumes_from_the_last_rv_without_relisting(
    api: FakeApi, vclient: KubeClient, vclock: ManualClock
) -> None:
    """The API server drops every connection and refuses new ones: the informer backs off (0.8 s, 1.6 s...),
    then re-watches from its last RV; no LIST, and changes made meanwhile arrive as events."""
    api.add(JOBS, job("a"))
    informer, recorder = make(vclient, vclock)
    await eventually(lambda: len(api.watchers) == 1)
    await api.stop()
    await vclock.wait_sleepers(1)
    await vclock.advance(0.8)
    await vclock.wait_sleepers(1)
    assert vclock.sleeps == [0.8, 1.6]
    await api.start()
    api.add(JOBS, job("b"))
    await vclock.advance(1.6)
    await eventually(lambda: ("ADDED", "b") in recorder.kinds())
    assert len(lists(api)) == 1
    assert [w["resourceVersion"] for w in watches(api)] == ["101", "101"]
    assert informer.state is InformerState.WATCHING
    await informer.stop()


async def test_410_relists_once_with_synthetic_deletes(api: FakeApi, vclient: KubeClient, vclock: ManualClock) -> None:
    """History lost while disconnected: the re-watch gets an ERROR 410, the informer relists exactly once
    (consistent read, RV ""), and delivers DELETED for the vanished key, ADDED for the new one, MODIFIED
    for the changed one, nothing for the unchanged one."""
    for name in ("gone", "same", "changed"):
        api.add(JOBS, job(name))
    informer, recorder = make(vclient, vclock)
    await eventually(lambda: len(api.watchers) == 1)
    api.change_unseen(JOBS, remove=["gone"], add=[job("new")])
    api.watchers, watchers = set(), api.watchers
    api.modify(JOBS, "ns", "changed", spec={"v": 2})
    api.compact()
    api.watchers = watchers
    await vclock.advance(2.0)  # the watch has lived past the very-short threshold
    api.close_watches()
    await eventually(lambda: len(lists(api)) == 2 and len(api.watchers) == 1)
    assert lists(api)[1] == {"limit": "500", "resourceVersion": ""}
    assert recorder.kinds()[3:] == [("DELETED", "gone"), ("MODIFIED", "changed"), ("ADDED", "new")]
    assert sorted(o["metadata"]["name"] for o in informer.cache.list()) == ["changed", "new", "same"]
    assert watches(api)[-1]["resourceVersion"] == str(api.rv)
    await informer.stop()


async def test_http_410_on_watch_relists_too(api: FakeApi, vclient: KubeClient, vclock: ManualClock) -> None:
    """A watch answered with HTTP 410 (not an ERROR event) also relists, once, without backing off."""
    informer, _ = make(vclient, vclock)
    await eventually(lambda: len(api.watchers) == 1)
    api.faults.append(Fault(status=410, watch=True))
    await vclock.advance(2.0)
    api.close_watches()
    await eventually(lambda: len(lists(api)) == 2 and len(api.watchers) == 1)
    assert vclock.sleeps == []
    await informer.stop()


async def test_expired_continue_token_restarts_the_list(api: FakeApi, vclient: KubeClient, vclock: ManualClock) -> None:
    """A continue token that expired mid-list (410) restarts the list from the first page with RV ""."""
    for i in range(3):
        api.add(JOBS, job(f"j{i}"))
    api.faults.append(Fault(status=410, path="/jobs", watch=False))
    api.faults[-1].times = 1
    api.faults.insert(0, Fault(action="delay", delay=0, watch=False))
    informer, _ = make(vclient, vclock, page_size=2)
    await asyncio.wait_for(informer.synced.wait(), 2)
    assert lists(api) == [
        {"limit": "2", "resourceVersion": "0"},
        {"limit": "2", "continue": "2"},
        {"limit": "2", "resourceVersion": ""},
        {"limit": "2", "continue": "2"},
    ]
    assert len(informer.cache) == 3
    await informer.stop()


async def test_silent_stall_reconnects_after_the_inactivity_timeout(
    api: FakeApi, vclient: KubeClient, vclock: ManualClock
) -> None:
    """A watch that stays open and says nothing is abandoned after the inactivity timeout and resumed from
    the last RV after a backoff; no relist."""
    api.faults.append(Fault(action="stall", watch=True))
    informer, _ = make(vclient, vclock, inactivity_timeout=0.1)
    await vclock.wait_sleepers(1)
    assert informer.last_error == "0 InactivityTimeout: watch /apis/batch/v1/jobs: nothing received for 0.1 s"
    await vclock.advance(0.8)
    await eventually(lambda: len(watches(api)) == 2)
    assert len(lists(api)) == 1
    await informer.stop()


async def test_bookmarks_keep_a_quiet_watch_alive(api: FakeApi, vclient: KubeClient, vclock: ManualClock) -> None:
    """Bookmarks arriving within the inactivity timeout re-arm it: no false reconnect on a quiet kind. The timeout
    runs in real time and a reconnect would first back off on the virtual clock, which never moves here: so the
    watch would still be one after a timeout; what tells is the state, the error and the backoff asked for (without
    the bookmarks, the watch times out after 0.5 s of these 1.2)."""
    informer, _ = make(vclient, vclock, inactivity_timeout=0.5)
    await eventually(lambda: len(api.watchers) == 1)
    for _ in range(12):
        await asyncio.sleep(0.1)
        api.bookmark()
    assert (informer.state, informer.last_error, vclock.sleeps) == (InformerState.WATCHING, "", [])
    assert len(watches(api)) == 1
    await informer.stop()


async def test_immediate_close_backs_off_without_a_hot_loop(
    api: FakeApi, vclient: KubeClient, vclock: ManualClock
) -> None:
    """A proxy that accepts the watch and closes it at once with no event: each such watch counts as a
    failure, so the delays grow 0.8 → 25.6 s and reconnects stay under one per second on average."""
    api.faults.append(Fault(action="close", watch=True, times=6))
    informer, _ = make(vclient, vclock)
    for _ in range(6):
        await vclock.wait_sleepers(1)
        await vclock.advance(vclock.sleeps[-1])
    await eventually(lambda: len(api.watchers) == 1)
    assert vclock.sleeps == [0.8, 1.6, 3.2, 6.4, 12.8, 25.6]
    assert len(watches(api)) == 7
    assert len(lists(api)) == 1
    await informer.stop()


async def test_429_backs_off_at_least_retry_after_without_relisting(
    api: FakeApi, vclient: KubeClient, vclock: ManualClock
) -> None:
    """A throttled watch waits max(backoff, Retry-After) and resumes from the last RV: no relist."""
    informer, _ = make(vclient, vclock)
    await eventually(lambda: len(api.watchers) == 1)
    api.faults.append(Fault(status=429, watch=True, headers={"Retry-After": "5"}))
    await vclock.advance(2.0)
    api.close_watches()
    await vclock.wait_sleepers(1)
    assert vclock.sleeps == [5.0]
    await vclock.advance(5.0)
    await eventually(lambda: len(api.watchers) == 1)
    assert len(lists(api)) == 1
    await informer.stop()


async def test_5xx_on_list_backs_off_then_syncs(api: FakeApi, vclient: KubeClient, vclock: ManualClock) -> None:
    """A failing LIST is retried after a growing backoff; the informer syncs once the server recovers."""
    api.faults.append(Fault(status=500, watch=False, times=2))
    informer, _ = make(vclient, vclock)
    for _ in range(2):
        await vclock.wait_sleepers(1)
        await vclock.advance(vclock.sleeps[-1])
    await asyncio.wait_for(informer.synced.wait(), 2)
    assert vclock.sleeps == [0.8, 1.6]
    assert informer.last_error == "500 Injected: injected 500"
    await informer.stop()


async def test_401_rereads_the_rotated_token_and_recovers(api: FakeApi, tmp_path: Path, vclock: ManualClock) -> None:
    """The token rotates while watching: the watch's 401 makes the client re-read the file, and the next
    attempt (after a backoff) carries the new token; no relist."""
    token = tmp_path / "token"
    token.write_text("one")
    api.token = "one"
    settings = KubeSettings(host=api.url, authorization="Bearer one", token_file=str(token))
    async with KubeClient(settings, clock=vclock) as client:
        informer, _ = make(client, vclock)
        await eventually(lambda: len(api.watchers) == 1)
        api.token = "two"
        token.write_text("two")
        await vclock.advance(2.0)
        api.close_watches()
        await vclock.wait_sleepers(1)
        await vclock.advance(0.8)
        await eventually(lambda: len(api.watchers) == 1)
        assert [r.authorization for r in api.requests] == ["Bearer one", "Bearer one", "Bearer one", "Bearer two"]
        assert len(lists(api)) == 1
        await informer.stop()


async def test_kind_no_longer_served_empties_the_cache_and_ends(
    api: FakeApi, vclient: KubeClient, vclock: ManualClock
) -> None:
    """A 404 on the watch (the CRD was deleted) delivers DELETED for what was cached and ends the informer."""
    api.add(JOBS, job("a"))
    informer, recorder = make(vclient, vclock)
    await eventually(lambda: len(api.watchers) == 1)
    api.faults.append(Fault(status=404, watch=True))
    await vclock.advance(2.0)
    api.close_watches()
    await asyncio.wait_for(informer.run(), 2)
    assert informer.state is InformerState.GONE
    assert recorder.kinds() == [("ADDED", "a"), ("DELETED", "a")]
    assert len(informer.cache) == 0


async def test_stop_cancels_cleanly_and_drops_the_cache(api: FakeApi, vclient: KubeClient, vclock: ManualClock) -> None:
    """stop() ends the watch (the server sees the connection go), empties the cache, delivers nothing, and
    a pending run() returns normally."""
    api.add(JOBS, job("a"))
    informer, recorder = make(vclient, vclock)
    runner = asyncio.create_task(informer.run())
    await eventually(lambda: len(api.watchers) == 1)
    await informer.stop()
    await asyncio.wait_for(runner, 1)
    assert informer.state is InformerState.STOPPED
    assert len(informer.cache) == 0
    assert recorder.kinds() == [("ADDED", "a")]
    await eventually(lambda: not api.watchers)


async def test_handler_errors_do_not_stop_the_informer(api: FakeApi, vclient: KubeClient, vclock: ManualClock) -> None:
    """A handler that raises is logged; the cache and later events are unaffected."""
    seen: list[str] = []

    def handler(kind: EventKind, old: Obj | None, new: Obj | None) -> None:
        seen.append(kind.value)
        raise RuntimeError("boom")

    informer = Informer(vclient, InformerOptions(JOBS), handler, clock=vclock)
    informer.start()
    await eventually(lambda: len(api.watchers) == 1)
    api.add(JOBS, job("a"))
    api.add(JOBS, job("b"))
    await eventually(lambda: len(informer.cache) == 2)
    assert seen == ["ADDED", "ADDED"]
    await informer.stop()


async def test_projection_drops_paths_before_caching(api: FakeApi, vclient: KubeClient, vclock: ManualClock) -> None:
    """Configured paths (dotted, [*] over lists, quoted keys) are removed from listed and watched objects."""
    big = job("a", annotations={"example.com/big": "x" * 100, "small": "y"})
    big["spec"] = {"template": {"spec": {}}, "parallelism": 1}
    big["status"] = {"conditions": [{"type": "Complete", "message": "long text"}]}
    api.add(JOBS, big)
    paths = ["spec.template", "status.conditions[*].message", "$.metadata.annotations['example.com/big']"]
    informer, _ = make(vclient, vclock, projection=paths)
    await asyncio.wait_for(informer.synced.wait(), 2)
    await eventually(lambda: len(api.watchers) == 1)
    api.add(JOBS, {**big, "metadata": {**big["metadata"], "name": "b"}})
    await eventually(lambda: len(informer.cache) == 2)
    for name in ("a", "b"):
        cached = informer.cache.get("ns", name)
        assert cached is not None
        assert cached["spec"] == {"parallelism": 1}
        assert cached["status"] == {"conditions": [{"type": "Complete"}]}
        assert cached["metadata"]["annotations"] == {"small": "y"}
    await informer.stop()


async def test_namespace_scope_and_label_selector_reach_the_server(
    api: FakeApi, vclient: KubeClient, vclock: ManualClock
) -> None:
    """A namespaced informer with a selector lists and watches only its namespace and labels."""
    api.add(JOBS, job("mine", labels={"app": "x"}))
    api.add(JOBS, job("other-label", labels={"app": "y"}))
    api.add(JOBS, job("other-ns", namespace="elsewhere", labels={"app": "x"}))
    informer, _ = make(vclient, vclock, namespace="ns", label_selector="app=x")
    await asyncio.wait_for(informer.synced.wait(), 2)
    await eventually(lambda: len(api.watchers) == 1)
    assert [o["metadata"]["name"] for o in informer.cache.list()] == ["mine"]
    paths = {r.path for r in api.requests}
    assert paths == {"/apis/batch/v1/namespaces/ns/jobs"}
    assert watches(api)[0]["labelSelector"] == "app=x"
    await informer.stop()


def test_an_informer_names_its_scope_in_logs() -> None:
    """A namespaced kind's informer is "in all namespaces" (or its namespace); a cluster-scoped kind's says so, not
    "in all namespaces", which it has none of."""
    classes = ResourceType(GVK("example.com", "v1", "WidgetClass"), "widgetclasses", False)
    assert str(InformerOptions(JOBS)) == "batch/v1/Job in all namespaces"
    assert str(InformerOptions(JOBS, namespace="a", label_selector="app=x")) == "batch/v1/Job in a [app=x]"
    assert str(InformerOptions(classes)) == "example.com/v1/WidgetClass (cluster-scoped)"
