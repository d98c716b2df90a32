"""Metrics: a registry per instance, every observer hook the lower layers call, bounded labels, exposition."""

from __future__ import annotations

import asyncio

from kube.fakeapi import JOBS, FakeApi, eventually

from engine.kube.client import KubeClient
from engine.kube.config import KubeSettings
from engine.kube.informer import Informer, InformerOptions
from engine.kube.timing import ManualClock
from engine.runtime.metrics import Metrics
from engine.runtime.queue import Priority, WorkQueue


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
