"""The Go operator's integration tests (arcane-go-operator.md §8.4), against our operator, driven by kubectl.

Like the Go suite (a kind cluster with the mock plugin), every test here shares one cluster: kubesim with our
CRDs, the mock plugin (layout v0, tests/e2e/guide/manifests/mock) and a SQL-Server-like plugin (layouts v1 and
v2, manifests/sqlserver) installed, their templates and Secrets in `default`, and one operator on rules/. Each
test applies its own stream (one file per Go test) and asserts what the Go test asserts, with the differences
the contract decides: backfill Jobs are named `<stream>-backfill` (contract §2), and a backend switch goes
straight to Pending (contract §4). Jobs and CronJobs are observed through a watch, as the Go tests do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import kubernetes
import pytest

from e2e.chart.calls import SESSION
from e2e.conftest import OPERATORS
from e2e.harness import RULES, OperatorProcess, WatchRecorder, install_crds, operator_command, operator_env
from kubesim import KubeSim, SimOptions

from .user import MOCK, SQLSERVER, User

pytestmark = [pytest.mark.e2e]

NAMESPACE = "default"
CLASSES = ["arcane-stream-mock", "sql-server", "sql-server-beta"]


@dataclass
class GoCluster:
    """The shared cluster: a kubectl user, the operator, and watches of every Job and CronJob."""

    sim: KubeSim
    user: User
    operator: OperatorProcess
    jobs: WatchRecorder
    cronjobs: WatchRecorder

    def jobs_of(self, stream: str) -> dict[str, list[dict[str, Any]]]:
        """Every version seen of each Job labelled for the stream (`streamId`), by Job uid, oldest first."""
        return versions(self.jobs, stream)

    def cronjobs_of(self, stream: str) -> dict[str, list[dict[str, Any]]]:
        """Every version seen of each CronJob named like the stream, by uid."""
        seen: dict[str, list[dict[str, Any]]] = {}
        for _, obj in self.cronjobs.events():
            if obj["metadata"]["name"] == stream:
                seen.setdefault(obj["metadata"]["uid"], []).append(obj)
        return seen


def versions(recorder: WatchRecorder, stream: str) -> dict[str, list[dict[str, Any]]]:
    seen: dict[str, list[dict[str, Any]]] = {}
    for _, obj in recorder.events():
        if (obj["metadata"].get("labels") or {}).get("streamId") == stream:
            seen.setdefault(obj["metadata"]["uid"], []).append(obj)
    return seen


def condition(job: dict[str, Any], kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True" for c in (job.get("status") or {}).get("conditions") or []
    )


def env(container: dict[str, Any]) -> dict[str, Any]:
    """A container's env vars: name -> value (or the valueFrom object)."""
    return {var["name"]: var.get("value", var.get("valueFrom")) for var in container.get("env") or []}


def job_env(job: dict[str, Any]) -> dict[str, Any]:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return env(container)


@pytest.fixture(scope="module")
def go_cluster(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[GoCluster]:
    """The cluster every test of this module shares (the Go suite's kind cluster with the mock plugin)."""
    sim = KubeSim(SimOptions(job_default_outcome="succeed-after=0.5s", job_backoff=0.1)).start()
    started: list[Any] = []
    try:
        install_crds(sim)  # what `helm install` of our chart puts first
        user = User.at(sim.kubeconfig_path, tmp_path_factory.mktemp("go-kubectl"))
        user(f"kubectl apply -f {MOCK}/crd.yaml -f {MOCK}/rbac.yaml -f {MOCK}/streamclass.yaml")
        user(f"kubectl apply -f {SQLSERVER}/crds.yaml -f {SQLSERVER}/rbac.yaml -f {SQLSERVER}/streamclasses.yaml")
        user(
            f"kubectl apply -n {NAMESPACE} -f {MOCK}/templates.yaml -f {MOCK}/secret.yaml "
            f"-f {SQLSERVER}/templates.yaml -f {SQLSERVER}/secret.yaml"
        )
        log = tmp_path_factory.mktemp("go-operator") / "operator.log"
        operator = OperatorProcess("operator", operator_command(RULES, sim.kubeconfig_path), log, operator_env())
        started.append(operator.start())
        operator.wait_ready()
        for name in CLASSES:
            user.wait_class_ready(name)
        client = kubernetes.config.new_client_from_config(str(sim.kubeconfig_path))  # type: ignore[no-untyped-call]
        started.append(client)
        custom = kubernetes.client.CustomObjectsApi(client)
        jobs = WatchRecorder(custom, "batch", "v1", "jobs").start()
        started.append(jobs)
        cronjobs = WatchRecorder(custom, "batch", "v1", "cronjobs").start()
        started.append(cronjobs)
        yield GoCluster(sim, user, operator, jobs, cronjobs)
    finally:
        for thing in reversed(started):
            thing.stop() if isinstance(thing, WatchRecorder) else thing.close()
        SESSION.record(sim, source=request.node.nodeid)
        sim.stop()


@pytest.fixture
def cluster(go_cluster: GoCluster, request: pytest.FixtureRequest) -> GoCluster:
    """The shared cluster; a failing test's report carries the operator's log."""
    request.node.stash[OPERATORS] = [go_cluster.operator]
    return go_cluster


def patch(user: User, plural: str, name: str, body: dict[str, Any]) -> None:
    """`kubectl patch <plural> <name> --type merge -p '<json>'`."""
    user(f"kubectl patch {plural} {name} -n {NAMESPACE} --type merge -p '{json.dumps(body, separators=(',', ':'))}'")


def suspended(value: bool) -> dict[str, Any]:
    return {"spec": {"execution": {"suspended": value}}}


def to_batch() -> dict[str, Any]:
    batch = {"schedule": "0 * * * *", "jobTemplateRef": {"name": "sql-server-streaming"}}
    return {"spec": {"execution": {"streamingBackend": {"changeCapture": None, "batch": batch}}}}


def to_change_capture(layout: str) -> dict[str, Any]:
    change_capture: dict[str, Any] = {"jobTemplateRef": {"name": "sql-server-streaming"}}
    if layout == "v2":
        change_capture["backfillJobTemplateRef"] = {"name": "sql-server-backfill"}
    return {"spec": {"execution": {"streamingBackend": {"batch": None, "changeCapture": change_capture}}}}


LAYOUTS = {"v1": "sql-server-streams", "v2": "sql-server-beta-streams"}


@pytest.mark.slow  # with the module's cluster start-up when run alone
def test_create_stream(cluster: GoCluster) -> None:
    """Test_CreateStream: a new v0 stream runs a backfill Job (`arcane/backfilling=true`), then its streaming Job (`false`), which completes and is not restarted."""
    user, name = cluster.user, "integration-test-stream-create"
    user(f"kubectl apply -f {MOCK}/stream-create.yaml")
    user.wait_phase("teststreamdefinitions", name, NAMESPACE, "Running")
    user(f"kubectl wait --for=condition=Complete job/{name} -n {NAMESPACE} --timeout=30s")
    seen = cluster.jobs_of(name)
    backfilling = {v[0]["metadata"]["name"]: v[0]["metadata"]["labels"]["arcane/backfilling"] for v in seen.values()}
    assert backfilling == {f"{name}-backfill": "true", name: "false"}
    assert user.phase_shown("teststreamdefinitions", name, NAMESPACE) == "Running"
    assert user.jobs(name, NAMESPACE) == [name], "the completed streaming Job stays; no new one is started"


def test_create_failed_stream(cluster: GoCluster) -> None:
    """Test_CreateFailedStream: a v0 stream whose Job fails gets exactly one Job (the backfill), which fails; the stream goes Failed and the Job is deleted."""
    user, name = cluster.user, "integration-test-stream-failed"
    user(f"kubectl apply -f {MOCK}/stream-failed.yaml")
    user.wait_phase("teststreamdefinitions", name, NAMESPACE, "Failed")
    user.wait_jobs(name, NAMESPACE, [])
    (job_versions,) = cluster.jobs_of(name).values()
    assert job_versions[0]["metadata"]["name"] == f"{name}-backfill"
    assert job_versions[0]["metadata"]["labels"]["arcane/backfilling"] == "true"
    assert any(condition(v, "Failed") for v in job_versions), "the backfill Job failed"
    described = user(f"kubectl describe teststreamdefinitions {name} -n {NAMESPACE}")
    assert "(rule: backfill-job-failed)" in described
    assert "StreamingJobFailed" in described, f"the Warning event is shown:\n{described}"


def test_static_backfill_id(cluster: GoCluster) -> None:
    """Test_StaticBackfillId: the backfill Job has STREAMCONTEXT__BACKFILL=true and BACKFILL_ID = the request's name; the streaming Job has BACKFILL=false and no BACKFILL_ID."""
    user, name = cluster.user, "integration-test-stream-static-id"
    user(f"kubectl apply -f {MOCK}/stream-static-id.yaml")
    user.wait_phase("teststreamdefinitions", name, NAMESPACE, "Running")
    jobs = {v[0]["metadata"]["name"]: v[0] for v in cluster.jobs_of(name).values()}
    (request,) = [r for r in user.names(f"kubectl get backfillrequests -n {NAMESPACE}") if r.startswith(name)]
    backfill, streaming = job_env(jobs[f"{name}-backfill"]), job_env(jobs[name])
    assert backfill["STREAMCONTEXT__BACKFILL"] == "true"
    assert backfill["STREAMCONTEXT__BACKFILL_ID"] == request
    assert streaming["STREAMCONTEXT__BACKFILL"] == "false"
    assert "STREAMCONTEXT__BACKFILL_ID" not in streaming
    for job in jobs.values():  # the StreamClass's secretRefs: the Secret, by reference only
        assert job["spec"]["template"]["spec"]["containers"][0]["envFrom"] == [{"secretRef": {"name": "test-secret"}}]


@pytest.mark.parametrize("layout", ["v1", "v2"])
def test_stream_state_transition_to_scheduled(cluster: GoCluster, layout: str) -> None:
    """Test_StreamStateTransitionToScheduled (and its V2 twin): a changeCapture stream created suspended is Suspended, resumed it runs a Job, switched to batch it gets a CronJob."""
    user, plural, name = cluster.user, LAYOUTS[layout], f"integration-test-stream-{layout}-scheduled"
    user(f"kubectl apply -f {SQLSERVER}/go-{layout}-to-scheduled.yaml")
    user.wait_phase(plural, name, NAMESPACE, "Suspended")
    assert user.jobs(name, NAMESPACE) == []
    patch(user, plural, name, suspended(False))
    user.wait_phase(plural, name, NAMESPACE, "Running")
    user.wait_jobs(name, NAMESPACE, [name])
    patch(user, plural, name, to_batch())
    user.wait_phase(plural, name, NAMESPACE, "Scheduled")
    user.wait_names(f"kubectl get cronjobs {name} -n {NAMESPACE}", [name])
    user.wait_jobs(name, NAMESPACE, [])
    assert len(cluster.jobs_of(name)) >= 1
    assert len(cluster.cronjobs_of(name)) >= 1
    assert not [r for r in user.names(f"kubectl get backfillrequests -n {NAMESPACE}") if r.startswith(name)], (
        "created suspended, then switched: never a backfill"
    )


@pytest.mark.parametrize("layout", ["v1", "v2"])
def test_stream_state_transition_to_running(cluster: GoCluster, layout: str) -> None:
    """Test_StreamStateTransitionToRunning (and its V2 twin): a batch stream created suspended is Suspended, resumed it is Scheduled with a CronJob, switched to changeCapture a Job appears."""
    user, plural, name = cluster.user, LAYOUTS[layout], f"integration-test-stream-{layout}-running"
    user(f"kubectl apply -f {SQLSERVER}/go-{layout}-to-running.yaml")
    user.wait_phase(plural, name, NAMESPACE, "Suspended")
    patch(user, plural, name, suspended(False))
    user.wait_phase(plural, name, NAMESPACE, "Scheduled")
    user.wait_names(f"kubectl get cronjobs {name} -n {NAMESPACE}", [name])
    patch(user, plural, name, to_change_capture(layout))
    user.wait_phase(plural, name, NAMESPACE, "Running")
    user.wait_jobs(name, NAMESPACE, [name])
    user.wait_names(f"kubectl get cronjobs -n {NAMESPACE} --field-selector metadata.name={name}", [])
    assert len(cluster.cronjobs_of(name)) >= 1
    (job_versions,) = cluster.jobs_of(name).values()
    assert job_env(job_versions[0])["STREAMCONTEXT__BACKFILL"] == "false"


@pytest.mark.parametrize("layout", ["v1", "v2"])
def test_dynamic_backfill_id(cluster: GoCluster, layout: str) -> None:
    """Test_DynamicBackfillId (and its V2 twin): a batch stream's CronJob sets STREAMCONTEXT__BACKFILL=true and BACKFILL_ID from the pod's `job-name` label."""
    user, plural, name = cluster.user, LAYOUTS[layout], f"integration-test-stream-{layout}-dynamic"
    user(f"kubectl apply -f {SQLSERVER}/go-{layout}-dynamic-backfill-id.yaml")
    user.wait_phase(plural, name, NAMESPACE, "Scheduled")
    cronjob = json.loads(user(f"kubectl get cronjob {name} -n {NAMESPACE} -o json"))
    assert cronjob["spec"]["schedule"] == "0 * * * *"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    variables = env(container)
    assert variables["STREAMCONTEXT__BACKFILL"] == "true"
    assert variables["STREAMCONTEXT__BACKFILL_ID"] == {"fieldRef": {"fieldPath": "metadata.labels['job-name']"}}
    assert container["envFrom"] == [{"secretRef": {"name": "orders-stream-config"}}]


def test_v2_batch_only_stream_refuses_a_backfill(cluster: GoCluster) -> None:
    """A BackfillRequest for a layout-v2 batch-only stream (the Go operator crashed on it for ever) leaves the stream Scheduled with its CronJob, and the request and a Warning event say why."""
    user, plural, name = cluster.user, LAYOUTS["v2"], "integration-test-stream-v2-batch-only"
    user(f"kubectl apply -f {SQLSERVER}/go-v2-batch-backfill.yaml")
    user.wait_phase(plural, name, NAMESPACE, "Scheduled")
    user(f"kubectl apply -f {SQLSERVER}/go-v2-batch-backfillrequest.yaml")
    request = f"{name}-backfill"
    user(
        """kubectl wait --for=jsonpath='{.status.conditions[?(@.type=="Accepted")].reason}'=BackfillNotSupported """
        f"backfillrequest/{request} -n {NAMESPACE} --timeout=30s"
    )
    assert user.phase_shown(plural, name, NAMESPACE) == "Scheduled"
    assert user.names(f"kubectl get cronjobs {name} -n {NAMESPACE}") == [name]
    assert user.jobs(name, NAMESPACE) == [], "no backfill Job"
    described = user(f"kubectl describe {plural} {name} -n {NAMESPACE}")
    assert "BackfillNotSupported" in described, described
