"""Leader election on a Lease: acquire, renew, takeover only after a full lease duration, release, loss."""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from kube.fakeapi import LEASES, FakeApi, Fault

from engine.kube.client import ClientOptions, KubeClient
from engine.kube.config import KubeSettings
from engine.kube.timing import ManualClock
from engine.runtime.leader import LeaderElector, LeaderOptions


class Candidate:
    """One elector with its task and what its callbacks saw."""

    def __init__(self, client: KubeClient, clock: ManualClock, identity: str) -> None:
        self.events: list[tuple[str, float]] = []
        self.clock = clock
        options = LeaderOptions(namespace="ops", name="lock", identity=identity)
        self.elector = LeaderElector(
            client,
            options,
            on_started=lambda: self.events.append(("started", clock.monotonic())),
            on_lost=lambda: self.events.append(("lost", clock.monotonic())),
            clock=clock,
            wall=lambda: datetime(2026, 1, 1, tzinfo=UTC),
            rng=random.Random(1),
        )
        self.task = asyncio.create_task(self.elector.run())

    def crash(self) -> None:
        """Die without releasing (SIGKILL): the task just stops."""
        self.task.cancel()


async def run_until(clock: ManualClock, end: float, candidates: list[Candidate]) -> None:
    """Advance virtual time to `end`, one deadline at a time, only while every live candidate is asleep."""
    while True:
        await clock.wait_sleepers(sum(1 for c in candidates if not c.task.done()))
        deadline = clock.next_deadline
        if deadline is None or deadline > end:
            await clock.advance(max(0.0, end - clock.monotonic()))
            return
        await clock.advance(deadline - clock.monotonic())


def lease(api: FakeApi) -> dict[str, Any]:
    return api.objects[LEASES][("ops", "lock")]


def test_options_must_leave_room_for_renewals() -> None:
    """client-go's rule lease_duration > renew_deadline > 1.2 * retry_period is enforced with the values."""
    with pytest.raises(
        ValueError,
        match=r"^leader election needs lease_duration > renew_deadline > 1\.2 \* retry_period "
        r"\(got 10 s, 10 s, 2 s\)$",
    ):
        LeaderOptions(namespace="ops", name="lock", identity="a", lease_duration=10)


async def test_first_candidate_creates_the_lease_and_keeps_renewing(
    api: FakeApi, client: KubeClient, vclock: ManualClock
) -> None:
    """The first candidate creates the Lease (15 s, its identity) and leads; it renews every 2 s; a standby
    never takes over while renewals continue."""
    a = Candidate(client, vclock, "a")
    await asyncio.wait_for(a.elector.leading.wait(), 2)
    b = Candidate(client, vclock, "b")
    spec = lease(api)["spec"]
    assert (spec["holderIdentity"], spec["leaseDurationSeconds"], spec["leaseTransitions"]) == ("a", 15, 0)
    assert spec["renewTime"] == "2026-01-01T00:00:00.000000Z"
    await run_until(vclock, 1060.0, [a, b])
    assert a.events == [("started", 1000.0)]
    assert b.events == []
    renewals = [r.at for r in api.requests if r.method == "PUT"]
    assert len(renewals) == 30
    assert all(round(later - earlier, 6) == 2.0 for earlier, later in itertools.pairwise(renewals))
    await a.elector.stop()
    await b.elector.stop()


async def test_standby_takes_over_a_crashed_leader_after_one_lease_duration(
    api: FakeApi, client: KubeClient, vclock: ManualClock
) -> None:
    """After the leader dies without releasing, the standby waits until the record has been unchanged for 15 s
    on its own clock, then takes the lease (transition count 1) within a retry period of that."""
    a = Candidate(client, vclock, "a")
    await asyncio.wait_for(a.elector.leading.wait(), 2)
    b = Candidate(client, vclock, "b")
    await run_until(vclock, 1010.0, [a, b])
    last_renewal = max(r.at for r in api.requests if r.method == "PUT")
    a.crash()
    await run_until(vclock, 1040.0, [b])
    (started,) = b.events
    assert started[0] == "started"
    assert last_renewal + 15.0 <= started[1] <= last_renewal + 15.0 + 2.0 * 1.2 + 2.0
    assert lease(api)["spec"]["holderIdentity"] == "b"
    assert lease(api)["spec"]["leaseTransitions"] == 1
    await b.elector.stop()


async def test_clean_stop_releases_so_the_standby_takes_over_within_a_retry_period(
    api: FakeApi, client: KubeClient, vclock: ManualClock
) -> None:
    """stop() blanks holderIdentity; the standby acquires at its next retry (≤ 2.4 s), not 15 s later."""
    a = Candidate(client, vclock, "a")
    await asyncio.wait_for(a.elector.leading.wait(), 2)
    b = Candidate(client, vclock, "b")
    await run_until(vclock, 1005.0, [a, b])
    await a.elector.stop()
    assert not a.elector.is_leader
    assert lease(api)["spec"]["holderIdentity"] == ""
    released = vclock.monotonic()
    await run_until(vclock, 1020.0, [b])
    assert b.events[0][0] == "started"
    assert b.events[0][1] - released <= 2.0 * 1.2
    assert a.events == [("started", 1000.0)]
    await b.elector.stop()


async def test_renewals_failing_past_the_deadline_call_on_lost_once(
    api: FakeApi, client: KubeClient, vclock: ManualClock
) -> None:
    """When every renewal fails (500), on_lost fires once, no later than the 10 s renew deadline after the last
    renewal, and run() returns."""
    a = Candidate(client, vclock, "a")
    await asyncio.wait_for(a.elector.leading.wait(), 2)
    await run_until(vclock, 1004.0, [a])
    last_renewal = max(r.at for r in api.requests if r.method == "PUT")
    api.faults.append(Fault(method="PUT", status=500, times=1000))
    await run_until(vclock, 1030.0, [a])
    await asyncio.wait_for(a.task, 1)
    assert [e[0] for e in a.events] == ["started", "lost"]
    assert a.events[1][1] <= last_renewal + 10.0 + 2.0
    assert not a.elector.is_leader


async def test_a_stolen_lease_is_lost_within_the_renew_deadline(
    api: FakeApi, client: KubeClient, vclock: ManualClock
) -> None:
    """Another holder writes the Lease: the leader cannot renew (the record is held and fresh) and gives up."""
    a = Candidate(client, vclock, "a")
    await asyncio.wait_for(a.elector.leading.wait(), 2)
    await run_until(vclock, 1003.0, [a])
    api.modify(LEASES, "ops", "lock", spec={**lease(api)["spec"], "holderIdentity": "intruder"})
    stolen = vclock.monotonic()
    await run_until(vclock, 1030.0, [a])
    assert [e[0] for e in a.events] == ["started", "lost"]
    assert a.events[1][1] - stolen <= 10.0 + 2.0


async def test_lease_writes_do_not_wait_for_the_write_budget(api: FakeApi, vclock: ManualClock) -> None:
    """With the write bucket exhausted by other writes, the lease is still created and renewed on time."""
    options = ClientOptions(write_qps=0.001, write_burst=1)
    async with KubeClient(KubeSettings(host=api.url), options, clock=vclock) as client:
        client.write_limiter.reserve()
        client.write_limiter.reserve()
        a = Candidate(client, vclock, "a")
        await asyncio.wait_for(a.elector.leading.wait(), 2)
        await run_until(vclock, 1010.0, [a])
        assert a.events == [("started", 1000.0)]
        await a.elector.stop()
