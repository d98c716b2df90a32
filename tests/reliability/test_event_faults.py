"""Watch events delivered twice, in bursts, and out of order across kinds (through tests/reliability/proxy.py), and
events that re-evaluate a stream whose status the CRD prunes (no write per evaluation)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from e2e.conftest import StartOperator
from e2e.harness import NAMESPACE, events

from .bed import DEMO, PRUNED, Bed, stream, until, wait_ready
from .history import operator_requests, requests_per_stream
from .proxy import WatchProxy, through

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BURST = 100
EDITS = 10


def test_duplicated_events_and_bursts_are_evaluated_once(
    bed: Bed, proxy: WatchProxy, operators: StartOperator, tmp_path: Path
) -> None:
    """Every watch event delivered twice changes nothing (each Job created once, same end state), and a burst of 100 MODIFIED events for one stream, arriving together, is evaluated once (a few times at most, as the batch is read in parts), not 100 times."""
    proxy.mangling.duplicate = True
    operator = through(proxy, operators, bed, tmp_path)
    bed.create_many(8)
    bed.check()
    assert {name: n for name, n in bed.job_creates().items() if n > 1} == {}
    assert set(requests_per_stream(bed.history.changes()).values()) == {1}

    proxy.mangling.hold.add(DEMO.plural)
    before = operator.metrics().value("arcane_evaluations_total", rule="keep-running")
    for index in range(BURST):
        patch = {"metadata": {"annotations": {"example.com/n": str(index)}}}
        bed.sim.patch(DEMO.api_version, DEMO.kind, NAMESPACE, "s-0", patch)
    time.sleep(0.5)
    proxy.mangling.hold.discard(DEMO.plural)  # the 100 events (200 lines) arrive together
    time.sleep(2.0)
    evaluated = operator.metrics().value("arcane_evaluations_total", rule="keep-running") - before
    assert 1 <= evaluated <= 3, f"{BURST} events of one stream made {evaluated:g} evaluations"
    bed.check()


def test_events_out_of_order_across_kinds_never_duplicate_work(
    bed: Bed, proxy: WatchProxy, operators: StartOperator, tmp_path: Path
) -> None:
    """With stream and BackfillRequest events arriving 1-1.5 s after the Job events they caused (a cache older than the operator's own writes), no Job or request is created twice and no transition happens on stale state."""
    proxy.mangling.delay = {DEMO.plural: 1.0, PRUNED.plural: 1.0, "backfillrequests": 1.5}
    through(proxy, operators, bed, tmp_path)
    bed.create_many(8)
    bed.check()
    assert {name: n for name, n in bed.job_creates().items() if n > 1} == {}
    assert set(requests_per_stream(bed.history.changes()).values()) == {1}
    spurious = [
        e["message"]
        for e in events(bed.sim, NAMESPACE)
        if e.get("reason") in ("BackfillNotRequested", "ReconcileError")
    ]
    assert spurious == []


def test_status_pruned_by_the_crd_is_not_rewritten_on_every_evaluation(bed: Bed, operators: StartOperator) -> None:
    """A stream whose CRD prunes the condition fields the operator writes (reason, message) and whose step keeps failing is evaluated on each of ten changes without its status being rewritten each time (the server would answer each write with the same pruned status): no write loop."""
    operator = operators(bed.sim)
    wait_ready(operator, PRUNED)
    broken = stream(PRUNED, "broken")
    broken["spec"]["execution"]["streamingBackend"]["changeCapture"]["jobTemplateRef"] = {"name": "missing"}
    bed.sim.apply(broken)
    until("broken to report its missing template", lambda: "ReconcileError" in str(bed.obj(PRUNED, "broken")))
    time.sleep(1.0)
    stored = (bed.obj(PRUNED, "broken") or {})["status"]["conditions"]
    assert {"type": "ReconcileError", "status": "True"} in stored, "the CRD did not prune the condition"
    since = time.time()
    before = operator.metrics().value("arcane_evaluations_total", rule="start-streaming")
    for index in range(EDITS):
        bed.sim.patch(
            PRUNED.api_version, PRUNED.kind, NAMESPACE, "broken", {"metadata": {"annotations": {"n": str(index)}}}
        )
        time.sleep(0.3)
    time.sleep(1.0)
    evaluated = operator.metrics().value("arcane_evaluations_total", rule="start-streaming") - before
    assert evaluated >= EDITS, f"only {evaluated:g} evaluations for {EDITS} changes"
    rewritten = [r for r in operator_requests(bed.sim, since=since) if r.subresource == "status" and r.name == "broken"]
    assert len(rewritten) <= 1, f"status rewritten {len(rewritten)} times in {evaluated:g} evaluations"
