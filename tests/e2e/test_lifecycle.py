"""End to end: a stream plugin installed while the operator runs is watched, and its streams run."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from engine.spec import compile_ruleset
from kubesim import KubeSim
from kubesim.testing import Kubectl

from .conftest import StartOperator
from .harness import (
    DEMO_GROUP,
    GROUP,
    NAMESPACE,
    RULES,
    USER_AGENT,
    WatchRecorder,
    create_stream,
    demo_objects,
    install_plugin,
    phase,
    stream,
    wait_for,
)

pytestmark = [pytest.mark.e2e]


def phases_taken(recorder: WatchRecorder, name: str) -> list[str]:
    """The phases a stream went through, in order, repeats removed."""
    taken: list[str] = []
    for _, obj in recorder.events():
        if obj["metadata"]["name"] != name:
            continue
        current = (obj.get("status") or {}).get("phase")
        if current and (not taken or taken[-1] != current):
            taken.append(current)
    return taken


@pytest.mark.slow
def test_streamclass_created_after_start_up_is_watched(
    sim: KubeSim, operators: StartOperator, custom: Any, kubectl: Kubectl | None
) -> None:
    """A StreamClass and its stream CRD created after start-up get their kind watched without a restart, and a stream of that kind goes Pending -> Backfilling -> Running."""
    operator = operators(sim)
    operator.wait_ready()
    assert not any("DemoStream" in m for m in operator.messages()), "the stream kind was watched before it existed"

    install_plugin(sim, with_class=False)
    streamclass = demo_objects()["StreamClass/demo"]
    if kubectl is not None:
        kubectl.run("apply", "-f", "-", stdin=yaml.safe_dump(streamclass))
    else:
        custom.create_cluster_custom_object("streaming.sneaksanddata.com", "v1", "streamclasses", streamclass)
    operator.wait_log("watching demo.arcane.dev/v1/DemoStream")
    wait_for(
        "the StreamClass to be Ready",
        lambda: (
            (
                custom.get_cluster_custom_object_status(
                    "streaming.sneaksanddata.com", "v1", "streamclasses", "demo"
                ).get("status")
                or {}
            ).get("phase")
            == "Ready"
        ),
    )

    recorder = WatchRecorder(custom, DEMO_GROUP, "v1", "demostreams").start()
    try:
        custom.create_namespaced_custom_object(DEMO_GROUP, "v1", NAMESPACE, "demostreams", stream("orders"))
        wait_for("orders to be Running", lambda: phase(sim, "orders") == "Running")
        wait_for("the recorder to see Running", lambda: "Running" in phases_taken(recorder, "orders"), 10)
    finally:
        recorder.stop()
    # backfill-completed hands over to Pending, whose start-streaming rule creates the streaming Job.
    assert phases_taken(recorder, "orders") == ["Pending", "Backfilling", "Pending", "Running"]
    if kubectl is not None:
        shown = kubectl.run("get", "demostreams", "-n", NAMESPACE, "orders", "-o", "jsonpath={.status.phase}").stdout
        assert shown == "Running"
    jobs = custom.list_namespaced_custom_object("batch", "v1", NAMESPACE, "jobs", label_selector="streamId=orders")
    assert [job["metadata"]["name"] for job in jobs["items"] if not job["metadata"].get("deletionTimestamp")] == [
        "orders"
    ]


@pytest.mark.slow
def test_no_action_before_every_watch_has_listed(sim: KubeSim, operators: StartOperator, custom: Any) -> None:
    """A stream found Pending at start-up is not evaluated while the BackfillRequest watch is still listing: its pending request runs as a backfill first, instead of the stream starting without it."""
    install_plugin(sim)
    sim.patch(f"{GROUP}/v1", "StreamClass", None, "demo", {"status": {"phase": "Ready"}}, subresource="status")
    create_stream(custom, stream("orders"))
    sim.patch(
        f"{DEMO_GROUP}/v1", "DemoStream", NAMESPACE, "orders", {"status": {"phase": "Pending"}}, subresource="status"
    )
    request = {
        "apiVersion": f"{GROUP}/v1",
        "kind": "BackfillRequest",
        "metadata": {"name": "orders-request", "namespace": NAMESPACE},
        "spec": {"streamClass": "demo", "streamId": "orders"},
    }
    custom.create_namespaced_custom_object(GROUP, "v1", NAMESPACE, "backfillrequests", request)
    sim.faults.add_latency(3.0, verb="list", resource="backfillrequests")
    jobs = WatchRecorder(custom, "batch", "v1", "jobs").start()
    try:
        operators(sim)
        wait_for("orders to be Running", lambda: phase(sim, "orders") == "Running")
    finally:
        jobs.stop()
    created = [obj["metadata"]["name"] for kind, obj in jobs.events() if kind == "ADDED"]
    assert created == ["orders-backfill", "orders"]
    done = custom.get_namespaced_custom_object(GROUP, "v1", NAMESPACE, "backfillrequests", "orders-request")
    assert done["spec"]["completed"] is True


def api_counts(sim: KubeSim) -> dict[tuple[str, str], int]:
    """The operator's requests as kubesim served them: (verb, status code) -> count."""
    counts: dict[tuple[str, str], int] = {}
    for record in sim.requests.records():
        if record.user_agent == USER_AGENT:
            key = (record.verb, str(record.status))
            counts[key] = counts.get(key, 0) + 1
    return counts


