"""The real SQL Server plugin on the real shared CRDs (../shared/real-fixtures, read in place, never copied): the
guide's commands work with what real clusters run, not only with the manifests we wrote.

The shared arcane-crd v0.0.9 CRDs prune the labels and annotations of templates, so kubesim's Jobs all get the
simulator's default outcome (they succeed after a second); the plugin's templates set `ttlSecondsAfterFinished:
1`, so a finished streaming Job disappears and the operator starts a new one (arcane-go-operator.md §11.10). The
plugin's CRD prunes the `reason` and `lastTransitionTime` of the conditions the operator writes (§11.22), which
must not make it rewrite the status for ever (contract §4). The plugin's chart ships no ClusterRole for the
operator: its kinds are granted with the chart's `streamKinds` values (docs/install.md), the RBAC this run is
checked against.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from chart.rendering import REAL_FIXTURES

from e2e.chart.calls import SESSION
from e2e.conftest import StartOperator
from e2e.harness import WatchRecorder, wait_for
from kubesim import KubeSim

from .user import User

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MSSQL, SHARED_CRDS = REAL_FIXTURES / "mssql", REAL_FIXTURES / "arcane-crd"
NAMESPACE = "arcane"  # where the fixtures put the plugin and its streams
PLURAL = "microsoft-sql-server-streams"
STREAM = "orders-stream"


@pytest.fixture
def real_sim(kubesim_factory: Callable[..., KubeSim], request: pytest.FixtureRequest) -> Any:
    """A bare simulator (no CRDs of ours), skipped with the reason printed when the real fixtures are absent; the
    operator's calls are recorded for the RBAC check under the `streamKinds` values."""
    if not (MSSQL.is_dir() and SHARED_CRDS.is_dir()):
        reason = f"the real fixtures are not in {REAL_FIXTURES} (a developer checkout or CI has them)"
        print(reason)
        pytest.skip(reason)
    sim = kubesim_factory(job_default_outcome="succeed-after=1s")
    yield sim
    SESSION.record(sim, source=request.node.nodeid, profile="real-plugin")


def job_env(job: dict[str, Any]) -> dict[str, Any]:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return {var["name"]: var.get("value", var.get("valueFrom")) for var in container.get("env") or []}


