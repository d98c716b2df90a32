"""End to end: two replicas with leader election; the leader dies, the standby takes over, nothing is done twice."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from kubesim import KubeSim

from .conftest import StartOperator
from .harness import (
    GROUP,
    NAMESPACE,
    OperatorProcess,
    WatchRecorder,
    create_stream,
    install_plugin,
    stream,
    wait_for,
    wait_phase,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ELECT = ("--leader-elect", "--leader-election-namespace", "default")
HANDOVER_SECONDS = 20.0
BACKFILL_SECONDS = 4.0
"""Backfills last long enough for the leader to die while they run, rather than between the writes of one
decision (test_crash.py covers that case)."""


def holder(sim: KubeSim) -> str:
    found = sim.get("coordination.k8s.io/v1", "Lease", "default", "arcane-operator")
    return str(((found or {}).get("spec") or {}).get("holderIdentity") or "")


def leading(operator: OperatorProcess) -> bool:
    return operator.metrics().value("arcane_leader") == 1


def acted(operator: OperatorProcess) -> float:
    """How many actions (writes and events) this process performed."""
    return operator.metrics().value("arcane_actions_total")


def most_jobs_at_once(recorder: WatchRecorder) -> dict[str, int]:
    """Per stream (label arcane/stream-id): the most Jobs carrying its labels that existed at one time."""
    alive: dict[str, set[str]] = {}
    most: Counter[str] = Counter()
    for kind, job in recorder.events():
        owner = (job["metadata"].get("labels") or {}).get("arcane/stream-id", "")
        names = alive.setdefault(owner, set())
        if kind == "DELETED":
            names.discard(job["metadata"]["name"])
        else:
            names.add(job["metadata"]["name"])
        most[owner] = max(most[owner], len(names))
    return dict(most)


@pytest.mark.parametrize("sim", [BACKFILL_SECONDS], indirect=True, ids=["backfills-take-4s"])
def test_standby_takes_over_when_the_leader_dies_and_no_job_is_created_twice(
    sim: KubeSim, operators: StartOperator, custom: Any
) -> None:
    """With two `--leader-elect` replicas only the Lease holder acts; after the holder is SIGKILLed while backfills run the standby leads within 20 s and finishes the work, and no Job is ever created twice."""
    install_plugin(sim)
    jobs = WatchRecorder(custom, "batch", "v1", "jobs").start()
    try:
        first, second = operators(sim, *ELECT, name="first"), operators(sim, *ELECT, name="second")
        wait_for("a leader", lambda: holder(sim))
        leader = wait_for("the leader's gauge", lambda: next((o for o in (first, second) if leading(o)), None))
        standby = second if leader is first else first
        leader.wait_log("watching demo.arcane.dev/v1/DemoStream")
        standby.wait_ready()
        assert standby.messages().count("leading: processing starts") == 0

        before = ["a", "b"]
        for name in before:
            create_stream(custom, stream(name))
        for name in before:
            wait_phase(sim, name, "Running")
        assert acted(leader) > 0
        assert acted(standby) == 0, "the standby acted while the other replica led"
        assert standby.metrics().value("arcane_evaluations_total") == 0

        during = ["c", "d", "e", "f"]
        for name in during:
            create_stream(custom, stream(name))
        for name in during:
            wait_phase(sim, name, "Backfilling")
        old = holder(sim)
        leader.kill()
        killed = time.monotonic()
        wait_for("the standby to take the Lease", lambda: holder(sim) not in ("", old), HANDOVER_SECONDS + 5)
        handover = time.monotonic() - killed
        assert handover <= HANDOVER_SECONDS, f"handover took {handover:.1f} s"
        assert leading(standby)
        standby.wait_log("leading: processing starts")
        for name in before + during:
            wait_phase(sim, name, "Running")
    finally:
        jobs.stop()

    created = Counter(job["metadata"]["name"] for kind, job in jobs.events() if kind == "ADDED")
    expected = {f"{name}-backfill" for name in before + during} | set(before + during)
    assert set(created) == expected
    assert all(count == 1 for count in created.values()), created
    posts = sim.requests.filter(verb="create", resource="jobs", status=201)
    assert len(posts) == len(expected), "a Job was created twice"
    assert most_jobs_at_once(jobs) == dict.fromkeys(before + during, 1), "a stream had two Jobs at once"
    requests = sim.list(f"{GROUP}/v1", "BackfillRequest", NAMESPACE)
    assert Counter(r["spec"]["streamId"] for r in requests) == dict.fromkeys(before + during, 1)


def test_leader_that_cannot_renew_stops_acting_at_once_and_exits_1(
    sim: KubeSim, operators: StartOperator, custom: Any
) -> None:
    """A leader whose Lease renewals fail past the renew deadline exits with code 1 without finishing its in-flight work: no action completes after it logs the loss (a Lease does not fence writes)."""
    install_plugin(sim)
    operator = operators(sim, *ELECT)
    wait_for("the operator to lead", lambda: holder(sim))
    operator.wait_log("watching demo.arcane.dev/v1/DemoStream")
    operator.wait_ready()
    # Status writes of streams hang for longer than the renew deadline (10 s): the loss comes mid-write.
    sim.faults.add_latency(14.0, verb="patch", resource="demostreams")
    sim.faults.fail_always(503, resource="leases")
    for name in ("a", "b", "c"):
        create_stream(custom, stream(name))
    code = operator.wait(30)
    assert code == 1
    messages = operator.messages()
    lost = messages.index("leadership lost: exiting so that no two replicas act at once")
    after = [m for m in messages[lost:] if m.startswith(("created ", "patched ", "deleted ", "adopted "))]
    assert after == [], f"acted after losing the Lease: {after}"
    assert messages[-1] == "stopped"
