"""The work queue: object keys waiting for evaluation, with client-go's guarantees, on asyncio.

Where this sits: informer handlers `add()` keys (NORMAL for live events, LOW for the initial list, resyncs
and rule reloads); N worker tasks loop on `get()` → evaluate → execute → `done()`, and map the outcome to
`forget()` (success), `add_rate_limited()` (error) or `add_after()` (requeue-after).

Guarantees (client-go `util/workqueue`, controller-runtime's priority queue):
- a key is queued at most once (adding it again is a no-op; a higher priority upgrades it);
- a key is handed to one worker at a time: re-added while processing, it is parked and queued again on
  `done()`;
- FIFO within a priority, NORMAL always before LOW;
- `add_after` keeps one timer for the earliest of its delayed keys (a heap), and the earlier of two delays
  for one key;
- `add_rate_limited`: per-key exponential delay 5 ms → 1000 s, and a global retry token bucket (10 qps,
  burst 100); the delay is the larger of the two;
- after `shutdown()`, `get()` returns None (no more keys handed out) while in-flight keys finish;
  `drain()` waits for them.

What it does not do: no evaluation, no worker pool, no knowledge of what a key means.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
import itertools
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from engine.kube.timing import SYSTEM_CLOCK, Clock, Timer, TokenBucket

K = TypeVar("K", bound=Hashable)


class Priority(enum.IntEnum):
    """Two levels: NORMAL keys are always handed out before LOW ones."""

    LOW = 0
    """Initial list, resync, rule reload: bulk work that must not delay live changes."""
    NORMAL = 1
    """Live changes."""


_LABELS = {priority: priority.name.lower() for priority in Priority}
"""The metric label of each priority (an enum's `name` is a Python-level property)."""


@dataclass(frozen=True, slots=True)
class QueueOptions:
    """Requeue pacing: per-key exponential delay bounds and the global retry token bucket."""

    base_delay: float = 0.005
    max_delay: float = 1000.0
    retry_qps: float = 10.0
    retry_burst: int = 100


class QueueObserver(Protocol):
    """Metrics hooks. `priority` is "low" or "normal"."""

    def queue_added(self, priority: str) -> None: ...

    def queue_depth(self, depth: int) -> None: ...

    def queue_retried(self) -> None: ...

    def queue_waited(self, seconds: float) -> None: ...

    def queue_worked(self, seconds: float) -> None: ...


class WorkQueue(Generic[K]):
    """See the module docstring."""

    def __init__(
        self, options: QueueOptions | None = None, *, clock: Clock = SYSTEM_CLOCK, observer: QueueObserver | None = None
    ) -> None:
        self.options = options or QueueOptions()
        self._clock = clock
        self._observer = observer
        self._queues: tuple[deque[K], deque[K]] = (deque(), deque())
        self._queued: dict[K, Priority] = {}
        self._added_at: dict[K, float] = {}
        self._processing: dict[K, float] = {}
        self._dirty: dict[K, Priority] = {}
        self._waiting: dict[K, tuple[float, Priority]] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._seq = itertools.count()
        self._timer: Timer | None = None
        self._timer_at = 0.0
        self._failures: dict[K, int] = {}
        self._retry_bucket = TokenBucket(self.options.retry_qps, self.options.retry_burst, clock)
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._idle = asyncio.Event()
        self._idle.set()
        self._shutting_down = False

    def __len__(self) -> int:
        """Keys ready to be handed out (not those in flight or delayed)."""
        return len(self._queued)

    @property
    def in_flight(self) -> int:
        return len(self._processing)

    @property
    def delayed(self) -> int:
        return len(self._waiting)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def add(self, key: K, priority: Priority = Priority.NORMAL) -> None:
        if self._shutting_down:
            return
        if key in self._processing:
            self._dirty[key] = max(priority, self._dirty.get(key, priority))
            return
        current = self._queued.get(key)
        if current is not None and current >= priority:
            return
        self._queued[key] = priority
        self._queues[priority].append(key)
        if current is None:
            self._added_at[key] = self._clock.monotonic()
            self._wake()
        if self._observer is not None:
            self._observer.queue_added(_LABELS[priority])
            self._observer.queue_depth(len(self._queued))

    async def get(self) -> K | None:
        """The next key (NORMAL first), waiting for one; None once the queue is shutting down."""
        while not self._shutting_down:
            key = self._pop()
            if key is not None:
                return key
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # pass on the wake-up this cancelled worker consumed
                raise
        return None

    def _pop(self) -> K | None:
        for priority in (Priority.NORMAL, Priority.LOW):
            queue = self._queues[priority]
            while queue:
                key = queue.popleft()
                if self._queued.get(key) is not priority:
                    continue  # stale entry: the key was upgraded to NORMAL, or handed out already
                del self._queued[key]
                now = self._clock.monotonic()
                self._processing[key] = now
                self._idle.clear()
                if self._observer is not None:
                    self._observer.queue_waited(now - self._added_at.pop(key, now))
                    self._observer.queue_depth(len(self._queued))
                else:
                    self._added_at.pop(key, None)
                return key
        return None

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def done(self, key: K) -> None:
        """The worker finished `key`; if it was re-added meanwhile, queue it again now."""
        started = self._processing.pop(key, None)
        if started is not None and self._observer is not None:
            self._observer.queue_worked(self._clock.monotonic() - started)
        priority = self._dirty.pop(key, None)
        if priority is not None:
            self.add(key, priority)
        if not self._processing:
            self._idle.set()

    # --- delays -----------------------------------------------------------------------------------------

    def add_after(self, key: K, delay: float, priority: Priority = Priority.NORMAL) -> None:
        """Add `key` once `delay` seconds have passed (at once when delay <= 0)."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key, priority)
            return
        ready = self._clock.monotonic() + delay
        existing = self._waiting.get(key)
        if existing is not None and existing[0] <= ready:
            if priority > existing[1]:
                self._waiting[key] = (existing[0], priority)
            return
        self._waiting[key] = (ready, priority)
        heapq.heappush(self._heap, (ready, next(self._seq), key))
        self._arm()

    def _arm(self) -> None:
        while self._heap and self._waiting.get(self._heap[0][2], (None,))[0] != self._heap[0][0]:
            heapq.heappop(self._heap)  # superseded by an earlier add_after of the same key
        if not self._heap:
            return
        earliest = self._heap[0][0]
        if self._timer is not None and self._timer_at <= earliest:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = earliest
        self._timer = self._clock.call_later(earliest - self._clock.monotonic(), self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = self._clock.monotonic()
        while self._heap and self._heap[0][0] <= now:
            ready, _, key = heapq.heappop(self._heap)
            entry = self._waiting.get(key)
            if entry is not None and entry[0] == ready:
                del self._waiting[key]
                self.add(key, entry[1])
        self._arm()

    def add_rate_limited(self, key: K, priority: Priority = Priority.NORMAL) -> float:
        """Requeue after a failure: the larger of the key's exponential delay and the global retry budget's.
        Returns the delay chosen."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        per_key = min(self.options.max_delay, self.options.base_delay * 2.0 ** min(failures, 64))
        delay = max(per_key, self._retry_bucket.reserve())
        if self._observer is not None:
            self._observer.queue_retried()
        self.add_after(key, delay, priority)
        return delay

    def forget(self, key: K) -> None:
        """The key succeeded: its next failure starts again from the base delay."""
        self._failures.pop(key, None)

    def requeues(self, key: K) -> int:
        return self._failures.get(key, 0)

    # --- shutdown ---------------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop handing out keys (every `get()` returns None) and drop delayed ones; in-flight keys finish."""
        self._shutting_down = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._waiting.clear()
        self._heap.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until no key is in flight; False if `timeout` passed first."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True
