"""kubesim alone: creates/s, patches/s, watch events/s to 10 watchers, paginated list, TLS handshakes/s.

A benchmark, not a test: `run(quick, tls=True)` returns the figures, `python bench/kubesim_bench.py
[--quick] [--plain] [--both] [--no-managed-fields]` prints them as JSON.

What it measures is kubesim's capacity on one core: the simulator runs in its own process pinned to
CPU 0 (`os.sched_setaffinity`), the load in another pinned to CPU 1 (on a one-core machine neither is
pinned). The load client is raw asyncio (pre-encoded HTTP/1.1 requests, 32 keep-alive connections, one
request in flight on each, as client-go does), far cheaper per request than the server, and reports
its own CPU share so that it can be seen not to be the limit. Beside the wall-clock rates, the figures
carry the server process's CPU time per operation (from /proc), and the capacity it implies
(operations per second of server CPU): on a busy machine the wall-clock rates fall with the CPU the
server gets, the per-operation cost does not.

Phases, 10,000 objects (1,000 with `quick`): creates, merge patches, a paginated list (limit=500) and
an unpaginated one (each 5 times), then watch fan-out (10 watchers from one resourceVersion receive
every event of 5,000 patches while 10,000 objects are stored), then new connections (TLS handshake +
one GET each, measured apart from the keep-alive phases). Targets (issue 2): 2,000 writes/s and
20,000 watch events/s on one core; `capacity_meets_targets` compares the capacity figures with them.
Figures and their history: docs/kubesim.md, "kubesim capacity".
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import ssl
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

import orjson

CONCURRENCY = 32
WATCHERS = 10
LIST_ROUNDS = 5
TARGET_WRITES_PER_S = 2_000  # issue 2: on one core, with 10,000 objects stored
TARGET_WATCH_EVENTS_PER_S = 20_000  # delivered to 10 watchers
_SERVER_CPU, _LOAD_CPU = 0, 1


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {cpu})


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- the server process


def _serve(conn: Connection, tls: bool, managed_fields: bool) -> None:
    _pin(_SERVER_CPU)
    from kubesim import KubeSim, SimOptions

    options = SimOptions(
        controllers=frozenset(), history_size=50_000, tls=tls, managed_fields=managed_fields, request_log_size=100_000
    )
    with KubeSim(options) as sim:
        conn.send((sim.url, sim.token, os.getpid()))
        conn.recv()  # any message stops the server


# ---------------------------------------------------------------- the load client


class _Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request in flight; answers are Content-Length or chunked."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).lower()
        status = int(head[9:12])
        at = head.find(b"content-length:")
        if at >= 0:
            length = int(head[at + 15 : head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None])
            if len(self.buf) < end + 4 + length:
                return
            body = bytes(self.buf[end + 4 : end + 4 + length])
            del self.buf[: end + 4 + length]
        else:
            decoded = _dechunk(self.buf, end + 4)
            if decoded is None:
                return
            body, used = decoded
            del self.buf[:used]
        waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection lost: {exc}"))

    async def request(self, data: bytes) -> tuple[int, bytes]:
        self.waiter = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(data)
        return await self.waiter


def _dechunk(buf: bytearray, start: int) -> tuple[bytes, int] | None:
    """A whole chunked body from `start`: (body, bytes used), or None when incomplete."""
    parts: list[bytes] = []
    at = start
    while True:
        line_end = buf.find(b"\r\n", at)
        if line_end < 0:
            return None
        size = int(bytes(buf[at:line_end]).split(b";")[0], 16)
        if size == 0:
            if len(buf) < line_end + 4:
                return None
            return b"".join(parts), line_end + 4
        if len(buf) < line_end + 2 + size + 2:
            return None
        parts.append(bytes(buf[line_end + 2 : line_end + 2 + size]))
        at = line_end + 2 + size + 2


class _Watch(asyncio.Protocol):
    """A watch stream: counts the event lines of its chunked body until `target` arrived."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.count = 0
        self.head_done = False
        self.buf = bytearray()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.head_done:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if self.buf[9:12] != b"200":
                self.ready.set_exception(RuntimeError(bytes(self.buf[:end]).decode()))
                return
            del self.buf[: end + 4]
            self.head_done = True
            self.ready.set_result(None)
        at = 0
        while True:  # chunk framing: "<hex>\r\n<data>\r\n"; events are newline-terminated lines
            line_end = self.buf.find(b"\r\n", at)
            if line_end < 0:
                break
            size = int(bytes(self.buf[at:line_end]), 16)
            if len(self.buf) < line_end + 2 + size + 2:
                break
            self.count += self.buf.count(b"\n", line_end + 2, line_end + 2 + size)
            at = line_end + 2 + size + 2
        del self.buf[:at]
        if self.count >= self.target and not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"watch lost after {self.count} events: {exc}"))


