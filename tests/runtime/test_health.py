"""HealthServer: liveness, readiness with reasons, the latched startup probe, the Go chart's aliases, /metrics."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from engine.runtime.health import EndpointOptions, HealthServer


class State:
    def __init__(self) -> None:
        self.problems = ["rules not compiled", "informer batch/v1/Job in all namespaces: listing"]

    def readiness(self) -> list[str]:
        return list(self.problems)


@pytest.fixture
async def served() -> AsyncIterator[tuple[HealthServer, State, aiohttp.ClientSession]]:
    state = State()
    server = HealthServer(
        EndpointOptions(host="127.0.0.1", health_port=0, metrics_port=0),
        readiness=state.readiness,
        metrics=lambda: (b"engine_up 1\n", "text/plain; version=0.0.4; charset=utf-8"),
    )
    await server.start()
    async with aiohttp.ClientSession() as session:
        yield server, state, session
    await server.stop()


async def get(session: aiohttp.ClientSession, port: int, path: str, **kw: str) -> tuple[int, str]:
    async with session.get(f"http://127.0.0.1:{port}{path}", headers=kw) as resp:
        return resp.status, await resp.text()


async def test_liveness_and_its_aliases(served: tuple[HealthServer, State, aiohttp.ClientSession]) -> None:
    """/healthz, /livez and /health answer 200 while alive, whatever readiness says."""
    server, _, session = served
    for path in ("/healthz", "/livez", "/health"):
        assert await get(session, server.health_port, path) == (200, "alive\n")


async def test_readiness_says_what_is_not_ready(served: tuple[HealthServer, State, aiohttp.ClientSession]) -> None:
    """/readyz and /health/ready answer 503 listing each problem (text or JSON), then 200 once none is left."""
    server, state, session = served
    status, text = await get(session, server.health_port, "/readyz")
    assert (status, text) == (
        503,
        "not ready:\n- rules not compiled\n- informer batch/v1/Job in all namespaces: listing\n",
    )
    status, body = await get(session, server.health_port, "/health/ready", Accept="application/json")
    assert status == 503
    assert json.loads(body) == {"status": "not ready", "failures": state.problems}
    state.problems = []
    assert await get(session, server.health_port, "/readyz") == (200, "ready\n")
    async with session.get(f"http://127.0.0.1:{server.health_port}/readyz?format=json") as resp:
        assert await resp.json() == {"status": "ready", "failures": []}


async def test_startup_latches_once_ready(served: tuple[HealthServer, State, aiohttp.ClientSession]) -> None:
    """/startup fails until the first time the operator is ready, then stays 200 (a later relist must not
    make the kubelet restart the pod)."""
    server, state, session = served
    assert (await get(session, server.health_port, "/startup"))[0] == 503
    state.problems = []
    assert await get(session, server.health_port, "/startup") == (200, "started\n")
    state.problems = ["informer relisting"]
    assert await get(session, server.health_port, "/startup") == (200, "started\n")
    assert (await get(session, server.health_port, "/readyz"))[0] == 503


async def test_metrics_on_their_own_port(served: tuple[HealthServer, State, aiohttp.ClientSession]) -> None:
    """/metrics is served on the metrics port with the renderer's content type, not on the health port."""
    server, _, session = served
    assert server.metrics_port != server.health_port
    async with session.get(f"http://127.0.0.1:{server.metrics_port}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert await resp.text() == "engine_up 1\n"
    assert (await get(session, server.health_port, "/metrics"))[0] == 404


async def test_other_methods_paths_and_malformed_requests_get_their_status() -> None:
    """HEAD answers like GET without a body; a POST is 405, an unknown path 404, a malformed request line 400;
    a client that never finishes its request does not keep the server from answering others."""
    server = HealthServer(EndpointOptions(host="127.0.0.1", health_port=0, metrics_port=None), readiness=list)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.head(f"http://127.0.0.1:{server.health_port}/healthz") as resp:
                assert (resp.status, resp.headers["Content-Length"], await resp.read()) == (200, "6", b"")
            async with session.post(f"http://127.0.0.1:{server.health_port}/healthz") as resp:
                assert resp.status == 405
            assert (await get(session, server.health_port, "/nothing"))[0] == 404
            _, silent = await asyncio.open_connection("127.0.0.1", server.health_port)
            silent.write(b"GET /healthz HTTP/1.1\r\n")  # never finished
            reader, writer = await asyncio.open_connection("127.0.0.1", server.health_port)
            writer.write(b"NONSENSE\r\n\r\n")
            assert (await reader.read()).startswith(b"HTTP/1.1 400 Bad Request\r\n")
            writer.close()
            assert await get(session, server.health_port, "/livez") == (200, "alive\n")
            silent.close()
    finally:
        await server.stop()
