"""Conformance with the Go operator's outputs (../shared/real-fixtures/expected), field by field.

The expected objects were derived from the Go operator's code for the mock plugin's layout-v0 stream and the
SQL Server plugin's layout-v1 batch stream. Our rules must build the same objects, except where
../shared/reference/contract.md decides otherwise; each exception is named where the test allows it:
- contract §2 "backfill Job name": our backfill Job is `<stream>-backfill` (the Go operator reuses `<stream>`);
- contract §2 "labels": every Job also carries `streamId: <stream>` (the user guide's selector);
- contract §4 "BackfillRequests outlive their stream": our initial request is owned by the stream.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.core.evaluate import Snapshot, evaluate
from engine.core.execute import Executor
from engine.expr.canonical import go_json
from engine.model import GVK, CreateObject, Decision
from engine.spec import RuleSet, compile_ruleset
from engine.testing.memory import MemoryCluster

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "real-fixtures"
RULES = Path(__file__).resolve().parents[2] / "rules"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
STREAM_UID = "2b9f4c1e-8d3a-4f6b-9e2c-7a1d5b0c3e94"
JOB = GVK("batch", "v1", "Job")

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"real fixtures not found at {FIXTURES}")


def load(relative: str) -> dict[str, Any]:
    documents = [doc for doc in yaml.safe_load_all((FIXTURES / relative).read_text()) if doc]
    assert len(documents) == 1, relative
    result: dict[str, Any] = documents[0]
    return result


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return compile_ruleset([RULES])


def ready_class(relative: str) -> dict[str, Any]:
    streamclass = load(relative)
    streamclass["metadata"].pop("namespace", None)
    streamclass["status"] = {"phase": "Ready"}
    return streamclass


def step(ruleset: RuleSet, cluster: MemoryCluster, gvk: GVK, namespace: str, name: str) -> list[Decision]:
    """Evaluate one object and execute its decisions, as one reconcile."""
    obj = cluster.get(gvk, namespace, name)
    assert obj is not None
    evaluation = evaluate(ruleset, Snapshot(obj, cluster), lambda: NOW)
    executor = Executor(cluster, now=lambda: "2026-11-27T12:00:00Z")
    for decision in evaluation.decisions:
        assert not decision.error, decision.error
        result = asyncio.run(executor.execute(decision))
        assert result.ok, result.error
    return evaluation.decisions


def created(decisions: list[Decision], kind: str) -> dict[str, Any]:
    objects = [a.obj for d in decisions for a in d.actions if isinstance(a, CreateObject) and a.obj["kind"] == kind]
    assert len(objects) == 1, f"expected one {kind} to be created, got {len(objects)}"
    return dict(objects[0])


@pytest.fixture
def mock_world() -> tuple[MemoryCluster, dict[str, Any]]:
    cluster = MemoryCluster(lambda: "2026-11-27T12:00:00Z")
    cluster.put(ready_class("mock/streamclass-v1.yaml"))
    cluster.put(load("mock/streamingjobtemplate.yaml"))
    stream = load("mock/stream-v0-teststreamdefinition.yaml")
    stream["metadata"]["uid"] = STREAM_UID
    return cluster, cluster.put(stream)


def test_initial_backfill_request_matches_the_go_operator(
    ruleset: RuleSet, mock_world: tuple[MemoryCluster, dict[str, Any]]
) -> None:
    """A new mock v0 stream asks for the same initial BackfillRequest (plus an owner reference, contract §4)."""
    cluster, stream = mock_world
    decisions = step(ruleset, cluster, GVK.of_object(stream), "default", stream["metadata"]["name"])
    request = created(decisions, "BackfillRequest")
    expected = load("expected/mock-v0-initial-backfillrequest.yaml")
    assert request["metadata"]["generateName"] == expected["metadata"]["generateName"]
    assert request["metadata"]["namespace"] == expected["metadata"]["namespace"]
    assert request["spec"] == {k: v for k, v in expected["spec"].items() if k != "completed"}
    assert request["metadata"]["ownerReferences"] == [
        {
            "apiVersion": stream["apiVersion"],
            "kind": stream["kind"],
            "name": stream["metadata"]["name"],
            "uid": STREAM_UID,
            "controller": True,
        }
    ]
    status = cluster.get(GVK.of_object(stream), "default", stream["metadata"]["name"])["status"]  # type: ignore[index]
    assert status["phase"] == "Pending"


def _pending_with_request(cluster: MemoryCluster, stream: dict[str, Any]) -> None:
    request = load("expected/mock-v0-initial-backfillrequest.yaml")
    request["metadata"].pop("generateName")
    request["metadata"]["creationTimestamp"] = "2026-11-27T12:00:00Z"
    cluster.put(request)
    stream = copy.deepcopy(stream)
    stream["status"] = {"phase": "Pending"}
    cluster.put(stream)


def test_backfill_job_matches_the_go_operator(
    ruleset: RuleSet, mock_world: tuple[MemoryCluster, dict[str, Any]]
) -> None:
    """The backfill Job equals the Go operator's field by field, hash included, but for its name, one label and the
    annotation naming the request it serves."""
    cluster, stream = mock_world
    stream["metadata"]["creationTimestamp"] = "2026-11-27T11:00:00Z"
    _pending_with_request(cluster, stream)
    decisions = step(ruleset, cluster, GVK.of_object(stream), "default", stream["metadata"]["name"])
    job = created(decisions, "Job")
    expected = load("expected/mock-v0-backfill-job.yaml")
    name = stream["metadata"]["name"]
    # contract §2: the backfill Job is named `<stream>-backfill` and also labelled `streamId`.
    expected["metadata"]["name"] = f"{name}-backfill"
    expected["metadata"]["labels"]["streamId"] = name
    # Ours: the request the Job serves, the one completed when it succeeds.
    request = cluster.list(GVK.of_object(load("expected/mock-v0-initial-backfillrequest.yaml")), "default")
    expected["metadata"]["annotations"]["arcane/backfill-request"] = request[0]["metadata"]["name"]
    assert job == expected
    assert job["metadata"]["annotations"]["configuration-hash"] == (
        "6332306630366561643464653730343364626337336565353161323332366363:"
        "3834343764323133353165353465653633363465653038613632356134396538"
    )


def test_streaming_job_matches_the_go_operator(
    ruleset: RuleSet, mock_world: tuple[MemoryCluster, dict[str, Any]]
) -> None:
    """After the backfill, the streaming Job equals the Go operator's field by field (plus the `streamId` label and
    the `arcane/spec-generation` annotation)."""
    cluster, stream = mock_world
    stream = copy.deepcopy(stream)
    stream["status"] = {"phase": "Pending"}
    stored = cluster.put(stream)
    decisions = step(ruleset, cluster, GVK.of_object(stream), "default", stream["metadata"]["name"])
    job = created(decisions, "Job")
    expected = load("expected/mock-v0-streaming-job.yaml")
    expected["metadata"]["labels"]["streamId"] = stream["metadata"]["name"]
    # The stream's uid and generation: a later evaluation knows the Job is current without hashing the spec.
    meta = stored["metadata"]
    expected["metadata"]["annotations"]["arcane/spec-generation"] = f"{meta['uid']}/{meta['generation']}"
    assert job == expected


def test_happy_path_reaches_running_with_the_expected_statuses(
    ruleset: RuleSet, mock_world: tuple[MemoryCluster, dict[str, Any]]
) -> None:
    """The reconcile-by-reconcile happy path: Pending, Backfilling, (Job completes) Pending, Running, each with its condition."""
    cluster, stream = mock_world
    gvk, name = GVK.of_object(stream), stream["metadata"]["name"]
    sequence = load("expected/mock-v0-happy-path-sequence.yaml")["steps"]
    phases = []
    for _ in range(3):
        step(ruleset, cluster, gvk, "default", name)
        phases.append(cluster.get(gvk, "default", name)["status"]["phase"])  # type: ignore[index]
    backfill = cluster.get(JOB, "default", f"{name}-backfill")
    assert backfill is not None
    backfill["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}  # type: ignore[index]
    for _ in range(2):
        step(ruleset, cluster, gvk, "default", name)
        phases.append(cluster.get(gvk, "default", name)["status"]["phase"])  # type: ignore[index]
    assert phases == ["Pending", "Backfilling", "Backfilling", "Pending", "Running"]
    assert [s["phaseAfter"] for s in sequence[:4]] == ["Pending", "Backfilling", "Pending", "Running"]
    status = cluster.get(gvk, "default", name)["status"]  # type: ignore[index]
    expected = sequence[3]["status"]
    assert status["configurationHash"] == expected["configurationHash"]
    (condition,) = status["conditions"]
    (wanted,) = expected["conditions"]
    assert {k: condition[k] for k in ("type", "status", "reason")} == {
        k: wanted[k] for k in ("type", "status", "reason")
    }
    # contract §5: the condition names the rule that decided.
    assert condition["message"] == f"{wanted['message']} (rule: start-streaming)"
    requests = list(cluster.list(GVK("streaming.sneaksanddata.com", "v1", "BackfillRequest"), "default"))
    assert [r["spec"]["completed"] for r in requests] == [True]


def test_cronjob_matches_the_go_operator(ruleset: RuleSet) -> None:
    """The SQL Server batch stream gets the Go operator's CronJob: schedule, Forbid, the Job spec, the hash, the owner."""
    cluster = MemoryCluster(lambda: "2026-11-27T12:00:00Z")
    cluster.put(ready_class("mssql/streamclass.yaml"))
    cluster.put(load("mssql/streamingjobtemplate.yaml"))
    stream = load("mssql/stream-layout-v1-batch-cron.yaml")
    stream["metadata"]["uid"] = "7d0a5f0e-0000-4000-8000-000000000001"
    stream["status"] = {"phase": "Pending"}
    stream = cluster.put(stream)
    decisions = step(ruleset, cluster, GVK.of_object(stream), "arcane", "orders-stream-hourly")
    cronjob = created(decisions, "CronJob")
    expected = load("expected/mssql-v1-batch-cronjob.yaml")
    spec_json = go_json(stream["spec"])
    spec_hash = hashlib.md5(spec_json.encode(), usedforsecurity=False).hexdigest()
    expected["metadata"]["annotations"]["configuration-hash"] = spec_hash
    # Ours only: the stream's uid and generation, so a later evaluation knows the CronJob is current without a hash.
    meta = stream["metadata"]
    expected["metadata"]["annotations"]["arcane/spec-generation"] = f"{meta['uid']}/{meta['generation']}"
    expected["metadata"]["ownerReferences"][0]["uid"] = stream["metadata"]["uid"]
    container = expected["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    for variable in container["env"]:
        if variable["name"] == "STREAMCONTEXT__SPEC":
            variable["value"] = spec_json
    # The real template's pod-template labels reach the CronJob here: our CRD keeps them (contract §2 and the
    # chart's CRD notes), where the shared CRD prunes them before the Go operator sees them.
    template_labels = load("mssql/streamingjobtemplate.yaml")["spec"]["spec"]["template"]["metadata"]
    expected["spec"]["jobTemplate"]["spec"]["template"]["metadata"] = template_labels
    # contract §2 "labels": the Jobs the CronJob starts carry the stream's labels (the guide's `-l streamId=`).
    name, kind = "orders-stream-hourly", "MicrosoftSqlServerStream"
    expected["spec"]["jobTemplate"]["metadata"] = {
        "labels": {"arcane/stream-id": name, "arcane/stream-kind": kind, "streamId": name}
    }
    assert cronjob == expected
    status = cluster.get(GVK.of_object(stream), "arcane", "orders-stream-hourly")["status"]  # type: ignore[index]
    assert status["phase"] == "Scheduled"