def served(sim: KubeSim, verb: str, status: int, *, subresource: str | None = None, resource: str | None = None) -> int:
    return sum(
        1
        for r in sim.requests.filter(verb=verb, status=status, resource=resource)
        if r.user_agent == USER_AGENT and (subresource is None or r.subresource == subresource)
    )


@pytest.mark.slow
def test_metrics_count_what_happened(sim: KubeSim, operators: StartOperator, custom: Any) -> None:
    """/metrics counts the watch events, evaluations by rule, actions by verb and result and API requests by verb and code of a stream's lifecycle, equal to what the API server served, and shows the active rule set's digest; each write's log line names its rule and object as fields."""
    install_plugin(sim)
    operator = operators(sim)
    operator.wait_log("watching demo.arcane.dev/v1/DemoStream")  # once the class is Ready
    operator.wait_ready()
    create_stream(custom, stream("orders"))
    wait_for("orders to be Running", lambda: phase(sim, "orders") == "Running")

    def api_requests_match() -> bool:
        metrics = operator.metrics()
        counted = {
            (labels["verb"], labels["code"]): int(value)
            for labels, value in metrics.samples["arcane_api_requests_total"]
        }
        return counted == api_counts(sim)

    wait_for("the API request counters to equal kubesim's request log", api_requests_match, 10)
    metrics = operator.metrics()
    assert metrics.value("arcane_api_requests_total", verb="create", code="201") > 0

    def actions(verb: str) -> int:
        return int(metrics.value("arcane_actions_total", verb=verb, result="ok"))

    assert actions("create") == served(sim, "create", 201, resource="jobs") + served(
        sim, "create", 201, resource="backfillrequests"
    )
    assert actions("create") == 3  # the initial BackfillRequest, the backfill Job, the streaming Job
    assert actions("event") == served(sim, "create", 201, resource="events")
    assert actions("patch-status") == served(sim, "patch", 200, subresource="status")
    assert actions("patch") == served(sim, "patch", 200, subresource="") == 1  # the request completed
    assert actions("delete") == served(sim, "delete", 200) == 1  # the backfill Job
    assert metrics.value("arcane_actions_total", result="error") == 0

    stream_kind = "demo.arcane.dev/v1/DemoStream"
    assert metrics.value("arcane_events_received_total", kind=stream_kind, type="ADDED") == 1
    assert metrics.value("arcane_events_received_total", kind=stream_kind, type="MODIFIED") >= 3
    assert metrics.value("arcane_events_received_total", kind="batch/v1/Job", type="ADDED") == 2
    assert metrics.value("arcane_relists_total", kind=stream_kind, reason="initial") == 1
    lifecycle = ["request-initial-backfill", "start-backfill", "backfill-completed", "start-streaming"]
    for rule in ["class-created", "class-ready", *lifecycle, "request-accepted", "request-completed"]:
        assert metrics.value("arcane_evaluations_total", rule=rule, outcome="decided") >= 1, rule
    assert metrics.value("arcane_evaluations_total", outcome="error") == 0
    assert metrics.value("arcane_queue_adds_total") >= metrics.value("arcane_queue_work_seconds_count") > 0
    assert metrics.value("arcane_reloads_total") == 0
    assert metrics.value("arcane_leader") == 1  # it acts: no leader election, the only replica

    # Every write's log line says which rule wrote, for which object, as fields a log store can filter on.
    writes = [r for r in operator.records() if r["msg"].startswith(("created ", "patched ", "deleted "))]
    assert writes
    assert all(r.get("rule") and r.get("object") for r in writes), [r for r in writes if not r.get("object")]
    assert {r["rule"] for r in writes if r["msg"] == f"created Job/{NAMESPACE}/orders-backfill"} == {"start-backfill"}

    (started,) = [r for r in operator.records() if r["msg"] == "operator started"]
    assert metrics.labels("arcane_ruleset_info") == [{"digest": started["digest"]}]
    assert started["digest"] == compile_ruleset([RULES]).digest


