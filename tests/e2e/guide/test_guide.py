"""The user guide, command by command: a stream of each layout and backend through its whole life, with kubectl.

Each test is one user session (contract.md §1): create a namespace, install a plugin (its stream CRD, the
ClusterRole it ships for the operator, its StreamClass), apply templates, a Secret and a stream, watch the phase
with `kubectl get <plural>` and the Jobs with `kubectl get jobs -l streamId=<stream> -n <ns>`, suspend and resume
with `kubectl patch --type merge`, ask for a backfill with `kubectl apply -f` of a BackfillRequest, and delete the
stream, whose Jobs (and the BackfillRequest the operator created) go with it. The operator runs as a subprocess
(tests/e2e/harness.py) on rules/; the v0 plugin is installed into the running operator (the guide's order), the
others before it starts. Phases taken are read from a watch (the harness's WatchRecorder), since some
last only a moment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import StartOperator
from e2e.harness import GROUP, WatchRecorder, wait_for
from kubesim import KubeSim

from .user import MOCK, SQLSERVER, User

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NAMESPACE = "streams"


@dataclass(frozen=True)
class Flow:
    """One stream of the guide: its plugin's files, the stream's file and name, and how it is suspended."""

    plugin: Path
    cluster_files: tuple[str, ...]  # the plugin chart's CRD(s) and ClusterRole
    classes: dict[str, str]  # StreamClass file -> the class this stream belongs to
    namespace_files: tuple[str, ...]  # templates and Secret, applied with -n
    stream_file: str
    plural: str
    name: str
    suspended_path: tuple[str, ...]  # where `suspended` lives in the spec
    backfill_file: str
    schedule: bool = False  # the batch backend: a CronJob

    def patch(self, suspended: bool) -> str:
        """The `-p` of the guide's suspend/resume command."""
        body: Any = suspended
        for key in reversed(("spec", *self.suspended_path)):
            body = {key: body}
        return json.dumps(body, separators=(",", ":"))

    @property
    def backfill_request(self) -> str:
        return f"{self.name}-backfill-2026-08"


V0 = Flow(
    plugin=MOCK,
    cluster_files=("crd.yaml", "rbac.yaml"),
    classes={"streamclass.yaml": "arcane-stream-mock"},
    namespace_files=("guide-templates.yaml", "secret.yaml"),
    stream_file="guide-stream.yaml",
    plural="teststreamdefinitions",
    name="orders",
    suspended_path=("suspended",),
    backfill_file="guide-backfillrequest.yaml",
)


def sqlserver(stream_file: str, plural: str, name: str, streamclass: str, *, schedule: bool = False) -> Flow:
    """A stream of the SQL-Server-like plugin (layouts v1 and v2 keep `suspended` under spec.execution)."""
    return Flow(
        plugin=SQLSERVER,
        cluster_files=("crds.yaml", "rbac.yaml"),
        classes={"streamclasses.yaml": streamclass},
        namespace_files=("templates.yaml", "secret.yaml"),
        stream_file=stream_file,
        plural=plural,
        name=name,
        suspended_path=("execution", "suspended"),
        backfill_file=f"backfillrequest-{name}.yaml",
        schedule=schedule,
    )


V1_CHANGE_CAPTURE = sqlserver("v1-change-capture.yaml", "sql-server-streams", "orders", "sql-server")
V1_BATCH = sqlserver("v1-batch.yaml", "sql-server-streams", "orders-hourly", "sql-server", schedule=True)
V2 = sqlserver("v2-change-capture.yaml", "sql-server-beta-streams", "orders-beta", "sql-server-beta")


def phases_taken(recorder: WatchRecorder, name: str) -> list[str]:
    """The phases a stream went through, in order, repeats removed."""
    taken: list[str] = []
    for _, obj in recorder.events():
        current = (obj.get("status") or {}).get("phase")
        if obj["metadata"]["name"] == name and current and (not taken or taken[-1] != current):
            taken.append(current)
    return taken


