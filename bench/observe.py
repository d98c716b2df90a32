"""What the harness sees of the cluster while a scenario runs: stream phases from a watch, and quiet.

Where this sits: `PhaseWatch` lists then watches the demo streams from the harness's own connection and
records, per stream, its phase and the wall-clock time (time.time(), the clock kubesim's request log
uses) at which each phase was first seen; scenarios wait on it (every stream Running) and read it
(when did the phase become visible). `wait_quiet` waits until kubesim's resourceVersion stops moving:
nobody (operator, controllers, harness) is writing any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.kube import JSON, Api, ApiFailure


@dataclass
class StreamState:
    phase: str = ""
    suspended: bool = False
    seen: dict[str, float] = field(default_factory=dict)
    """Phase -> the last wall-clock time the stream entered it (seen through the watch)."""
    history: list[tuple[str, float]] = field(default_factory=list)
    """Every phase the stream entered, with the wall-clock time it was seen."""

    def entered_after(self, phase: str, moment: float) -> float | None:
        """When the stream first entered `phase` after `moment` (None if it has not)."""
        return next((t for p, t in self.history if p == phase and t >= moment), None)


class PhaseWatch:
    """A background list+watch of one stream collection; `states` is kept current."""

    def __init__(self, api: Api, path: str) -> None:
        self.api = api
        self.path = path
        self.states: dict[str, StreamState] = {}
        self.events = 0
        self.transitions = 0
        self.restarts = 0
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._counts: Counter[str] = Counter()

    async def start(self) -> PhaseWatch:
        items, rv = await self.api.list_all(self.path)
        for obj in items:
            self._apply(obj)
        self._task = asyncio.get_running_loop().create_task(self._run(rv))
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self, rv: str) -> None:
        while True:
            try:
                async for event in self.api.watch(self.path, rv):
                    obj = event.get("object") or {}
                    rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                    kind = event.get("type")
                    if kind in ("ADDED", "MODIFIED"):
                        self._apply(obj)
                    elif kind == "DELETED":
                        gone = self.states.pop(str(obj["metadata"]["name"]), None)
                        if gone is not None:
                            self._counts[gone.phase] -= 1
                        self._changed.set()
                    elif kind == "ERROR":
                        items, rv = await self.api.list_all(self.path)
                        for item in items:
                            self._apply(item)
            except (TimeoutError, ApiFailure, OSError) as error:
                if isinstance(error, ApiFailure) and error.status == 410:
                    items, rv = await self.api.list_all(self.path)
                    for item in items:
                        self._apply(item)
            self.restarts += 1
            await asyncio.sleep(0.1)

    def _apply(self, obj: JSON) -> None:
        name = str(obj["metadata"]["name"])
        state = self.states.get(name)
        if state is None:
            state = self.states[name] = StreamState()
            self._counts[""] += 1
        phase = str((obj.get("status") or {}).get("phase") or "")
        execution = (obj.get("spec") or {}).get("execution") or {}
        state.suspended = bool(execution.get("suspended"))
        if phase != state.phase:
            self._counts[state.phase] -= 1
            self._counts[phase] += 1
            state.phase = phase
            if phase:
                now = time.time()
                state.seen[phase] = now
                state.history.append((phase, now))
                self.transitions += 1
        self.events += 1
        self._changed.set()

    def count(self, phase: str) -> int:
        """How many streams are in `phase` now (kept as events arrive: scenarios ask on every change)."""
        return self._counts[phase]

    async def wait(
        self, check: Callable[[], bool], timeout: float, on_change: Callable[[], None] | None = None
    ) -> bool:
        """Wait until `check()` holds (re-checked on every change); False on timeout."""
        deadline = time.monotonic() + timeout
        while not check():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 1.0))
            if on_change is not None:
                on_change()
        return True


async def current_rv(api: Api) -> int:
    """kubesim's cluster-wide resourceVersion now (a one-item list of namespaces)."""
    page = await api.request("GET", "/api/v1/namespaces", params={"limit": "1"})
    return int((page.get("metadata") or {}).get("resourceVersion") or 0)


async def wait_quiet(api: Api, *, quiet: float = 1.0, timeout: float = 120.0) -> float:
    """Wait until no write happened for `quiet` seconds; the seconds it took."""
    started = time.monotonic()
    last = await current_rv(api)
    last_change = time.monotonic()
    while True:
        await asyncio.sleep(min(0.2, quiet / 4))
        rv = await current_rv(api)
        now = time.monotonic()
        if rv != last:
            last, last_change = rv, now
        elif now - last_change >= quiet:
            return now - started
        if now - started > timeout:
            raise TimeoutError(f"the cluster did not go quiet within {timeout:g} s")
