"""Faults only the operator's own timers can notice: a watch that goes silent, a request that never answers.

`arcane run` has no flag for its watch inactivity timeout (90 s) or its per-request timeout (60 s), so these
tests run the operator's reactor in process with short ones (tests/reliability/inproc.py). With
RELIABILITY_LONG=1 the stall test also runs against the real `arcane run` with its 90 s default.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from e2e.conftest import StartOperator

from .bed import DEMO, PRUNED, Bed, wait_ready
from .conftest import LONG
from .history import operator_requests
from .inproc import Timers, eventually, operator_in_process, sample

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

INACTIVITY = 3.0
STUCK = 5.0
BOOKMARKS = 2.0
"""The `bed` simulator sends a bookmark every 2 s: a healthy watch is never silent for INACTIVITY."""


async def stall_every_open_watch(bed: Bed) -> float:
    """Make every open watch silent for good (as a connection dropped by a NAT box is), leave new ones working;
    returns when the stall began (time.time())."""
    began = time.time()
    bed.sim.faults.stall_watches()
    await asyncio.sleep(BOOKMARKS + 0.5)  # each open watch wakes (a bookmark is due) and goes silent for ever
    bed.sim.faults.clear()
    return began


async def test_silent_watch_is_replaced_within_the_inactivity_timeout(bed: Bed) -> None:
    """A watch whose connection stays open but carries nothing (no event, no bookmark) is abandoned and re-opened within the inactivity timeout, so changes made after the stall are acted on; healthy watches carrying bookmarks are never re-opened as inactive."""
    async with operator_in_process(bed.sim, Timers(inactivity=INACTIVITY)) as (reactor, metrics):
        await eventually("the reactor to be ready", lambda: not reactor.unready())
        await asyncio.sleep(INACTIVITY + 1.0)
        assert sample(metrics, "arcane_watch_restarts_total", reason="inactivity") == 0, "a healthy watch was re-opened"

        began = await stall_every_open_watch(bed)
        bed.create_many(4, prefix="after")
        await asyncio.to_thread(bed.check)
        assert sample(metrics, "arcane_watch_restarts_total", reason="inactivity") >= 1
        reopened = [
            r for r in operator_requests(bed.sim, since=began) if r.verb == "watch" and r.resource == DEMO.plural
        ]
        assert reopened, "the stalled watch was never replaced"
        # Silent from the last bookmark before the stall (at most BOOKMARKS earlier), then one backoff (<= 0.8 s).
        assert reopened[0].timestamp - began <= BOOKMARKS + INACTIVITY + 0.8 + 1.0


async def test_request_that_never_answers_times_out_and_is_retried(bed: Bed) -> None:
    """A status write the API server sits on for 5 s is abandoned after the client's request timeout (1 s) and retried, so the stream moves on long before the stuck request ends; the late write landing afterwards does not derail it."""
    async with operator_in_process(bed.sim, Timers(request=1.0)) as (reactor, _metrics):
        await eventually("the reactor to be ready", lambda: not reactor.unready())
        bed.sim.faults.add_latency(STUCK, verb="patch", resource=DEMO.plural, count=1)
        created = time.monotonic()
        bed.create(DEMO, "slow")
        await eventually("slow to leave New", lambda: bed.phase(DEMO, "slow") not in ("", "New"), STUCK)
        assert time.monotonic() - created < STUCK - 1.5, "the stuck request was waited out"
        await asyncio.sleep(STUCK - (time.monotonic() - created) + 0.5)  # the stuck request lands now
        bed.create(PRUNED, "other")
        await asyncio.to_thread(bed.check)


@pytest.mark.skipif(not LONG, reason="long mode only (RELIABILITY_LONG=1): waits out the 90 s default timeout")
@pytest.mark.timeout(600)
def test_silent_watch_is_replaced_by_arcane_run_within_90s(bed: Bed, operators: StartOperator) -> None:
    """`arcane run` with its defaults replaces a silent watch within its 90 s inactivity timeout."""
    operator = operators(bed.sim)
    wait_ready(operator)
    bed.create_many(2)
    bed.converge()
    began = time.time()
    bed.sim.faults.stall_watches()
    time.sleep(BOOKMARKS + 0.5)
    bed.sim.faults.clear()
    bed.create_many(2, prefix="after")
    bed.check(timeout=90.0 + 40.0)
    reopened = [r for r in operator_requests(bed.sim, since=began) if r.verb == "watch" and r.resource == DEMO.plural]
    assert reopened
    assert reopened[0].timestamp - began <= 90.0 + BOOKMARKS + 30.0