def test_real_sql_server_plugin(real_sim: KubeSim, operators: StartOperator, tmp_path: Path) -> None:
    """The real SQL Server plugin's v1 changeCapture stream, on the shared CRDs, backfills from the user's large template, streams, restarts its Job after the template's TTL removes it, backfills a request's payload without losing it, suspends without status write loops, and goes with its Jobs."""
    user = User.at(real_sim.kubeconfig_path, tmp_path / "kubectl-home")
    user(f"kubectl apply --server-side -f {SHARED_CRDS}")  # the arcane-crd chart, before the operator
    operators(real_sim).wait_ready()
    user(f"kubectl create namespace {NAMESPACE}")
    crds = " ".join(
        f"-f {MSSQL / name}"
        for name in ["crd-microsoft-sql-server-streams.yaml", "crd-microsoft-sql-server-beta-streams.yaml"]
    )
    user(f"kubectl apply --server-side {crds}")
    plugin = ["serviceaccount.yaml", "rbac.yaml", "streamclass.yaml", "streamclass-beta.yaml"]
    user("kubectl apply " + " ".join(f"-f {MSSQL / name}" for name in plugin))
    user.wait_class_ready("arcane-stream-microsoft-sql-server")
    user.wait_class_ready("arcane-stream-microsoft-sql-server-beta")
    # The chart's template labels fields the shared CRD does not declare: Helm 3 installs it without field
    # validation and the API server prunes them (strict kubectl and Helm 4 refuse it; docs/install.md, "CRDs").
    user(f"kubectl apply --validate=false -f {MSSQL / 'streamingjobtemplate.yaml'}")
    mine = ["secret-stream-configuration.yaml", "streamingjobtemplate-backfill-large.yaml"]
    user("kubectl apply " + " ".join(f"-f {MSSQL / name}" for name in mine))

    client = kubernetes.config.new_client_from_config(str(real_sim.kubeconfig_path))  # type: ignore[no-untyped-call]
    jobs = WatchRecorder(kubernetes.client.CustomObjectsApi(client), "batch", "v1", "jobs").start()
    try:
        user(f"kubectl apply -f {MSSQL / 'stream-layout-v1-change-capture.yaml'}")
        user.wait_phase(PLURAL, STREAM, NAMESPACE, "Running")
        (initial,) = user.names(f"kubectl get backfillrequests -n {NAMESPACE}")
        seen = {obj["metadata"]["uid"]: obj for kind, obj in jobs.events() if kind == "ADDED"}
        by_name = {obj["metadata"]["name"]: obj for obj in seen.values()}
        backfill = by_name[f"{STREAM}-backfill"]
        resources = backfill["spec"]["template"]["spec"]["containers"][0]["resources"]
        assert resources["limits"]["memory"] == "8Gi", "the backfill ran from the user's large template"
        assert job_env(backfill)["STREAMCONTEXT__BACKFILL_ID"] == initial
        container = by_name[STREAM]["spec"]["template"]["spec"]["containers"][0]
        assert container["envFrom"] == [{"secretRef": {"name": "orders-stream-config"}}]
        assert job_env(by_name[STREAM])["STREAMCONTEXT__BACKFILL"] == "false"

        # The streaming Job finishes; its TTL (1 s) deletes it; the running stream gets a new one.
        first = by_name[STREAM]["metadata"]["uid"]
        wait_for(
            "a new streaming Job after the TTL removed the first",
            lambda: [
                o
                for k, o in jobs.events()
                if k == "ADDED" and o["metadata"]["name"] == STREAM and o["metadata"]["uid"] != first
            ],
            timeout=30,
        )
        assert user.phase_shown(PLURAL, STREAM, NAMESPACE) == "Running"

        # A backfill with a payload: STREAMCONTEXT__OVERRIDE is the payload; completing keeps it (contract §4).
        user(f"kubectl apply -f {MSSQL / 'backfillrequest-with-payload.yaml'}")
        request = "orders-stream-backfill-from-june"
        wait_for(
            "the request to be completed",
            lambda: (
                user(f"kubectl get backfillrequests {request} -n {NAMESPACE} -o jsonpath={{.spec.completed}}") == "true"
            ),
            timeout=30,
        )
        payload = json.loads(
            user(f"kubectl get backfillrequests {request} -n {NAMESPACE} -o jsonpath={{.spec.payload}}")
        )
        assert payload == {
            "streamMode": {"backfill": {"backfillBehavior": "Merge", "backfillStartDate": "2026-06-01T00:00:00Z"}}
        }
        overrides = [
            job_env(o).get("STREAMCONTEXT__OVERRIDE")
            for k, o in jobs.events()
            if k == "ADDED" and o["metadata"]["name"] == f"{STREAM}-backfill"
        ]
        assert overrides[-1] == json.dumps(payload, sort_keys=True, separators=(",", ":"))
        user.wait_phase(PLURAL, STREAM, NAMESPACE, "Running")

        # Suspended: nothing runs, and the status (whose condition fields the CRD prunes) is written once.
        user(
            f"""kubectl patch {PLURAL} {STREAM} -n {NAMESPACE} --type merge -p '{{"spec":{{"execution":{{"suspended":true}}}}}}'"""
        )
        user.wait_phase(PLURAL, STREAM, NAMESPACE, "Suspended")
        user.wait_jobs(STREAM, NAMESPACE, [])
        status_writes = len(real_sim.requests.filter(verb="patch", resource=PLURAL))
        time.sleep(2)
        assert len(real_sim.requests.filter(verb="patch", resource=PLURAL)) == status_writes, (
            "status rewritten in a loop"
        )
        stored = user(f"kubectl get {PLURAL} {STREAM} -n {NAMESPACE} -o jsonpath={{.status.conditions[0]}}")
        assert "reason" not in json.loads(stored), "the plugin's CRD prunes the condition's reason"

        user(f"kubectl delete {PLURAL} {STREAM} -n {NAMESPACE}")
        user.wait_jobs(STREAM, NAMESPACE, [])
        assert user.names(f"kubectl get backfillrequests -n {NAMESPACE}") == [request], (
            "the initial request went with it"
        )
    finally:
        jobs.stop()
        client.close()
