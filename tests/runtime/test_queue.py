"""WorkQueue: client-go's dedupe and one-in-flight guarantees, priorities, delays, rate-limited requeue, shutdown."""

from __future__ import annotations

import asyncio

import pytest

from engine.kube.timing import ManualClock
from engine.runtime.queue import Priority, QueueOptions, WorkQueue


class Seen:
    """A QueueObserver that records what it is told."""

    def __init__(self) -> None:
        self.added: list[str] = []
        self.depths: list[int] = []
        self.retries = 0
        self.waits: list[float] = []
        self.works: list[float] = []

    def queue_added(self, priority: str) -> None:
        self.added.append(priority)

    def queue_depth(self, depth: int) -> None:
        self.depths.append(depth)

    def queue_retried(self) -> None:
        self.retries += 1

    def queue_waited(self, seconds: float) -> None:
        self.waits.append(seconds)

    def queue_worked(self, seconds: float) -> None:
        self.works.append(seconds)


async def drain_keys(queue: WorkQueue[str]) -> list[str]:
    keys = []
    while len(queue):
        key = await queue.get()
        assert key is not None
        keys.append(key)
        queue.done(key)
    return keys


async def test_a_key_is_queued_once_and_order_is_fifo() -> None:
    """Adding a queued key again is a no-op; keys come out in the order they were first added."""
    queue: WorkQueue[str] = WorkQueue(clock=ManualClock())
    for key in ["a", "b", "a", "c", "b"]:
        queue.add(key)
    assert len(queue) == 3
    assert await drain_keys(queue) == ["a", "b", "c"]


async def test_a_key_in_flight_is_parked_and_requeued_on_done() -> None:
    """A key re-added while a worker holds it is not handed to a second worker; it comes back after done()."""
    queue: WorkQueue[str] = WorkQueue(clock=ManualClock())
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a")
    queue.add("a")
    assert len(queue) == 0
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not second.done()
    queue.done("a")
    assert await asyncio.wait_for(second, 1) == "a"
    queue.done("a")
    assert len(queue) == 0


async def test_normal_priority_is_always_served_before_low() -> None:
    """Live changes (NORMAL) overtake the initial-list flood (LOW); a LOW key re-added as NORMAL is upgraded
    and served once."""
    queue: WorkQueue[str] = WorkQueue(clock=ManualClock())
    for key in ["l1", "l2", "l3"]:
        queue.add(key, Priority.LOW)
    queue.add("n1")
    queue.add("l3", Priority.NORMAL)
    queue.add("n1", Priority.LOW)
    assert await drain_keys(queue) == ["n1", "l3", "l1", "l2"]


async def test_workers_waiting_are_woken_one_key_each() -> None:
    """Several workers blocked in get() each receive a different key as keys arrive."""
    queue: WorkQueue[str] = WorkQueue(clock=ManualClock())
    workers = [asyncio.create_task(queue.get()) for _ in range(3)]
    await asyncio.sleep(0)
    for key in ["a", "b", "c"]:
        queue.add(key)
    assert sorted(await asyncio.gather(*workers)) == ["a", "b", "c"]  # type: ignore[type-var]


async def test_a_cancelled_worker_does_not_swallow_a_key() -> None:
    """A worker cancelled right after being woken passes the wake-up on, so the key is not stranded."""
    queue: WorkQueue[str] = WorkQueue(clock=ManualClock())
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.add("a")
    first.cancel()
    assert await asyncio.wait_for(second, 1) == "a"


async def test_add_after_waits_for_virtual_time_and_keeps_the_earliest() -> None:
    """Delayed keys appear when their time comes, earliest first; a second delay for the same key keeps
    the earlier one."""
    clock = ManualClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("late", 10.0)
    queue.add_after("soon", 2.0)
    queue.add_after("soon", 8.0)
    queue.add_after("now", 0)
    assert await drain_keys(queue) == ["now"]
    await clock.advance(1.9)
    assert len(queue) == 0
    await clock.advance(0.1)
    assert await drain_keys(queue) == ["soon"]
    assert queue.delayed == 1
    await clock.advance(8.0)
    assert await drain_keys(queue) == ["late"]


async def test_rate_limited_requeue_grows_per_key_and_forget_resets() -> None:
    """Each failure doubles the key's delay from 5 ms (capped at 1000 s); forget() starts it over."""
    clock = ManualClock()
    queue: WorkQueue[str] = WorkQueue(QueueOptions(retry_burst=1000), clock=clock)
    delays = [queue.add_rate_limited("a") for _ in range(4)]
    assert delays == [0.005, 0.01, 0.02, 0.04]
    assert queue.requeues("a") == 4
    for _ in range(30):
        queue.add_rate_limited("b")
    assert queue.add_rate_limited("b") == 1000.0
    queue.forget("a")
    assert queue.add_rate_limited("a") == 0.005


async def test_global_retry_budget_spreads_a_failure_storm() -> None:
    """Beyond the burst, retries of many different keys are spaced by the global 10 qps bucket."""
    clock = ManualClock()
    queue: WorkQueue[str] = WorkQueue(QueueOptions(retry_qps=10, retry_burst=100), clock=clock)
    delays = [queue.add_rate_limited(f"k{i}") for i in range(110)]
    assert delays[:100] == [0.005] * 100
    assert [round(d, 6) for d in delays[100:103]] == [0.1, 0.2, 0.3]
    assert round(delays[-1], 6) == 1.0


async def test_shutdown_stops_handing_out_keys_and_lets_in_flight_work_finish() -> None:
    """After shutdown get() returns None even with keys queued, adds are ignored, and drain() waits for the
    key in flight."""
    queue: WorkQueue[str] = WorkQueue(clock=ManualClock())
    queue.add("a")
    assert await queue.get() == "a"
    idle = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.add_after("later", 5.0)
    queue.shutdown()
    assert await idle is None
    assert queue.delayed == 0
    queue.add("b")
    assert await queue.get() is None
    assert not await queue.drain(timeout=0.01)
    queue.done("a")
    assert await queue.drain(timeout=1)

    queued: WorkQueue[str] = WorkQueue(clock=ManualClock())
    queued.add("x")
    queued.shutdown()
    assert await queued.get() is None


async def test_observer_hears_adds_depth_waits_work_and_retries() -> None:
    """Metrics hooks report adds by priority, depth, time queued, time in flight and retries."""
    clock = ManualClock()
    seen = Seen()
    queue: WorkQueue[str] = WorkQueue(clock=clock, observer=seen)
    queue.add("a", Priority.LOW)
    await clock.advance(2.0)
    key = await queue.get()
    await clock.advance(0.5)
    assert key == "a"
    queue.done(key)
    queue.add_rate_limited("a")
    assert seen.added == ["low"]
    assert seen.depths == [1, 0]
    assert (seen.waits, seen.works, seen.retries) == ([2.0], [0.5], 1)


@pytest.mark.parametrize("n", [10_000])
async def test_ten_thousand_keys_twice_are_ten_thousand_evaluations(n: int) -> None:
    """Dedupe at scale: 10k keys each added twice yield 10k keys, LOW after NORMAL."""
    queue: WorkQueue[int] = WorkQueue(clock=ManualClock())
    for i in range(n):
        queue.add(i, Priority.LOW)
    for i in range(0, n, 2):
        queue.add(i)
    out = []
    while len(queue):
        key = await queue.get()
        assert key is not None
        out.append(key)
        queue.done(key)
    assert len(out) == n
    assert out[: n // 2] == list(range(0, n, 2))
