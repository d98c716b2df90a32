"""Time, rate and backoff: the clock every timed part of the runtime reads, and the two pacing tools built on it.

Where this sits: under the HTTP client (write token bucket, retry backoff), the informers (watch backoff), the
work queue (per-key requeue, global retry bucket, `add_after`) and leader election (lease timing). Each of
those takes a `Clock` so tests run on `ManualClock` (virtual time) instead of sleeping.

What it does not do: no I/O, no logging, no policy. Callers decide when to back off; this module only says
how long.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class Timer(Protocol):
    """A scheduled callback that can be cancelled (asyncio.TimerHandle has this shape)."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Monotonic time, sleeping and timers. `SystemClock` in production, `ManualClock` in tests."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer: ...


class SystemClock:
    """The real clock: `time.monotonic`, `asyncio.sleep` and the running loop's timers."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback)


SYSTEM_CLOCK = SystemClock()


class _ManualTimer:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], object]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """Virtual time for tests. `advance()` moves it and fires what fell due, in order.

    With `auto_advance=True`, `sleep(d)` itself moves time forward by `d` and returns at once: a loop that
    backs off runs instantly, and `sleeps` records every delay asked for, so tests assert on the schedule.
    """

    def __init__(self, start: float = 1000.0, *, auto_advance: bool = False) -> None:
        self._now = start
        self._auto = auto_advance
        self._heap: list[tuple[float, int, _ManualTimer]] = []
        self._seq = itertools.count()
        self._sleeping: set[asyncio.Future[None]] = set()
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._now

    @property
    def sleepers(self) -> int:
        """How many tasks are blocked in `sleep()` and not yet woken (manual mode)."""
        return sum(1 for future in self._sleeping if not future.done())

    @property
    def next_deadline(self) -> float | None:
        """When the earliest pending timer or sleep falls due."""
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        timer = _ManualTimer(callback)
        heapq.heappush(self._heap, (self._now + max(0.0, delay), next(self._seq), timer))
        return timer

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self._auto:
            self._advance_to(self._now + max(0.0, seconds))
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = self.call_later(seconds, lambda: None if future.done() else future.set_result(None))
        self._sleeping.add(future)
        try:
            await future
        finally:
            self._sleeping.discard(future)
            timer.cancel()

    async def advance(self, seconds: float) -> None:
        """Move time forward, firing due timers in order, and let the woken tasks run."""
        self._advance_to(self._now + seconds)
        for _ in range(5):
            await asyncio.sleep(0)

    async def wait_sleepers(self, count: int, timeout: float = 5.0) -> None:
        """Wait (real time) until `count` tasks are blocked in `sleep()`: the system is quiet, time may move."""
        async with asyncio.timeout(timeout):
            while self.sleepers < count:
                await asyncio.sleep(0.001)

    def _advance_to(self, target: float) -> None:
        while self._heap and self._heap[0][0] <= target:
            when, _, timer = heapq.heappop(self._heap)
            self._now = max(self._now, when)
            if not timer.cancelled:
                timer.callback()
        self._now = max(self._now, target)


class TokenBucket:
    """A token bucket by reservation (golang.org/x/time/rate style): each caller takes a token now and waits
    until the bucket would have held it, so waiters are served in arrival order without polling.

    `qps <= 0` means unlimited. `hold(seconds)` empties the bucket and stops refilling until then: a
    Retry-After from the server becomes a floor for every caller, including those already waiting.
    """

    def __init__(self, qps: float, burst: int, clock: Clock = SYSTEM_CLOCK) -> None:
        self._rate = qps
        self._burst = float(max(1, burst))
        self._clock = clock
        self._tokens = self._burst
        self._last = clock.monotonic()
        self._hold_until = 0.0
        self._holds = 0

    @property
    def unlimited(self) -> bool:
        return self._rate <= 0

    def reserve(self) -> float:
        """Take one token; return how long the caller must wait before using it (0 when available now)."""
        now = self._clock.monotonic()
        hold = max(0.0, self._hold_until - now)
        if self.unlimited:
            return hold
        if now > self._last:
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
            self._last = now
        self._tokens -= 1.0
        start = max(0.0, self._last - now)
        return max(hold, start + max(0.0, -self._tokens) / self._rate)

    def hold(self, seconds: float) -> None:
        """Refuse tokens for `seconds` from now (Retry-After): the bucket restarts empty after the hold, and
        callers already waiting queue again behind it rather than firing together when it ends."""
        until = self._clock.monotonic() + seconds
        if until <= self._hold_until:
            return
        self._hold_until = until
        self._holds += 1
        if not self.unlimited:
            self._tokens = 0.0
            self._last = max(self._last, until)

    async def acquire(self) -> None:
        """Wait for a token. A hold that begins while waiting forgives the reservation; take a new one."""
        while True:
            holds = self._holds
            delay = self.reserve()
            if delay > 0:
                await self._clock.sleep(delay)
            if self._holds == holds:
                return


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, initial * factor**n)) when
    `jitter` is on, else exactly that bound. The sequence restarts after `reset_after` seconds without failure.
    client-go's reflector numbers are the default (0.8 s doubling to 30 s, reset after 2 minutes)."""

    initial: float = 0.8
    factor: float = 2.0
    cap: float = 30.0
    reset_after: float = 120.0
    jitter: bool = True


class Backoff:
    """Stateful backoff for one loop (one informer, one request's retries)."""

    def __init__(self, policy: BackoffPolicy, clock: Clock = SYSTEM_CLOCK, rng: random.Random | None = None) -> None:
        self.policy = policy
        self._clock = clock
        self._rng = rng or random.Random()
        self._attempt = 0
        self._last_failure: float | None = None

    def next_delay(self) -> float:
        """Record a failure and return the delay before the next attempt."""
        now = self._clock.monotonic()
        if self._last_failure is not None and now - self._last_failure > self.policy.reset_after:
            self._attempt = 0
        bound = min(self.policy.cap, self.policy.initial * self.policy.factor**self._attempt)
        self._attempt = min(self._attempt + 1, 64)
        self._last_failure = now
        return self._rng.uniform(0.0, bound) if self.policy.jitter else bound

    def reset(self) -> None:
        self._attempt = 0
        self._last_failure = None

    @property
    def attempt(self) -> int:
        return self._attempt
