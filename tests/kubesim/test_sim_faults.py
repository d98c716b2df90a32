"""Fault injection: each fault, observed through the official client and the request log."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import kubernetes
import pytest
from kubernetes.client import ApiException

from kubesim.tlsdata import client_context


def core(client: Any) -> Any:
    return kubernetes.client.CoreV1Api(client)


def test_fail_next_with_retry_after(kubesim: Any) -> None:
    """The next N matching requests answer 429 with Retry-After and details.retryAfterSeconds, then recover."""
    kubesim.faults.fail_next(2, 429, verb="list", resource="configmaps", retry_after=3)
    for _ in range(2):
        with pytest.raises(urllib.error.HTTPError) as exc:
            stream_lines(kubesim, "/api/v1/namespaces/default/configmaps")
        assert exc.value.code == 429
        assert exc.value.headers["Retry-After"] == "3"
        body = json.loads(exc.value.read())
        assert (body["reason"], body["details"]["retryAfterSeconds"]) == ("TooManyRequests", 3)
    assert stream_lines(kubesim, "/api/v1/namespaces/default/configmaps")
    faulted = kubesim.requests.filter(faulted=True)
    assert [(r.verb, r.status, r.fault) for r in faulted] == [("list", 429, "error:429")] * 2


def test_official_client_honours_retry_after(kubesim: Any, api_client: Any) -> None:
    """The official client (urllib3) retries a 429 after Retry-After seconds."""
    kubesim.faults.fail_next(1, 429, verb="list", resource="configmaps", retry_after=1)
    started = time.monotonic()
    core(api_client).list_namespaced_config_map("default")
    assert time.monotonic() - started >= 1
    assert [r.status for r in kubesim.requests.filter(verb="list", resource="configmaps")] == [429, 200]


def test_fail_with_500_and_503(kubesim: Any, api_client: Any) -> None:
    """500 and 503 carry InternalError and ServiceUnavailable reasons."""
    kubesim.faults.fail_next(1, 500, verb="create")
    kubesim.faults.fail_next(1, 503, verb="create")
    reasons = []
    for _ in range(2):
        with pytest.raises(ApiException) as exc:
            core(api_client).create_namespaced_config_map("default", {"metadata": {"name": "x"}})
        reasons.append(json.loads(exc.value.body)["reason"])
    assert reasons == ["InternalError", "ServiceUnavailable"]


def test_latency(kubesim: Any, api_client: Any) -> None:
    """Latency delays matching requests only."""
    kubesim.faults.add_latency(0.3, verb="get", resource="namespaces")
    started = time.monotonic()
    core(api_client).read_namespace("default")
    assert time.monotonic() - started >= 0.3
    assert kubesim.requests.filter(verb="get", resource="namespaces")[-1].fault == "latency:0.3"


def stream_lines(sim: Any, path: str, timeout: float = 3.0) -> list[str]:
    req = urllib.request.Request(f"{sim.url}{path}", headers={"Authorization": f"Bearer {sim.token}"})
    with urllib.request.urlopen(req, context=client_context(), timeout=timeout) as response:
        return [line for line in response.read().decode().splitlines() if line]


def test_drop_watches(kubesim: Any) -> None:
    """drop_watches ends every open watch at once."""
    import threading

    result: list[list[str]] = []
    thread = threading.Thread(
        target=lambda: result.append(
            stream_lines(kubesim, "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=30")
        )
    )
    thread.start()
    deadline = time.monotonic() + 5
    while not kubesim.runtime.watchers and time.monotonic() < deadline:
        time.sleep(0.01)
    assert kubesim.faults.drop_watches() == 1
    thread.join(5)
    # Ended by the drop: the server's own timeout is 30 s, and the client's read timeout (3 s) would have raised.
    assert not thread.is_alive()
    assert result == [[]]


def test_close_watches_on_open(kubesim: Any) -> None:
    """close_watches_on_open answers watches with an empty stream, repeatedly."""
    kubesim.faults.close_watches_on_open(resource="configmaps")
    for _ in range(2):
        assert stream_lines(kubesim, "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=30") == []
    assert [r.fault for r in kubesim.requests.filter(verb="watch")] == ["close-watch", "close-watch"]


def test_stalled_watch_is_silent(kubesim_factory: Any) -> None:
    """A stalled watch sends neither events nor bookmarks."""
    sim = kubesim_factory(bookmark_interval=0.1)
    sim.faults.stall_watches(resource="configmaps")
    sim.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    lines = stream_lines(
        sim, "/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true&timeoutSeconds=1"
    )
    assert lines == []


def test_restart_refuses_connections_and_keeps_resource_versions(kubesim: Any) -> None:
    """A restart closes connections, refuses new ones for a while, and keeps the store and its RVs."""
    before = kubesim.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kept"}})
    kubesim.faults.restart(down_for=0.5)
    with pytest.raises(urllib.error.URLError):
        stream_lines(kubesim, "/version", timeout=1)
    kubesim.wait_until_serving()
    client = kubernetes.config.new_client_from_config(str(kubesim.kubeconfig_path))
    try:
        kept = core(client).read_namespaced_config_map("kept", "default")
        after = core(client).create_namespaced_config_map("default", {"metadata": {"name": "new"}})
    finally:
        client.close()
    assert kept.metadata.resource_version == before["metadata"]["resourceVersion"]
    assert int(after.metadata.resource_version) > int(before["metadata"]["resourceVersion"])


def test_token_rotation(kubesim: Any) -> None:
    """After a rotation the old token gets 401 (logged as a fault) and the rewritten kubeconfig works."""
    old = kubesim.token
    kubesim.faults.rotate_token()
    assert kubesim.token != old
    stale = kubernetes.client.Configuration()
    stale.host = kubesim.url
    stale.api_key = {"authorization": f"Bearer {old}"}
    stale.ssl_ca_cert = None
    stale.verify_ssl = False
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stale_client = kubernetes.client.ApiClient(stale)
        try:
            with pytest.raises(ApiException) as exc:
                core(stale_client).list_namespace()
        finally:
            stale_client.close()
    assert exc.value.status == 401
    assert kubesim.requests.filter(status=401)[-1].fault == "token-rejected"
    fresh = kubernetes.config.new_client_from_config(str(kubesim.kubeconfig_path))
    try:
        assert core(fresh).list_namespace().items
    finally:
        fresh.close()


def test_admin_endpoint(kubesim: Any) -> None:
    """The admin endpoint injects faults and serves the request log without a token."""
    req = urllib.request.Request(
        f"{kubesim.url}/kubesim/faults",
        json.dumps({"action": "fail_next", "count": 1, "status": 503, "verb": "get"}).encode(),
        {"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, context=client_context()) as response:
        assert response.status == 200
    assert [r.kind for r in kubesim.faults.rules] == ["error"]
    with urllib.request.urlopen(f"{kubesim.url}/kubesim/requests?verb=get", context=client_context()) as response:
        assert json.loads(response.read())["items"] == []