def install_plugin(user: User, flow: Flow) -> None:
    """What the plugin's Helm chart installs, then the user's templates and Secret in the stream namespace."""
    user(f"kubectl create namespace {NAMESPACE}")
    user("kubectl apply " + " ".join(f"-f {flow.plugin / f}" for f in flow.cluster_files))
    for path in flow.classes:
        user(f"kubectl apply -f {flow.plugin / path}")
    user(f"kubectl apply -n {NAMESPACE} " + " ".join(f"-f {flow.plugin / f}" for f in flow.namespace_files))


def requests_shown(user: User) -> dict[str, str]:
    """`kubectl get backfillrequests -n <ns>`: request name -> its COMPLETED column."""
    return {row["NAME"]: row["COMPLETED"] for row in user.rows(f"kubectl get backfillrequests -n {NAMESPACE}")}


def run_guide(
    flow: Flow, sim: KubeSim, operators: StartOperator, user: User, custom: Any, *, plugin_first: bool = False
) -> WatchRecorder:
    """The guide's commands for one stream, checking what each shows; returns the watch of the stream's phases.

    The plugin is installed into the running operator (the guide's order), or, with `plugin_first`, before the
    operator starts (a cluster that already runs plugins, e.g. one moving from the Go operator)."""
    if plugin_first:
        install_plugin(user, flow)
    operators(sim).wait_ready()
    if not plugin_first:
        install_plugin(user, flow)
    for name in flow.classes.values():
        user.wait_class_ready(name)
    name, plural = flow.name, flow.plural
    streaming = "Scheduled" if flow.schedule else "Running"
    group, version = GROUP, "v1"
    recorder = WatchRecorder(custom, group, version, plural).start()
    try:
        # Create the stream: a backfill first (an initial BackfillRequest), then its streaming Job; or, for the
        # batch backend, straight to its CronJob.
        user(f"kubectl apply -n {NAMESPACE} -f {flow.plugin / flow.stream_file}")
        user.wait_phase(plural, name, NAMESPACE, streaming)
        assert user.phase_shown(plural, name, NAMESPACE) == streaming
        if flow.schedule:
            assert requests_shown(user) == {}, "a batch stream gets no initial backfill"
            cronjobs = user.rows(f"kubectl get cronjobs -n {NAMESPACE}")
            assert [(c["NAME"], c["SCHEDULE"]) for c in cronjobs] == [(name, "0 * * * *")]
            user.wait_jobs(name, NAMESPACE, [])
        else:
            user.wait_jobs(name, NAMESPACE, [name])
            (initial,) = requests_shown(user).items()
            assert initial[0].startswith(f"{name}-initial-backfill-")
            assert initial[1] == "true", "the initial backfill completed"
            # `kubectl logs job/<stream>`: the streaming Job's pod (kubesim serves the log text a test sets).
            selector = f"batch.kubernetes.io/job-name={name}"
            pods = wait_for("the Job's pod", lambda: sim.list("v1", "Pod", NAMESPACE, label_selector=selector))
            for pod in pods:
                sim.set_pod_logs(NAMESPACE, pod["metadata"]["name"], f"{name}: streaming changes\n")
            assert user(f"kubectl logs job/{name} -n {NAMESPACE}") == f"{name}: streaming changes\n"
        described = user(f"kubectl describe {plural} {name} -n {NAMESPACE}")
        rule = "start-schedule" if flow.schedule else "start-streaming"
        assert f"(rule: {rule})" in described, "kubectl describe says which rule decided the phase"

        # Suspend: the Job (or CronJob) is deleted, the stream stays.
        user(f"kubectl patch {plural} {name} -n {NAMESPACE} --type merge -p '{flow.patch(True)}'")
        user.wait_phase(plural, name, NAMESPACE, "Suspended")
        assert user.phase_shown(plural, name, NAMESPACE) == "Suspended"
        user.wait_jobs(name, NAMESPACE, [])
        user.wait_names(f"kubectl get cronjobs -n {NAMESPACE}", [])

        # Resume: streaming again, with no new backfill.
        before = requests_shown(user)
        user(f"kubectl patch {plural} {name} -n {NAMESPACE} --type merge -p '{flow.patch(False)}'")
        user.wait_phase(plural, name, NAMESPACE, streaming)
        user.wait_jobs(name, NAMESPACE, [] if flow.schedule else [name])
        user.wait_names(f"kubectl get cronjobs -n {NAMESPACE}", [name] if flow.schedule else [])
        assert requests_shown(user) == before, "resuming does not backfill again"

        # A backfill on request: the streaming Job (or CronJob) stops, `<stream>-backfill` runs, then streaming
        # resumes and the request is completed.
        user(f"kubectl apply -n {NAMESPACE} -f {flow.plugin / flow.backfill_file}")
        user.wait_jobs(name, NAMESPACE, [f"{name}-backfill"])
        user.wait_phase(plural, name, NAMESPACE, streaming)
        wait_for(
            "the request to be completed",
            lambda: requests_shown(user).get(flow.backfill_request) == "true",
            timeout=10,
        )
        wait_for(
            "its PHASE column to say Ready",
            lambda: (
                {row["NAME"]: row["PHASE"] for row in user.rows(f"kubectl get bfr -n {NAMESPACE}")}.get(
                    flow.backfill_request
                )
                == "Ready"
            ),
            timeout=10,
        )
        user.wait_jobs(name, NAMESPACE, [] if flow.schedule else [name])
        user.wait_names(f"kubectl get cronjobs -n {NAMESPACE}", [name] if flow.schedule else [])

        # Delete the stream: its Jobs (or CronJob) and the request the operator created go with it.
        user(f"kubectl delete {plural} {name} -n {NAMESPACE}")
        user.wait_jobs(name, NAMESPACE, [])
        user.wait_names(f"kubectl get cronjobs -n {NAMESPACE}", [])
        user.wait_names(f"kubectl get backfillrequests -n {NAMESPACE}", [flow.backfill_request])
    finally:
        recorder.stop()
    return recorder


