"""The simulator's state on its event loop: store, registry, API semantics, controllers' scheduler.

`Runtime` is what the HTTP layer, the controllers and the public `KubeSim` share. It lives on the
simulator's own event loop (one background thread) and is only touched there; `KubeSim` marshals
calls from other threads onto that loop. It starts no server itself (`kubesim.server` does).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubesim.api import Api
from kubesim.clock import Clock, FakeClock, Timer
from kubesim.discovery import Discovery
from kubesim.faults import Faults
from kubesim.kinds import builtin_types
from kubesim.meta import JSON, rfc3339
from kubesim.openapi import OpenApi
from kubesim.reqlog import RequestLog
from kubesim.resources import Registry
from kubesim.store import Store, Watcher

log = logging.getLogger("kubesim")


class Scheduler:
    """Deferred controller work on the loop; `settle()` waits until none is pending."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._pending: deque[Callable[[], None]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach the simulator's loop."""
        self._loop = loop

    def soon(self, work: Callable[[], None]) -> None:
        """Run `work` on the loop after the current callback (never re-entrantly)."""
        self._pending.append(work)
        if not self._scheduled and self._loop is not None:
            self._scheduled = True
            self._loop.call_soon(self._drain)

    def later(self, delay: float, work: Callable[[], None]) -> Timer:
        """Run `work` after `delay` seconds of the simulator's clock."""
        if delay <= 0:
            timer = Timer()
            self.soon(lambda: None if timer.cancelled else work())
            return timer
        return self.clock.call_later(delay, lambda: self.soon(work))

    def _drain(self) -> None:
        self._scheduled = False
        while self._pending:
            work = self._pending.popleft()
            try:
                work()
            except Exception:
                log.exception("kubesim controller work failed")

    @property
    def idle(self) -> bool:
        """Whether no work is pending."""
        return not self._pending

    async def settle(self, rounds: int = 1000) -> None:
        """Yield to the loop until no controller work is pending (bounded)."""
        for _ in range(rounds):
            if not self._pending:
                await asyncio.sleep(0)
                if not self._pending:
                    return
            await asyncio.sleep(0)


@dataclass
class Settings:
    """The options the runtime needs (a subset of `SimOptions`)."""

    minor: str = "32"
    history_size: int = 10_000
    bookmark_interval: float = 60.0
    watch_timeout: float = 1800.0
    job_default_outcome: str = "succeed-after=1s"
    job_pods: bool = True
    job_backoff: float = 10.0
    controllers: frozenset[str] = frozenset()
    managed_fields: bool = True
    request_log_size: int = 100_000


@dataclass
class Runtime:
    """Everything the simulator serves from, on its loop."""

    settings: Settings
    clock: Clock
    faults: Faults
    token: str
    requests: RequestLog = field(init=False)
    store: Store = field(init=False)
    registry: Registry = field(init=False)
    api: Api = field(init=False)
    scheduler: Scheduler = field(init=False)
    discovery: Discovery = field(init=False)
    openapi: OpenApi = field(init=False)
    watchers: set[Watcher] = field(default_factory=set)
    pod_logs: dict[tuple[str, str], str] = field(default_factory=dict)
    rejecting_tokens: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.requests = RequestLog(self.settings.request_log_size)
        self.store = Store(self.settings.history_size)
        self.registry = Registry()
        self.registry.add_all(builtin_types())
        self.api = Api(self.store, self.registry, self.clock, self.settings.managed_fields)
        self.scheduler = Scheduler(self.clock)
        self.discovery = Discovery(self.registry)
        self.openapi = OpenApi(self.registry, self.settings.minor)
        now = rfc3339(self.clock.now())
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.store.put(("", "namespaces"), _namespace(name, now), None)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach the loop to the clock and the scheduler."""
        self.clock.bind(loop)
        self.scheduler.bind(loop)

    def drop_watches(self, resource: str | None = None) -> int:
        """Close open watches (of one resource, or all)."""
        dropped = 0
        for watcher in list(self.watchers):
            if resource is None or getattr(watcher, "resource", None) == resource:
                watcher.close()
                dropped += 1
        return dropped

    async def advance(self, seconds: float) -> None:
        """Move a fake clock forward, running the controllers after every timer."""
        clock = self.clock
        if not isinstance(clock, FakeClock):
            raise RuntimeError("the simulator runs on real time; start it with SimOptions(fake_clock=True)")
        target = clock.now() + seconds
        await self.scheduler.settle()
        while clock.fire_next(target):
            await self.scheduler.settle()
        clock.set_now(target)
        await self.scheduler.settle()


def _namespace(name: str, now: str) -> JSON:
    from kubesim.meta import new_uid

    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "uid": new_uid(),
            "creationTimestamp": now,
            "labels": {"kubernetes.io/metadata.name": name},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }
