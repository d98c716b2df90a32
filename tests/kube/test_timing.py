"""Clock, token bucket and backoff: the pacing every timed part of the runtime relies on."""

from __future__ import annotations

import asyncio
import itertools
import random

from engine.kube.timing import Backoff, BackoffPolicy, ManualClock, TokenBucket


def test_bucket_serves_burst_then_paces_at_rate() -> None:
    """A full bucket gives `burst` tokens at once, then one every 1/qps seconds, in reservation order."""
    clock = ManualClock()
    bucket = TokenBucket(qps=10, burst=3, clock=clock)
    delays = [bucket.reserve() for _ in range(6)]
    assert delays[:3] == [0.0, 0.0, 0.0]
    assert [round(d, 6) for d in delays[3:]] == [0.1, 0.2, 0.3]


async def test_bucket_refills_with_time() -> None:
    """Tokens come back at `qps` per second, up to `burst`."""
    clock = ManualClock()
    bucket = TokenBucket(qps=10, burst=2, clock=clock)
    assert [bucket.reserve(), bucket.reserve()] == [0.0, 0.0]
    await clock.advance(10.0)
    assert [bucket.reserve(), bucket.reserve()] == [0.0, 0.0]
    assert round(bucket.reserve(), 6) == 0.1


def test_unlimited_bucket_never_waits() -> None:
    """qps 0 lifts the limit: no reservation ever waits."""
    bucket = TokenBucket(qps=0, burst=1, clock=ManualClock())
    assert all(bucket.reserve() == 0.0 for _ in range(1000))


def test_hold_is_a_floor_for_every_reservation() -> None:
    """After `hold(3)`, nothing is served before 3 s, and the bucket restarts empty (paced after the hold)."""
    clock = ManualClock()
    bucket = TokenBucket(qps=10, burst=100, clock=clock)
    bucket.hold(3.0)
    assert [round(bucket.reserve(), 6) for _ in range(3)] == [3.1, 3.2, 3.3]
    unlimited = TokenBucket(qps=0, burst=1, clock=clock)
    unlimited.hold(2.0)
    assert unlimited.reserve() == 2.0


async def test_waiters_requeue_behind_a_hold_that_starts_while_they_wait() -> None:
    """A caller already waiting when a hold begins does not fire when it ends with everyone else: it
    queues again, so the rate holds after the hold too."""
    clock = ManualClock()
    bucket = TokenBucket(qps=10, burst=1, clock=clock)
    fired: list[float] = []

    async def take() -> None:
        await bucket.acquire()
        fired.append(clock.monotonic())

    tasks = [asyncio.create_task(take()) for _ in range(4)]
    await asyncio.sleep(0)
    assert len(fired) == 1
    bucket.hold(5.0)
    for _ in range(80):
        await clock.advance(0.1)
    await asyncio.gather(*tasks)
    start = fired[0]
    assert all(t - start >= 5.0 for t in fired[1:])
    gaps = [b - a for a, b in itertools.pairwise(fired[1:])]
    assert all(gap >= 0.1 - 1e-9 for gap in gaps)


def test_backoff_doubles_to_cap_without_jitter() -> None:
    """Without jitter the delays are initial * 2**n, capped."""
    backoff = Backoff(BackoffPolicy(initial=0.8, cap=30.0, jitter=False), ManualClock())
    assert [backoff.next_delay() for _ in range(8)] == [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]


def test_backoff_full_jitter_stays_under_the_bound() -> None:
    """With full jitter each delay is uniform in [0, bound]: never above the exponential bound."""
    backoff = Backoff(BackoffPolicy(initial=0.8, cap=30.0), ManualClock(), random.Random(7))
    bounds = [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]
    delays = [backoff.next_delay() for _ in bounds]
    assert all(0.0 <= d <= b for d, b in zip(delays, bounds, strict=True))
    assert len(set(delays)) == len(delays)


async def test_backoff_resets_after_quiet_period() -> None:
    """Two minutes without a failure start the sequence over."""
    clock = ManualClock()
    backoff = Backoff(BackoffPolicy(initial=1.0, jitter=False, reset_after=120.0), clock)
    assert [backoff.next_delay() for _ in range(3)] == [1.0, 2.0, 4.0]
    await clock.advance(119.0)
    assert backoff.next_delay() == 8.0
    await clock.advance(121.0)
    assert backoff.next_delay() == 1.0


async def test_manual_clock_fires_timers_in_order_and_wakes_sleepers() -> None:
    """`advance` fires due timers in time order and wakes sleepers whose time came, not the others."""
    clock = ManualClock()
    fired: list[str] = []
    clock.call_later(2.0, lambda: fired.append("b"))
    clock.call_later(1.0, lambda: fired.append("a"))
    cancelled = clock.call_later(1.5, lambda: fired.append("x"))
    cancelled.cancel()
    sleeper = asyncio.create_task(clock.sleep(3.0))
    await clock.wait_sleepers(1)
    await clock.advance(2.5)
    assert fired == ["a", "b"]
    assert not sleeper.done()
    await clock.advance(0.5)
    assert sleeper.done()
    assert clock.monotonic() == 1003.0
