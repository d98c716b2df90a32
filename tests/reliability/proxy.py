"""A man-in-the-middle for watch streams: duplicate events, delay one resource's events, deliver them in bursts.

Where this sits: between the operator and kubesim, for the faults kubesim cannot make itself (it delivers each
event once, in order, as soon as it is committed). The operator's kubeconfig points at the proxy (plain HTTP
on loopback, the same bearer token); every request is forwarded to kubesim over TLS unchanged, User-Agent
included (so kubesim's request log still tells the operator apart). Watch answers are re-cut into lines and:
- `duplicate`: every line is written twice (an at-least-once transport);
- `delay[resource]`: that resource's lines reach the operator this many seconds late (events of other kinds
  overtake them: a Job event before the stream event that caused it; a cache older than its own writes);
- `hold`: the lines of these resources are held, and written in one go when the resource leaves the set (a
  burst of MODIFIED events for one key arrives as one batch);
- `gone`: the next watch request of each of these resources is answered `410 Gone` over HTTP (the other way an
  API server says a resourceVersion is too old; kubesim says it with an ERROR event).
Order within one watch is always kept. The proxy runs on its own thread and loop, like kubesim.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yaml
from aiohttp import web
from e2e.conftest import StartOperator
from e2e.harness import OperatorProcess

from kubesim import KubeSim, tlsdata

from .bed import PRUNED, Bed, wait_ready

EXPIRED = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "too old resource version",
    "reason": "Expired",
    "code": 410,
}
HOP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive"})


@dataclass
class Mangling:
    """What the proxy does to watch lines now (changed at any time by the test)."""

    duplicate: bool = False
    delay: dict[str, float] = field(default_factory=dict)
    hold: set[str] = field(default_factory=set)
    gone: set[str] = field(default_factory=set)


class WatchProxy:
    """`start()` serves on 127.0.0.1 (a free port) until `stop()`; `kubeconfig(path)` points a client at it."""

    def __init__(self, sim: KubeSim) -> None:
        self.sim = sim
        self.mangling = Mangling()
        self.port = 0
        self.lines = 0
        """Watch lines received from kubesim."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._answers: set[aiohttp.ClientResponse] = set()

    def start(self) -> WatchProxy:
        self._thread = threading.Thread(target=self._run, name="watch proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the watch proxy did not start")
        if self._error is not None:
            raise RuntimeError(f"the watch proxy failed to start: {self._error!r}")
        return self

    def stop(self) -> None:
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None:
            loop.call_soon_threadsafe(stopped.set)
        if self._thread is not None:
            self._thread.join(15)

    def kubeconfig(self, path: Path) -> Path:
        """A kubeconfig for the operator: the proxy's URL and the simulator's token."""
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "proxy", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
            "users": [{"name": "operator", "user": {"token": self.sim.token}}],
            "contexts": [{"name": "proxy", "context": {"cluster": "proxy", "user": "operator"}}],
            "current-context": "proxy",
        }
        path.write_text(yaml.safe_dump(doc))
        return path

    # --- the proxy's own loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported by start() or seen as a dead proxy by the test
            self._error = error
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        connector = aiohttp.TCPConnector(ssl=tlsdata.client_context(), limit=0)
        upstream = aiohttp.ClientSession(connector=connector, auto_decompress=False)

        async def forward(request: web.Request) -> web.StreamResponse:
            return await self._forward(request, upstream)

        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", forward)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = int(runner.addresses[0][1])
            self._ready.set()
            await self._stopped.wait()
        finally:
            for answer in list(self._answers):  # open watches: drop them now (a TLS goodbye would never finish)
                connection = answer.connection
                if connection is not None and connection.transport is not None:
                    connection.transport.abort()
                answer.close()
            await runner.cleanup()
            # TLS connections to kubesim are aborted, not closed with a goodbye nobody waits for (a leaked socket).
            await connector.close(abort_ssl=True)
            await upstream.close()

    async def _forward(self, request: web.Request, upstream: aiohttp.ClientSession) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        body = await request.read()
        url = f"{self.sim.url}{request.path_qs}"
        watch = request.query.get("watch") in ("true", "1")
        resource = _resource(request.path)
        if watch and resource in self.mangling.gone:
            self.mangling.gone.discard(resource)
            return web.json_response(EXPIRED, status=410)
        timeout = aiohttp.ClientTimeout(total=None if watch else 120)
        async with upstream.request(request.method, url, headers=headers, data=body or None, timeout=timeout) as answer:
            self._answers.add(answer)
            try:
                return await self._answer(request, answer, watch)
            finally:
                self._answers.discard(answer)

    async def _answer(self, request: web.Request, answer: aiohttp.ClientResponse, watch: bool) -> web.StreamResponse:
        if not watch or answer.status != 200:
            data = await answer.read()
            return web.Response(status=answer.status, body=data, headers=_kept(answer.headers))
        response = web.StreamResponse(status=200, headers=_kept(answer.headers))
        await response.prepare(request)
        await self._relay(answer, response, _resource(request.path))
        return response

    async def _relay(self, answer: aiohttp.ClientResponse, response: web.StreamResponse, resource: str) -> None:
        """Copy a watch line by line, mangled; the writer task keeps the order of every line of this watch."""
        queue: asyncio.Queue[tuple[float, bytes] | tuple[()] | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        async def writer() -> None:
            held: list[bytes] = []
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), 0.05 if held else None)
                except TimeoutError:  # only while holding: is the resource released?
                    item = ()
                if item:
                    due, line = item
                    if due > loop.time():
                        await asyncio.sleep(due - loop.time())
                    held.append(line)
                if held and (item is None or resource not in self.mangling.hold):
                    await response.write(b"".join(held))
                    held.clear()
                if item is None:
                    return

        task = asyncio.create_task(writer())
        try:
            while line := await answer.content.readline():
                self.lines += 1
                copies = 2 if self.mangling.duplicate else 1
                due = loop.time() + self.mangling.delay.get(resource, 0.0)
                for _ in range(copies):
                    queue.put_nowait((due, line))
        except (aiohttp.ClientError, ConnectionResetError):
            pass  # kubesim ended the watch (dropped, restarted)
        finally:
            queue.put_nowait(None)
            with contextlib.suppress(ConnectionResetError, aiohttp.ClientError, RuntimeError):
                await task  # fails when the operator went away


def _kept(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in HOP_HEADERS and k.lower() != "content-encoding"}


def _resource(path: str) -> str:
    """The plural of a collection path (`/apis/g/v/namespaces/ns/plural` or `/api/v1/plural`)."""
    return path.rstrip("/").rsplit("/", 1)[-1]


def through(proxy: WatchProxy, operators: StartOperator, bed: Bed, tmp_path: Path) -> OperatorProcess:
    """An operator whose kubeconfig points at the proxy, ready, watching the DEMO and PRUNED kinds."""
    # The harness passes the simulator's kubeconfig first; argparse keeps the last --kubeconfig.
    operator = operators(bed.sim, "--kubeconfig", str(proxy.kubeconfig(tmp_path / "proxy.kubeconfig")))
    wait_ready(operator)
    wait_ready(operator, PRUNED)
    return operator
