"""Watch semantics through the official Python client: replay from an RV, bookmarks, 410, filters."""

from __future__ import annotations

from typing import Any

import kubernetes
import pytest
from kubernetes.client import ApiException


def core(client: Any) -> Any:
    return kubernetes.client.CoreV1Api(client)


def watch_events(client: Any, timeout: int = 1, **kwargs: Any) -> list[tuple[str, str, str]]:
    """(type, name, resourceVersion) of raw watch events until the server closes after `timeout` s."""
    w = kubernetes.watch.Watch()
    out = []
    stream = w.stream(core(client).list_namespaced_config_map, "default", timeout_seconds=timeout, **kwargs)
    for event in stream:
        obj = event["raw_object"]
        out.append((event["type"], obj["metadata"].get("name", ""), obj["metadata"]["resourceVersion"]))
    return out


def test_watch_replays_exactly_after_a_list(api_client: Any) -> None:
    """A watch from a list's resourceVersion replays every later change, in order, with deletion RVs."""
    api = core(api_client)
    api.create_namespaced_config_map("default", {"metadata": {"name": "before"}})
    listed = api.list_namespaced_config_map("default")
    api.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    api.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})
    deleted = api.delete_namespaced_config_map("a", "default")
    events = watch_events(api_client, resource_version=listed.metadata.resource_version)
    assert [(t, n) for t, n, _ in events] == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
    versions = [int(rv) for _, _, rv in events]
    assert versions == sorted(versions)
    assert deleted["details"]["uid"]


def test_watch_from_zero_sends_synthetic_added(api_client: Any) -> None:
    """resourceVersion "0" (or unset) starts with ADDED events for the current state."""
    api = core(api_client)
    api.create_namespaced_config_map("default", {"metadata": {"name": "x"}})
    assert [(t, n) for t, n, _ in watch_events(api_client, resource_version="0")] == [("ADDED", "x")]


def test_bookmarks_arrive_periodically(kubesim_factory: Any) -> None:
    """allowWatchBookmarks gives BOOKMARK events carrying only the current resourceVersion."""
    sim = kubesim_factory(bookmark_interval=0.2)
    client = kubernetes.config.new_client_from_config(str(sim.kubeconfig_path))
    try:
        rv = core(client).list_namespaced_config_map("default").metadata.resource_version
        response = core(client).list_namespaced_config_map(
            "default",
            watch=True,
            allow_watch_bookmarks=True,
            resource_version=rv,
            timeout_seconds=1,
            _preload_content=False,
        )
        lines = [line for line in response.read().decode().splitlines() if line]
    finally:
        client.close()
    assert len(lines) >= 3
    import json

    first = json.loads(lines[0])
    assert first["type"] == "BOOKMARK"
    assert first["object"] == {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": sim.resource_version},
    }


def test_compacted_history_answers_410(kubesim: Any, api_client: Any) -> None:
    """After a compaction, a watch from an older resourceVersion gets an ERROR event with 410 Expired."""
    api = core(api_client)
    rv = api.list_namespaced_config_map("default").metadata.resource_version
    api.create_namespaced_config_map("default", {"metadata": {"name": "after"}})
    kubesim.faults.compact()
    response = api.list_namespaced_config_map(
        "default", watch=True, resource_version=rv, timeout_seconds=1, _preload_content=False
    )
    import json

    event = json.loads(response.read().decode().splitlines()[0])
    assert event["type"] == "ERROR"
    status = event["object"]
    assert (status["code"], status["reason"]) == (410, "Expired")
    assert status["message"].startswith(f"too old resource version: {rv} (")


def test_history_window_is_bounded(kubesim_factory: Any) -> None:
    """With a history of 3 events, a watch from before the 4th-last change gets 410."""
    sim = kubesim_factory(history_size=3)
    client = kubernetes.config.new_client_from_config(str(sim.kubeconfig_path))
    try:
        api = core(client)
        rv = api.list_namespaced_config_map("default").metadata.resource_version
        for i in range(5):
            api.create_namespaced_config_map("default", {"metadata": {"name": f"c{i}"}})
        w = kubernetes.watch.Watch()
        with pytest.raises(ApiException) as exc:
            list(w.stream(api.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1))
        assert exc.value.status == 410
    finally:
        client.close()


def test_selector_transitions(api_client: Any) -> None:
    """In a label-filtered watch, an object that starts matching is ADDED and one that stops is DELETED."""
    api = core(api_client)
    api.create_namespaced_config_map("default", {"metadata": {"name": "m", "labels": {"app": "no"}}})
    rv = api.list_namespaced_config_map("default").metadata.resource_version
    api.patch_namespaced_config_map("m", "default", {"metadata": {"labels": {"app": "yes"}}})
    api.patch_namespaced_config_map("m", "default", {"data": {"k": "v"}})
    api.patch_namespaced_config_map("m", "default", {"metadata": {"labels": {"app": "no"}}})
    events = watch_events(api_client, resource_version=rv, label_selector="app=yes")
    assert [(t, n) for t, n, _ in events] == [("ADDED", "m"), ("MODIFIED", "m"), ("DELETED", "m")]


def test_timeout_seconds_closes_the_stream(api_client: Any) -> None:
    """timeoutSeconds ends the watch cleanly, when it says: not before, and not long after (the client has no timeout
    of its own: without the server's, the stream would stay open; the bound above is loose for a busy machine)."""
    import time

    started = time.monotonic()
    assert watch_events(api_client, timeout=1, resource_version="0") == []
    assert 0.9 < time.monotonic() - started < 10


def test_send_initial_events_ends_with_a_bookmark(kubesim: Any, api_client: Any) -> None:
    """sendInitialEvents streams the state then the k8s.io/initial-events-end bookmark."""
    import json

    core(api_client).create_namespaced_config_map("default", {"metadata": {"name": "i"}})
    response = core(api_client).list_namespaced_config_map(
        "default",
        watch=True,
        send_initial_events=True,
        allow_watch_bookmarks=True,
        resource_version_match="NotOlderThan",
        timeout_seconds=1,
        _preload_content=False,
    )
    events = [json.loads(line) for line in response.read().decode().splitlines() if line]
    assert [e["type"] for e in events[:2]] == ["ADDED", "BOOKMARK"]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
