"""Metrics: a registry per instance, every observer hook the lower layers call, bounded labels, exposition."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from kube.fakeapi import JOBS, FakeApi, eventually
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest

from engine.kube.client import KubeClient
from engine.kube.config import KubeSettings
from engine.kube.informer import Informer, InformerOptions
from engine.kube.timing import ManualClock
from engine.runtime.metrics import Metrics
from engine.runtime.queue import Priority, WorkQueue

ROOT = Path(__file__).resolve().parents[2]

# The buckets the operator exposes, written out: a bound changed in engine.runtime.metrics fails here.
FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
SLOW = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def test_instances_do_not_share_a_registry() -> None:
    """Two operators in one process (tests) each count their own events; nothing is registered globally."""
    a, b = Metrics("op"), Metrics("op")
    a.event_received("batch/v1/Job", "ADDED")
    assert a.registry.get_sample_value("op_events_received_total", {"kind": "batch/v1/Job", "type": "ADDED"}) == 1
    assert b.registry.get_sample_value("op_events_received_total", {"kind": "batch/v1/Job", "type": "ADDED"}) is None


def test_reactor_hooks_and_rule_set_digest() -> None:
    """Evaluations, actions, reloads and the active digest appear with their labels; a new digest replaces
    the old one."""
    m = Metrics("op")
    m.evaluated("create-job", "ok", 0.002)
    m.action("create", "ok")
    m.reloaded("rejected")
    m.set_ruleset_digest("abc")
    m.set_ruleset_digest("def")
    m.leader_changed(True)
    value = m.registry.get_sample_value
    assert value("op_evaluations_total", {"rule": "create-job", "outcome": "ok"}) == 1
    assert value("op_evaluation_seconds_count", {"rule": "create-job"}) == 1
    assert value("op_actions_total", {"verb": "create", "result": "ok"}) == 1
    assert value("op_reloads_total", {"result": "rejected"}) == 1
    assert value("op_ruleset_info", {"digest": "def"}) == 1
    assert value("op_ruleset_info", {"digest": "abc"}) is None
    assert value("op_leader") == 1
    body, content_type = m.render()
    assert content_type.startswith("text/plain")
    assert b'op_ruleset_info{digest="def"} 1.0' in body


async def test_client_informer_and_queue_report_into_one_registry(api: FakeApi) -> None:
    """Wired as observers, the client counts API requests by verb and code (no answer = "error"), the informer
    counts events, relists and restarts by kind, and the queue reports depth, adds and waits."""
    m = Metrics("op")
    clock = ManualClock()
    api.add(JOBS, {"metadata": {"name": "a", "namespace": "ns"}})
    async with KubeClient(KubeSettings(host=api.url), clock=clock, observer=m) as client:
        queue: WorkQueue[str] = WorkQueue(clock=clock, observer=m)
        informer = Informer(
            client, InformerOptions(JOBS), lambda kind, old, new: queue.add("k", Priority.LOW), clock=clock, observer=m
        )
        informer.start()
        await asyncio.wait_for(informer.synced.wait(), 2)
        await eventually(lambda: len(api.watchers) == 1)
        api.add(JOBS, {"metadata": {"name": "b", "namespace": "ns"}})
        await eventually(lambda: len(informer.cache) == 2)
        await informer.stop()
    m.api_request("get", 0, 0.1)
    value = m.registry.get_sample_value
    assert value("op_api_requests_total", {"verb": "list", "code": "200"}) == 1
    assert value("op_api_requests_total", {"verb": "watch", "code": "200"}) == 1
    assert value("op_api_requests_total", {"verb": "get", "code": "error"}) == 1
    assert value("op_relists_total", {"kind": "batch/v1/Job", "reason": "initial"}) == 1
    assert value("op_events_received_total", {"kind": "batch/v1/Job", "type": "ADDED"}) == 1
    assert value("op_queue_adds_total", {"priority": "low"}) == 1
    assert value("op_queue_depth") == 1


def _masked(body: bytes) -> str:
    """The exposition with `_created` timestamps replaced (they differ by construction time), and without the
    process's own metrics (prometheus_client's ProcessCollector: their values move between two readings)."""
    lines = [line for line in body.decode().splitlines(keepends=True) if not re.match(r"(# \w+ )?process_", line)]
    return re.sub(r"(_created(\{[^}]*\})? )\S+", r"\1T", "".join(lines))


def test_the_process_is_described() -> None:
    """The process's memory, CPU and open files are exposed (prometheus_client's ProcessCollector): an SRE alerts
    on memory against the Deployment's limit."""
    body = Metrics("op").render()[0].decode()
    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds"):
        assert re.search(rf"^{name} [0-9.e+]+$", body, re.MULTILINE), name


