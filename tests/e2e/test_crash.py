"""End to end: an operator killed between the writes of one decision, and the operator that comes after it."""

from __future__ import annotations

from typing import Any

import pytest

from kubesim import KubeSim

from .conftest import StartOperator
from .harness import GROUP, NAMESPACE, create_stream, install_plugin, phase, stream, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


class SecondBackfillError(AssertionError):
    """The successor made a second BackfillRequest for the stream (so a second backfill Job runs)."""


def test_successor_adopts_the_work_of_an_operator_killed_between_two_writes(
    sim: KubeSim, operators: StartOperator, custom: Any
) -> None:
    """An operator SIGKILLed after creating a new stream's initial BackfillRequest but before writing its phase leaves a successor that carries on with that request: one request, one backfill Job."""
    install_plugin(sim)
    first = operators(sim, name="first")
    first.wait_log("watching demo.arcane.dev/v1/DemoStream")
    first.wait_ready()
    sim.faults.add_latency(60.0, verb="patch", resource="demostreams")  # the phase write never lands in time
    create_stream(custom, stream("orders"))
    wait_for("the initial BackfillRequest", lambda: sim.list(f"{GROUP}/v1", "BackfillRequest", NAMESPACE))
    first.kill()
    sim.faults.clear()
    assert phase(sim, "orders") == ""

    operators(sim, name="second")
    wait_for("orders to be Running", lambda: phase(sim, "orders") == "Running")
    requests = [r["metadata"]["name"] for r in sim.list(f"{GROUP}/v1", "BackfillRequest", NAMESPACE)]
    created = sim.requests.filter(verb="create", resource="jobs", status=201)
    if len(requests) != 1:
        raise SecondBackfillError(f"BackfillRequests: {requests}; Jobs created: {len(created)}")
    assert len(created) == 2  # orders-backfill, then orders