def test_layout_v0_stream(sim: KubeSim, operators: StartOperator, user: User, custom: Any) -> None:
    """A layout-v0 stream (mock plugin installed into the running operator, templates in the guide's JobSpec shape) backfills, runs, suspends, resumes, backfills on request and is deleted with its Jobs, all through the guide's kubectl commands."""
    recorder = run_guide(V0, sim, operators, user, custom)
    assert phases_taken(recorder, "orders") == [
        *("Pending", "Backfilling", "Pending", "Running"),  # created: the initial backfill, then streaming
        *("Suspended", "Pending", "Running"),  # suspended and resumed
        *("Pending", "Backfilling", "Pending", "Running"),  # the requested backfill
    ]


def test_layout_v1_change_capture_stream(sim: KubeSim, operators: StartOperator, user: User, custom: Any) -> None:
    """A layout-v1 changeCapture stream (SQL-Server-like plugin) goes through the same guide steps, its phase shown by `kubectl get sql-server-streams`."""
    recorder = run_guide(V1_CHANGE_CAPTURE, sim, operators, user, custom, plugin_first=True)
    assert phases_taken(recorder, "orders") == [
        *("Pending", "Backfilling", "Pending", "Running"),
        *("Suspended", "Pending", "Running"),
        *("Pending", "Backfilling", "Pending", "Running"),
    ]


def test_layout_v1_batch_stream(sim: KubeSim, operators: StartOperator, user: User, custom: Any) -> None:
    """A layout-v1 batch stream is Scheduled with a CronJob (no initial backfill); suspending deletes the CronJob, a BackfillRequest runs `<stream>-backfill` in its place, and deleting the stream removes the CronJob."""
    recorder = run_guide(V1_BATCH, sim, operators, user, custom, plugin_first=True)
    assert phases_taken(recorder, "orders-hourly") == [
        *("Pending", "Scheduled"),
        *("Suspended", "Pending", "Scheduled"),
        *("Pending", "Backfilling", "Pending", "Scheduled"),
    ]


def test_layout_v2_stream(sim: KubeSim, operators: StartOperator, user: User, custom: Any) -> None:
    """A layout-v2 stream (the beta kind, backfill template under changeCapture) goes through the same guide steps."""
    recorder = run_guide(V2, sim, operators, user, custom, plugin_first=True)
    assert phases_taken(recorder, "orders-beta") == [
        *("Pending", "Backfilling", "Pending", "Running"),
        *("Suspended", "Pending", "Running"),
        *("Pending", "Backfilling", "Pending", "Running"),
    ]
