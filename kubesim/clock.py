"""Time for kubesim: a real clock, or a fake one that tests advance by hand.

Timestamps (`creationTimestamp`, Job `startTime`) and every controller timer (Job outcomes, TTLs,
CronJob schedules, backoff) go through a `Clock`. Timers always fire on the simulator's event loop.
HTTP-level timing (watch timeouts, bookmarks, injected latency) stays on real time: clients wait on it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class Timer:
    """A scheduled callback that can be cancelled."""

    def __init__(self) -> None:
        self.cancelled = False
        self._handle: asyncio.TimerHandle | None = None

    def cancel(self) -> None:
        """Stop the callback from running (no effect once it ran)."""
        self.cancelled = True
        if self._handle is not None:
            self._handle.cancel()


class Clock:
    """Real time: `now()` is the wall clock and timers use the event loop."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach the simulator's event loop (timers run there)."""
        self._loop = loop

    @property
    def fake(self) -> bool:
        """Whether this clock only moves when advanced."""
        return False

    def now(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run `callback` on the loop after `delay` seconds of this clock's time."""
        assert self._loop is not None, "clock not bound to a loop"
        timer = Timer()

        def fire() -> None:
            if not timer.cancelled:
                callback()

        timer._handle = self._loop.call_later(max(0.0, delay), fire)
        return timer


@dataclass(order=True)
class _Entry:
    when: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    timer: Timer = field(compare=False)


class FakeClock(Clock):
    """A clock that stands still until `advance()` moves it; due timers then fire in time order."""

    def __init__(self, start: float | None = None) -> None:
        super().__init__()
        self._now = time.time() if start is None else start
        self._heap: list[_Entry] = []
        self._seq = itertools.count()

    @property
    def fake(self) -> bool:
        return True

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = Timer()
        heapq.heappush(self._heap, _Entry(self._now + max(0.0, delay), next(self._seq), callback, timer))
        return timer

    def fire_next(self, target: float) -> bool:
        """Fire the earliest timer due at or before `target`, moving time to it; False when none is due."""
        while self._heap and self._heap[0].when <= target:
            entry = heapq.heappop(self._heap)
            self._now = max(self._now, entry.when)
            if not entry.timer.cancelled:
                entry.callback()
                return True
        return False

    def set_now(self, when: float) -> None:
        """Move time to `when` without firing anything (after `fire_next` has drained the due timers)."""
        self._now = max(self._now, when)