class _Load:
    def __init__(self, url: str, token: str, pid: int) -> None:
        self.tls = url.startswith("https://")
        host_port = url.split("://", 1)[1]
        self.host, port = host_port.rsplit(":", 1)
        self.port = int(port)
        self.pid = pid
        self.context: ssl.SSLContext | None = None
        if self.tls:
            from kubesim.tlsdata import client_context

            self.context = client_context()
        self.head = f"Host: {host_port}\r\nAuthorization: Bearer {token}\r\nUser-Agent: kubesim-bench/1.0\r\n"
        self.conns: list[_Conn] = []

    def build(self, method: str, path: str, body: bytes = b"", content_type: str = "application/json") -> bytes:
        head = f"{method} {path} HTTP/1.1\r\n{self.head}"
        if body:
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        return (head + "\r\n").encode() + body

    async def connect(self, factory: Any) -> Any:
        _transport, protocol = await asyncio.get_running_loop().create_connection(
            factory, self.host, self.port, ssl=self.context
        )
        return protocol

    async def measure(self, name: str, ops: int, work: Any, out: dict[str, Any]) -> float:
        """Run `work`, recording wall seconds and the server's and this process's CPU per operation."""
        server0, client0, started = _cpu_seconds(self.pid), time.process_time(), time.perf_counter()
        await work
        wall = time.perf_counter() - started
        server, client = _cpu_seconds(self.pid) - server0, time.process_time() - client0
        out["server_cpu_us_per_op"][name] = round(server * 1e6 / ops, 1)
        out["capacity_per_server_core"][name] = round(ops / server) if server else None
        out["server_cpu_share"][name] = round(server / wall, 2)
        out["load_client_cpu_share"][name] = round(client / wall, 2)
        return wall

    async def writes(self, requests: list[bytes], expect: int) -> None:
        queue = iter(requests)

        async def worker(conn: _Conn) -> None:
            for data in queue:
                status, body = await conn.request(data)
                if status != expect:
                    raise RuntimeError(f"{status}: {body[:300]!r}")

        await asyncio.gather(*(worker(c) for c in self.conns))

    async def paginated(self, limit: int) -> int:
        path = "/api/v1/namespaces/default/configmaps"
        seen, token = 0, ""
        while True:
            query = f"?limit={limit}" + (f"&continue={token}" if token else "") if limit else ""
            status, body = await self.conns[0].request(self.build("GET", path + query))
            assert status == 200, body[:300]
            page = orjson.loads(body)  # the client must stay cheaper than the server
            seen += len(page["items"])
            token = page["metadata"].get("continue", "")
            if not token:
                return seen

    async def fanout(self, objects: int, events: int, patch: Any) -> None:
        _status, body = await self.conns[0].request(self.build("GET", "/api/v1/namespaces/default/configmaps?limit=1"))
        rv = json.loads(body)["metadata"]["resourceVersion"]
        path = f"/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=600"
        watchers: list[_Watch] = [await self.connect(lambda: _Watch(events)) for _ in range(WATCHERS)]
        for watcher in watchers:
            assert isinstance(watcher.transport, asyncio.Transport)
            watcher.transport.write(self.build("GET", path))
        await asyncio.gather(*(w.ready for w in watchers))
        requests = [patch(f"cm-{i % objects:05d}", {"data": {"w": str(i)}}) for i in range(events)]
        await self.writes(requests, 200)
        await asyncio.wait_for(asyncio.gather(*(w.done for w in watchers)), 600)
        for watcher in watchers:
            assert watcher.transport is not None
            watcher.transport.close()

    async def handshakes(self, count: int) -> None:
        async def one() -> None:
            conn: _Conn = await self.connect(_Conn)
            status, _ = await conn.request(self.build("GET", "/version"))
            assert status == 200
            assert conn.transport is not None
            conn.transport.close()

        for _ in range(count // 8):
            await asyncio.gather(*(one() for _ in range(8)))


async def _load(url: str, token: str, pid: int, objects: int, events: int) -> dict[str, Any]:
    load = _Load(url, token, pid)
    out: dict[str, Any] = {
        "server_cpu_us_per_op": {},
        "capacity_per_server_core": {},
        "server_cpu_share": {},
        "load_client_cpu_share": {},
    }
    load.conns = [await load.connect(_Conn) for _ in range(CONCURRENCY)]
    collection = "/api/v1/namespaces/default/configmaps"

    def create(i: int) -> bytes:
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"cm-{i:05d}", "labels": {"app": "bench"}},
            "data": {"n": str(i)},
        }
        return load.build("POST", collection, json.dumps(body).encode())

    def patch(name: str, body: Any) -> bytes:
        return load.build("PATCH", f"{collection}/{name}", json.dumps(body).encode(), "application/merge-patch+json")

    wall = await load.measure("create", objects, load.writes([create(i) for i in range(objects)], 201), out)
    out["creates_per_s"] = round(objects / wall)
    patches = [patch(f"cm-{i:05d}", {"data": {"n": str(i), "p": "x"}}) for i in range(objects)]
    wall = await load.measure("patch", objects, load.writes(patches, 200), out)
    out["patches_per_s"] = round(objects / wall)
    seen: list[int] = []

    async def listing(limit: int, rounds: int) -> None:
        for _ in range(rounds):
            seen.append(await load.paginated(limit))

    wall = await load.measure("list_page_500", LIST_ROUNDS * objects // 500, listing(500, LIST_ROUNDS), out)
    assert seen == [objects] * LIST_ROUNDS, seen
    out["paginated_list_seconds"] = round(wall / LIST_ROUNDS, 3)
    out["paginated_list_objects_per_s"] = round(LIST_ROUNDS * objects / wall)
    wall = await load.measure("list_all", LIST_ROUNDS, listing(0, LIST_ROUNDS), out)
    out["full_list_seconds"] = round(wall / LIST_ROUNDS, 3)
    wall = await load.measure("watch_event", WATCHERS * events, load.fanout(objects, events, patch), out)
    out["watch_events_per_s_10_watchers"] = round(WATCHERS * events / wall)
    out["watch_patches_per_s"] = round(events / wall)
    for conn in load.conns:
        assert conn.transport is not None
        conn.transport.close()
    connections = 200 if objects < 10_000 else 800
    wall = await load.measure("new_connection", connections, load.handshakes(connections), out)
    out["new_connections_per_s"] = round(connections / wall)
    return out


def _child(conn: Connection, server: tuple[str, str, int], objects: int, events: int) -> None:
    _pin(_LOAD_CPU)
    try:
        conn.send(asyncio.run(_load(*server, objects, events)))
    except BaseException as error:
        conn.send(error)
        raise


def run(quick: bool = False, tls: bool = True, managed_fields: bool = True) -> dict[str, Any]:
    """Run the benchmark and return its figures."""
    objects = 1_000 if quick else 10_000
    events = 1_000 if quick else 5_000
    context = multiprocessing.get_context("spawn")
    server_end, here = context.Pipe()
    server = context.Process(target=_serve, args=(server_end, tls, managed_fields), daemon=True)
    server.start()
    try:
        load_end, there = context.Pipe()
        load = context.Process(target=_child, args=(load_end, here.recv(), objects, events), daemon=True)
        load.start()
        figures = there.recv()
        load.join(30)
        if isinstance(figures, BaseException):
            raise figures
    finally:
        here.send("stop")
        server.join(30)
        if server.is_alive():
            server.kill()
    figures.update(objects=objects, tls=tls, managed_fields=managed_fields, cpus=os.cpu_count())
    capacity = figures["capacity_per_server_core"]
    figures["capacity_meets_targets"] = {
        "writes": min(capacity["create"] or 0, capacity["patch"] or 0) >= TARGET_WRITES_PER_S,
        "watch_events": (capacity["watch_event"] or 0) >= TARGET_WATCH_EVENTS_PER_S,
    }
    return dict(sorted(figures.items(), key=lambda kv: isinstance(kv[1], dict)))


if __name__ == "__main__":
    args = sys.argv[1:]
    quick, mf = "--quick" in args, "--no-managed-fields" not in args
    if "--both" in args:
        result: Any = {"https": run(quick, True, mf), "http": run(quick, False, mf)}
    else:
        result = run(quick, tls="--plain" not in args, managed_fields=mf)
    print(json.dumps(result, indent=2))
