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

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

Check = Callable[[], list[str]]
"""Returns what is wrong (one line each); an empty list means healthy."""


@dataclass(frozen=True, slots=True)
class EndpointOptions:
    """Where the probes and the metrics listen."""

    host: str = "0.0.0.0"
    """All interfaces: probes come from the kubelet, on the pod IP."""
    health_port: int = 8888
    metrics_port: int | None = 9090
    """None disables the metrics endpoint; the health port's number serves both from one listener (0 binds
    any free port, for each)."""


def _always_ok() -> list[str]:
    return []


class HealthServer:
    """Serves the probes and the metrics. `start()`/`stop()`; `health_port`/`metrics_port` are the bound
    ports (useful when configured as 0)."""

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
        self._runners: list[web.AppRunner] = []
        self.health_port = 0
        self.metrics_port = 0

    async def start(self) -> None:
        health = web.Application()
        for path in ("/healthz", "/livez", "/health"):
            health.router.add_get(path, self._live)
        for path in ("/readyz", "/health/ready"):
            health.router.add_get(path, self._ready)
        health.router.add_get("/startup", self._startup)
        opts = self.options
        shared = self._metrics is not None and bool(opts.health_port) and opts.metrics_port == opts.health_port
        if shared:
            health.router.add_get("/metrics", self._render)
        self.health_port = await self._serve(health, opts.health_port)
        if self._metrics is not None and opts.metrics_port is not None and not shared:
            exposition = web.Application()
            exposition.router.add_get("/metrics", self._render)
            self.metrics_port = await self._serve(exposition, opts.metrics_port)
        elif shared:
            self.metrics_port = self.health_port

    async def _serve(self, app: web.Application, port: int) -> int:
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, self.options.host, port)
        await site.start()
        return int(runner.addresses[0][1])

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()

    async def _live(self, request: web.Request) -> web.Response:
        return _answer(request, "alive", self._liveness())

    async def _ready(self, request: web.Request) -> web.Response:
        failures = self._readiness()
        if not failures:
            self._started = True
        return _answer(request, "ready", failures)

    async def _startup(self, request: web.Request) -> web.Response:
        if self._started:
            return _answer(request, "started", [])
        failures = self._readiness()
        self._started = not failures
        return _answer(request, "started", failures)

    async def _render(self, request: web.Request) -> web.Response:
        assert self._metrics is not None
        body, content_type = self._metrics()
        return web.Response(body=body, headers={"Content-Type": content_type})


def _answer(request: web.Request, what: str, failures: list[str]) -> web.Response:
    status = 503 if failures else 200
    if request.query.get("format") == "json" or "application/json" in request.headers.get("Accept", ""):
        return web.json_response({"status": f"not {what}" if failures else what, "failures": failures}, status=status)
    text = f"not {what}:\n" + "".join(f"- {line}\n" for line in failures) if failures else f"{what}\n"
    return web.Response(text=text, status=status)