@pytest.mark.slow
def test_backfill_request_reaches_its_running_stream_through_the_trigger(
    sim: KubeSim, operators: StartOperator, custom: Any
) -> None:
    """A BackfillRequest created for a Running stream re-evaluates that stream through the rules' trigger (no resync exists): the stream backfills again, completes the request and runs."""
    install_plugin(sim)
    operator = operators(sim)
    operator.wait_log("watching demo.arcane.dev/v1/DemoStream")
    operator.wait_ready()
    create_stream(custom, stream("orders"))
    wait_for("orders to be Running", lambda: phase(sim, "orders") == "Running")

    recorder = WatchRecorder(custom, DEMO_GROUP, "v1", "demostreams").start()
    try:
        request = {
            "apiVersion": f"{GROUP}/v1",
            "kind": "BackfillRequest",
            "metadata": {"name": "again", "namespace": NAMESPACE},
            "spec": {"streamClass": "demo", "streamId": "orders"},
        }
        custom.create_namespaced_custom_object(GROUP, "v1", NAMESPACE, "backfillrequests", request)
        wait_for(
            "the request to be completed",
            lambda: custom.get_namespaced_custom_object(GROUP, "v1", NAMESPACE, "backfillrequests", "again")[
                "spec"
            ].get("completed"),
        )
        wait_for("orders to run again", lambda: phases_taken(recorder, "orders")[-1:] == ["Running"])
    finally:
        recorder.stop()
    assert phases_taken(recorder, "orders") == ["Running", "Pending", "Backfilling", "Pending", "Running"]


@pytest.mark.slow
def test_stream_deleted_in_the_foreground_goes_with_its_job_and_nothing_is_created_again(
    sim: KubeSim, operators: StartOperator, custom: Any, kubectl: Kubectl | None
) -> None:
    """`kubectl delete --cascade=foreground` of a Running stream: the garbage collector deletes its Job while the
    stream waits with a deletionTimestamp, the stream then goes, and the operator creates no Job meanwhile (a rule
    starting what is missing would create the Job again as soon as the collector deleted it)."""
    install_plugin(sim)
    operators(sim)
    create_stream(custom, stream("orders"))
    wait_for("orders to be Running", lambda: phase(sim, "orders") == "Running")
    (running,) = sim.list("batch/v1", "Job", NAMESPACE)

    jobs = WatchRecorder(custom, "batch", "v1", "jobs").start()
    try:
        if kubectl is not None:
            kubectl.run("delete", "demostream", "orders", "-n", NAMESPACE, "--cascade=foreground", "--wait=false")
        else:
            custom.delete_namespaced_custom_object(
                DEMO_GROUP, "v1", NAMESPACE, "demostreams", "orders", body={"propagationPolicy": "Foreground"}
            )
        wait_for("orders to be gone", lambda: sim.get(f"{DEMO_GROUP}/v1", "DemoStream", NAMESPACE, "orders") is None)
        wait_for("its Jobs to be gone", lambda: sim.list("batch/v1", "Job", NAMESPACE) == [])
    finally:
        jobs.stop()
    deleted = [obj["metadata"]["uid"] for kind, obj in jobs.events() if kind == "DELETED"]
    added = [obj["metadata"]["uid"] for kind, obj in jobs.events() if kind == "ADDED"]
    assert deleted == [running["metadata"]["uid"]]
    assert [uid for uid in added if uid != running["metadata"]["uid"]] == [], "a Job was created again"
    assert served(sim, "create", 201, resource="jobs") == 2, "the backfill Job and the streaming Job only"
