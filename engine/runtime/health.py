"""The operator's own HTTP endpoints: probes on the health port, Prometheus exposition on the metrics port.

Where this sits: started by the operator process beside the reactor. Probes ask callbacks, so this module
knows nothing of rules or informers:
- `/healthz`, `/livez`, `/health`: alive (the `liveness` check, by default always);
- `/readyz`, `/health/ready`: ready (the `readiness` check: rules compiled, every informer synced);
- `/startup`: ready at least once since start (latched), for startup probes;
- `/metrics` on the metrics port: whatever the `metrics` callback renders.
The aliases `/health`, `/health/ready` and `/startup` serve charts written for the Go operator. A check
returns the list of what is wrong; empty means healthy. The body says what failed, as text, or as JSON
when asked (`Accept: application/json` or `?format=json`).

What it does not do: no metrics collection (engine.runtime.metrics), no decision about readiness.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

Check = Callable[[], list[str]]
"""Returns what is wrong (one line each); an empty list means healthy."""
Answer = tuple[int, bytes, str]
"""(status, body, content type)."""

MAX_REQUEST_HEAD = 16 * 1024
READ_TIMEOUT = 10.0
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


@dataclass(frozen=True, slots=True)
class EndpointOptions:
    """Where the probes and the metrics listen."""

    host: str = "0.0.0.0"
    """All interfaces: probes come from the kubelet, on the pod IP."""
    health_port: int = 8888
    metrics_port: int | None = 9090
    """None disables the metrics endpoint; the health port's number serves both from one listener (0 binds
    any free port, for each)."""


class ListenError(Exception):
    """An endpoint cannot listen on its port (taken by another process, or not allowed): said with the address, the
    cause and the option that chooses another port, for a log line instead of a traceback."""


def _always_ok() -> list[str]:
    return []


class HealthServer:
    """Serves the probes and the metrics. `start()`/`stop()`; `health_port`/`metrics_port` are the bound
    ports (useful when configured as 0).

    HTTP/1.1 GET and HEAD, one request per connection (`Connection: close`): probes and scrapes are a few
    requests a minute, and a web framework would cost the operator ~10 MiB of memory for them."""

    def __init__(
        self,
        options: EndpointOptions,
        *,
        readiness: Check,
        liveness: Check = _always_ok,
        metrics: Callable[[], tuple[bytes, str]] | None = None,
    ) -> None:
        self.options = options
        self._readiness = readiness
        self._liveness = liveness
        self._metrics = metrics
        self._started = False
        self._servers: list[asyncio.Server] = []
        self.health_port = 0
        self.metrics_port = 0

    async def start(self) -> None:
        probes: dict[str, Callable[[bool], Answer]] = {
            **dict.fromkeys(("/healthz", "/livez", "/health"), self._live),
            **dict.fromkeys(("/readyz", "/health/ready"), self._ready),
            "/startup": self._startup,
        }
        opts = self.options
        shared = self._metrics is not None and bool(opts.health_port) and opts.metrics_port == opts.health_port
        if shared:
            probes["/metrics"] = self._render
        try:
            self.health_port = await self._serve(probes, opts.health_port, "--health-port")
            if self._metrics is not None and opts.metrics_port is not None and not shared:
                self.metrics_port = await self._serve({"/metrics": self._render}, opts.metrics_port, "--metrics-port")
            elif shared:
                self.metrics_port = self.health_port
        except ListenError:
            await self.stop()  # the probes' listener, when the metrics' failed
            raise

    async def _serve(self, routes: dict[str, Callable[[bool], Answer]], port: int, option: str) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                async with asyncio.timeout(READ_TIMEOUT):
                    head = await reader.readuntil(b"\r\n\r\n")
                method, status, body, content_type = _route(head, routes)
                reason = _REASONS.get(status, "")
                lines = [
                    f"HTTP/1.1 {status} {reason}",
                    f"Content-Type: {content_type}",
                    f"Content-Length: {len(body)}",
                    "Connection: close",
                ]
                writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if method == "HEAD" else body))
                await writer.drain()
            except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                pass
            finally:
                writer.close()
                with contextlib.suppress(ConnectionError, TimeoutError):
                    await writer.wait_closed()

        try:
            server = await asyncio.start_server(handle, self.options.host, port, limit=MAX_REQUEST_HEAD)
        except OSError as error:
            cause = os.strerror(error.errno) if error.errno else str(error)  # asyncio words it at length
            raise ListenError(
                f"cannot listen on {self.options.host}:{port}: {cause} (choose another with {option})"
            ) from None
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await server.wait_closed()
        self._servers.clear()

    def _live(self, as_json: bool) -> Answer:
        return _answer(as_json, "alive", self._liveness())

    def _ready(self, as_json: bool) -> Answer:
        failures = self._readiness()
        if not failures:
            self._started = True
        return _answer(as_json, "ready", failures)

    def _startup(self, as_json: bool) -> Answer:
        if self._started:
            return _answer(as_json, "started", [])
        failures = self._readiness()
        self._started = not failures
        return _answer(as_json, "started", failures)

    def _render(self, _: bool) -> Answer:
        assert self._metrics is not None
        body, content_type = self._metrics()
        return 200, body, content_type


def _route(head: bytes, routes: dict[str, Callable[[bool], Answer]]) -> tuple[str, int, bytes, str]:
    """(method, status, body, content type) for a request head."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return "GET", 400, b"bad request\n", "text/plain; charset=utf-8"
    method, target = parts[0], urlsplit(parts[1])
    if method not in ("GET", "HEAD"):
        return method, 405, b"method not allowed\n", "text/plain; charset=utf-8"
    handler = routes.get(target.path)
    if handler is None:
        return method, 404, b"not found\n", "text/plain; charset=utf-8"
    accept = next((line.split(":", 1)[1] for line in lines[1:] if line.lower().startswith("accept:")), "")
    as_json = parse_qs(target.query).get("format") == ["json"] or "application/json" in accept
    status, body, content_type = handler(as_json)
    return method, status, body, content_type


def _answer(as_json: bool, what: str, failures: list[str]) -> Answer:
    status = 503 if failures else 200
    if as_json:
        document = {"status": f"not {what}" if failures else what, "failures": failures}
        return status, json.dumps(document).encode(), "application/json; charset=utf-8"
    text = f"not {what}:\n" + "".join(f"- {line}\n" for line in failures) if failures else f"{what}\n"
    return status, text.encode(), "text/plain; charset=utf-8"
