"""End to end: graceful shutdown on SIGTERM in the middle of work."""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from kubesim import KubeSim

from .conftest import StartOperator
from .harness import GROUP, NAMESPACE, create_stream, install_plugin, phase, stream, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STREAMS = [f"s{i}" for i in range(8)]


def holder(sim: KubeSim) -> str:
    """Who holds the operator's Lease ("" when released or not created yet)."""
    found = sim.get("coordination.k8s.io/v1", "Lease", "default", "arcane-operator")
    return str(((found or {}).get("spec") or {}).get("holderIdentity") or "")


def test_sigterm_mid_work_finishes_in_flight_actions_and_exits_0(
    sim: KubeSim, operators: StartOperator, custom: Any
) -> None:
    """SIGTERM while writes are in flight stops taking keys, lets each evaluation in flight finish its writes, releases the Lease and exits 0 within 10 s."""
    install_plugin(sim)
    operator = operators(sim, "--leader-elect", "--leader-election-namespace", "default")
    wait_for("the operator to lead", lambda: holder(sim))
    operator.wait_log("watching demo.arcane.dev/v1/DemoStream")
    operator.wait_ready()
    sim.faults.add_latency(1.0, verb="patch")  # every status write takes a second: work stays in flight
    for name in STREAMS:
        create_stream(custom, stream(name))
    wait_for("a write in flight", lambda: operator.metrics().value("arcane_actions_total", verb="create") >= 1)

    operator.signal(signal.SIGTERM)
    sent = time.monotonic()
    code = operator.wait(10)
    elapsed = time.monotonic() - sent
    assert code == 0, f"exit code {code}"
    assert elapsed < 10, f"took {elapsed:.1f} s"
    messages = operator.messages()
    assert "shutting down" in messages
    assert messages[-1] == "stopped"

    # No evaluation was cut between its writes: a stream whose initial BackfillRequest exists also has the
    # phase the same decision wrote (create the request, then write Pending).
    requests = sim.list(f"{GROUP}/v1", "BackfillRequest", NAMESPACE)
    requested = {r["spec"]["streamId"] for r in requests}
    assert requested, "SIGTERM came before any work"
    for name in STREAMS:
        assert (name in requested) == (phase(sim, name) != ""), (name, phase(sim, name))
    assert holder(sim) == "", "the Lease was not released"


def test_sigterm_exits_0_within_10_s_when_writes_and_the_lease_release_hang(
    sim: KubeSim, operators: StartOperator, custom: Any
) -> None:
    """SIGTERM still exits 0 within 10 s when in-flight writes never answer and the API server is slow to take the Lease release: the drain and the release are bounded together."""
    install_plugin(sim)
    operator = operators(sim, "--leader-elect", "--leader-election-namespace", "default")
    wait_for("the operator to lead", lambda: holder(sim))
    operator.wait_log("watching demo.arcane.dev/v1/DemoStream")
    operator.wait_ready()
    sim.faults.add_latency(30.0, verb="patch")  # status writes hang past any drain
    sim.faults.add_latency(5.0, verb="update", resource="leases")  # renewals still fit the 10 s deadline
    create_stream(custom, stream("a"))
    wait_for("a write in flight", lambda: operator.metrics().value("arcane_actions_total", verb="create") >= 1)

    operator.signal(signal.SIGTERM)
    sent = time.monotonic()
    code = operator.wait(20)
    elapsed = time.monotonic() - sent
    assert code == 0, f"exit code {code}"
    assert elapsed < 10, f"took {elapsed:.1f} s"
    assert operator.messages()[-1] == "stopped"
