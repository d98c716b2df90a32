"""End to end: the health endpoints (readiness after sync, liveness, the Go chart's aliases) and shutdown."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from kubesim import KubeSim

from .conftest import StartOperator
from .harness import GROUP, USER_AGENT, OperatorProcess, install_crds, install_plugin, wait_for

pytestmark = [pytest.mark.e2e]

LIST_LATENCY = 3.0


def probe_until_ready(operator: OperatorProcess, timeout: float = 30.0) -> list[tuple[float, int, str]]:
    """Ask /readyz as fast as it answers until it says 200: (time the answer came, status, body) each."""
    answers: list[tuple[float, int, str]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = operator.probe("/readyz")
        if status:
            answers.append((time.time(), status, body))
        if status == 200:
            return answers
        time.sleep(0.02)
    raise AssertionError(f"/readyz never answered 200; last answers: {answers[-3:]}")


@pytest.mark.slow
def test_readyz_is_false_until_every_watch_has_listed(sim: KubeSim, operators: StartOperator) -> None:
    """/readyz answers 503, naming what is not synced, until every watch's initial LIST has completed, then 200."""
    sim.faults.add_latency(LIST_LATENCY, verb="list", resource="jobs")
    operator = operators(sim)
    answers = probe_until_ready(operator)
    lists = [r for r in sim.requests.filter(verb="list", resource="jobs") if r.user_agent == "arcane-operator"]
    assert len(lists) == 1, (answers, lists)
    (first_list,) = lists
    listed_at = first_list.timestamp + LIST_LATENCY  # the server cannot have answered the LIST before this
    early = [(status, body) for at, status, body in answers if at < listed_at]
    assert early, "the probe never answered while the Job LIST was held back"
    assert all(status == 503 for status, _ in early), f"ready before the Job watch listed: {early}"
    assert any("batch/v1/Job in all namespaces: listing" in body for _, body in early)
    assert answers[-1][1] == 200
    assert answers[-1][2] == "ready\n"
    for path in ("/health/ready", "/startup"):
        assert operator.probe(path) == (200, "ready\n" if path != "/startup" else "started\n")


@pytest.mark.slow
def test_readyz_waits_for_kinds_the_server_does_not_serve_yet(
    operators: StartOperator, kubesim_factory: Callable[..., KubeSim]
) -> None:
    """An operator started before our CRDs exist is not ready, naming the kinds it cannot watch, and becomes ready once they are installed, without a restart."""
    bare = kubesim_factory(job_default_outcome="succeed-after=0.5s")
    operator = operators(bare)
    operator.wait_log("cannot watch streaming.sneaksanddata.com/v1/StreamClass")
    status, body = operator.probe("/readyz")
    assert status == 503
    assert (
        "- streaming.sneaksanddata.com/v1/StreamClass: not served (no resource serves kind "
        "streaming.sneaksanddata.com/v1/StreamClass: group-version streaming.sneaksanddata.com/v1 is not served)"
    ) in body.splitlines()
    install_crds(bare)
    operator.wait_ready(30)
    operator.wait_log("watching streaming.sneaksanddata.com/v1/StreamClass (cluster-scoped)")
    assert operator.alive()


def test_liveness_and_go_chart_aliases_answer(sim: KubeSim, operators: StartOperator) -> None:
    """/healthz and /health (the Go chart's liveness path) answer 200 at once; /readyz, /health/ready and /startup answer 200 once synced."""
    operator = operators(sim)
    wait_for("/healthz to answer", lambda: operator.probe("/healthz")[0] == 200)
    assert operator.probe("/health") == (200, "alive\n")
    operator.wait_ready()
    assert operator.probe("/health/ready") == (200, "ready\n")
    assert operator.probe("/startup") == (200, "started\n")
    status, body = operator.probe("/readyz?format=json")
    assert (status, body.replace(" ", "")) == (200, '{"status":"ready","failures":[]}')


@pytest.mark.slow
def test_readyz_waits_for_the_watches_of_kinds_named_by_existing_objects(
    sim: KubeSim, operators: StartOperator
) -> None:
    """At start-up with a Ready StreamClass in the cluster, /readyz stays 503 until the watch of the stream kind it names has listed, not only the watches the rules name directly."""
    install_plugin(sim)
    sim.patch(f"{GROUP}/v1", "StreamClass", None, "demo", {"status": {"phase": "Ready"}}, subresource="status")
    sim.faults.add_latency(LIST_LATENCY, verb="list", resource="demostreams")
    # Discovery answers slowly too (a second a group): the stream kind's watch is planned well after the
    # other watches listed, which leaves time to see /readyz answer in between.
    sim.faults.add_latency(1.0, verb="get")
    operator = operators(sim)
    answers = probe_until_ready(operator)
    lists = [r for r in sim.requests.filter(verb="list", resource="demostreams") if r.user_agent == USER_AGENT]
    assert len(lists) == 1, "the stream kind was listed before /readyz said ready"
    listed_at = lists[0].timestamp + LIST_LATENCY
    early = [(status, body) for at, status, body in answers if at < listed_at]
    assert all(status == 503 for status, _ in early), f"ready before the stream kind was listed: {early}"


@pytest.mark.parametrize("option", ["--health-port", "--metrics-port"])
def test_a_port_in_use_is_an_error_line_and_exit_2(sim: KubeSim, operators: StartOperator, option: str) -> None:
    """A probe or metrics port another process holds: one error line naming the address, the cause and the option to
    change, exit 2, no traceback, and no request to the cluster."""
    holder = socket.socket()
    holder.bind(("0.0.0.0", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        before = len(sim.requests)
        operator = operators(sim, option, str(port))
        assert operator.wait(30) == 2
        assert operator.messages("error") == [
            f"cannot listen on 0.0.0.0:{port}: Address already in use (choose another with {option})"
        ]
        assert "Traceback" not in operator.logs()
        assert [r for r in list(sim.requests)[before:] if r.user_agent == USER_AGENT and r.verb != "get"] == []
    finally:
        holder.close()