def test_exposition_is_prometheus_clients_own() -> None:
    """The lock-free counters, histograms and queue gauge expose exactly the series prometheus_client's own
    Counter, Histogram and Gauge would: names, labels, cumulative buckets, sums, `_created`, and the series of
    a metric without labels at 0 before any update."""
    ours = Metrics("op")
    reference = CollectorRegistry(auto_describe=True)
    events = Counter("op_events_received", "Watch events received.", ["kind", "type"], registry=reference)
    Counter("op_watch_restarts", "Watch restarts.", ["kind", "reason"], registry=reference)
    Counter("op_relists", "Full LISTs into an informer cache.", ["kind", "reason"], registry=reference)
    depth = Gauge("op_queue_depth", "Keys waiting to be evaluated.", registry=reference)
    Counter("op_queue_adds", "Keys added to the work queue.", ["priority"], registry=reference)
    Counter("op_queue_retries", "Rate-limited requeues.", registry=reference)
    wait = Histogram("op_queue_wait_seconds", "Time a key waited in the queue.", buckets=SLOW, registry=reference)
    Histogram("op_queue_work_seconds", "Time from handing a key out to done.", buckets=SLOW, registry=reference)
    evaluations = Counter("op_evaluations", "Rule evaluations by outcome.", ["rule", "outcome"], registry=reference)
    seconds = Histogram(
        "op_evaluation_seconds", "Evaluation latency per rule.", ["rule"], buckets=FAST, registry=reference
    )
    Counter("op_actions", "Actions executed, by verb and result.", ["verb", "result"], registry=reference)
    Counter("op_api_requests", "Kubernetes API requests.", ["verb", "code"], registry=reference)
    Histogram("op_api_request_seconds", "Kubernetes API latency.", ["verb"], buckets=SLOW, registry=reference)
    Counter("op_reloads", "Rule-set reloads by result.", ["result"], registry=reference)
    Info("op_ruleset", "The active rule set.", registry=reference)
    Gauge(
        "op_leader",
        "1 while this process acts: it holds the leader lease, or runs without leader election.",
        registry=reference,
    )
    assert _masked(ours.render()[0]) == _masked(generate_latest(reference))
    for value in (0.0005, 0.3, 0.001, 400.0):  # on a bound, between bounds, beyond the last bound
        ours.queue_waited(value)
        wait.observe(value)
        ours.evaluated("r", "decided", value)
        seconds.labels("r").observe(value)
        evaluations.labels("r", "decided").inc()
    ours.event_received("batch/v1/Job", "ADDED")
    events.labels("batch/v1/Job", "ADDED").inc()
    ours.queue_depth(7)
    depth.set(7)
    assert _masked(ours.render()[0]) == _masked(generate_latest(reference))


def test_install_guide_lists_every_metric() -> None:
    """docs/install.md's table names every metric family the operator exposes, and no other."""
    documented = set(re.findall(r"^\| `(arcane_\w+)`", (ROOT / "docs" / "install.md").read_text(), re.MULTILINE))
    exposed = {
        family.name + ("_total" if family.type == "counter" else "_info" if family.type == "info" else "")
        for family in Metrics("arcane").registry.collect()
        if not family.name.startswith("process_")
    }
    assert documented == exposed
