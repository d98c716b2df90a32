"""Watch events delivered twice, in bursts, and out of order across kinds (through tests/reliability/proxy.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from e2e.conftest import StartOperator
from e2e.harness import NAMESPACE, OperatorProcess, events

from .bed import DEMO, PRUNED, Bed, wait_ready
from .history import requests_per_stream
from .proxy import WatchProxy

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BURST = 100


def through(proxy: WatchProxy, operators: StartOperator, bed: Bed, tmp_path: Path) -> OperatorProcess:
    # The harness passes the simulator's kubeconfig first; argparse keeps the last --kubeconfig.
    operator = operators(bed.sim, "--kubeconfig", str(proxy.kubeconfig(tmp_path / "proxy.kubeconfig")))
    wait_ready(operator)
    wait_ready(operator, PRUNED)
    return operator


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
