"""What each values scenario's operator is put through once the chart is installed (deploy.py): a plugin, a
stream, and the user guide's commands, with kubectl.

Where it sits: test_deployed_operator.py runs these as tests; test_rbac_calls.py runs the ones it needs when the
session has not (so that the RBAC check stands alone). Each function gets an `Installed` release and fails with an
AssertionError saying what went wrong.

The default scenario's run is the one the RBAC check leans on: it makes the operator use every verb the chart
grants it (create, patch and delete of Jobs and CronJobs, BackfillRequests created and completed, repeated events
patched, status of streams, classes and requests).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from chart.rendering import NAMESPACE, Rendered, render, render_scenario, scenarios

from e2e.guide.user import SQLSERVER, User
from e2e.harness import RULES, OperatorProcess, wait_for, with_replaced
from engine.spec import compile_ruleset

from .deploy import Installed, installed

PLURAL = "sql-server-streams"
STREAM = "orders"
SUSPEND = """'{"spec":{"execution":{"suspended":true}}}'"""
RESUME = """'{"spec":{"execution":{"suspended":false}}}'"""
TO_BATCH = (
    """'{"spec":{"execution":{"streamingBackend":{"changeCapture":null,"""
    """"batch":{"schedule":"0 * * * *","jobTemplateRef":{"name":"sql-server-streaming"}}}}}}'"""
)
# A platform team's change (docs/install.md, "Change the rules"): their own condition text for running streams.
RUNNING_MESSAGE = "message: The stream is currently running."
TEAM_MESSAGE = "message: Streaming (data platform team rules)."


def team_stream_rules() -> str:
    """rules/stream.yaml with the team's change, for `--set-file rules.extra.stream=...`."""
    return with_replaced((RULES / "stream.yaml").read_text(encoding="utf-8"), RUNNING_MESSAGE, TEAM_MESSAGE)


def mounted_files(mount: Path) -> dict[str, bytes]:
    """The rule files the operator sees in its mounted directory (what `--rules` reads), by name."""
    return {p.name: p.read_bytes() for p in sorted(mount.iterdir()) if not p.name.startswith(".")}


def shipped_files() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(RULES.glob("*.yaml"))}


def started_digest(operator: OperatorProcess) -> str:
    """The digest of the rule set the operator logged when it started."""
    (started,) = [r for r in operator.records() if r.get("msg") == "operator started"]
    return str(started["digest"])


def install_plugin(user: User, *namespaces: str) -> None:
    """The SQL-Server-like plugin chart (CRDs, its ClusterRole for the operator, StreamClasses), then templates and
    the Secret in each stream namespace (created when missing). Installed before the operator starts here: the
    guide tests install plugins into a running operator."""
    user(f"kubectl apply -f {SQLSERVER}/crds.yaml -f {SQLSERVER}/rbac.yaml -f {SQLSERVER}/streamclasses.yaml")
    existing = set(user.names("kubectl get namespaces"))
    for namespace in namespaces:
        if namespace not in existing:
            user(f"kubectl create namespace {namespace}")
        user(f"kubectl apply -n {namespace} -f {SQLSERVER}/templates.yaml -f {SQLSERVER}/secret.yaml")


def start_ready(release: Installed, pod_name: str = "arcane-arcane-operator-0") -> OperatorProcess:
    operator = release.start(pod_name)
    operator.wait_ready()
    return operator


def stream_running(user: User, namespace: str) -> None:
    """`kubectl apply` the v1 changeCapture stream once its class is Ready; it backfills, then runs its Job."""
    user.wait_class_ready("sql-server")
    user(f"kubectl apply -n {namespace} -f {SQLSERVER}/v1-change-capture.yaml")
    user.wait_phase(PLURAL, STREAM, namespace, "Running")
    user.wait_jobs(STREAM, namespace, [STREAM])


def suspend_and_resume(user: User, namespace: str, streaming: str = "Running") -> None:
    user(f"kubectl patch {PLURAL} {STREAM} -n {namespace} --type merge -p {SUSPEND}")
    user.wait_phase(PLURAL, STREAM, namespace, "Suspended")
    user.wait_jobs(STREAM, namespace, [])
    user.wait_names(f"kubectl get cronjobs -n {namespace}", [])
    user(f"kubectl patch {PLURAL} {STREAM} -n {namespace} --type merge -p {RESUME}")
    user.wait_phase(PLURAL, STREAM, namespace, streaming)


def delete_stream(user: User, namespace: str) -> None:
    """`kubectl delete` the stream: its Jobs and CronJob are garbage-collected."""
    user(f"kubectl delete {PLURAL} {STREAM} -n {namespace}")
    user.wait_jobs(STREAM, namespace, [])
    user.wait_names(f"kubectl get cronjobs -n {namespace}", [])


def event_counts(user: User, namespace: str) -> dict[tuple[str, str], int]:
    """(reason, message) -> count of the events in a namespace, as `kubectl get events` shows them."""
    rows = user.rows(
        f"kubectl get events -n {namespace} -o custom-columns=REASON:.reason,COUNT:.count,MESSAGE:.message"
    )
    counts: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (row["REASON"], row["MESSAGE"])
        counts[key] = counts.get(key, 0) + int(row["COUNT"])
    return counts


# --- the scenarios --------------------------------------------------------------------------------------------


def default(release: Installed) -> None:
    """Default values: the shipped rules byte for byte; one stream through its whole life, both backends."""
    mount = release.mount_rules()
    assert mounted_files(mount) == shipped_files(), "the mounted rules differ from rules/"
    user, namespace = release.user, "streams"
    install_plugin(user, namespace)
    operator = start_ready(release)
    assert started_digest(operator) == compile_ruleset([RULES]).digest
    stream_running(user, namespace)
    for _ in range(2):  # the second time, the same events are counted (patched), not created again
        suspend_and_resume(user, namespace)
        user.wait_jobs(STREAM, namespace, [STREAM])
    counts = event_counts(user, namespace)
    assert counts[("StreamSuspended", f"The streaming job for stream {STREAM} has been suspended")] == 2, counts
    assert counts[("StreamResumed", f"The stream {STREAM} has been resumed")] == 2, counts

    user(f"kubectl apply -n {namespace} -f {SQLSERVER}/backfillrequest-orders.yaml")
    user.wait_jobs(STREAM, namespace, [f"{STREAM}-backfill"])
    user.wait_phase(PLURAL, STREAM, namespace, "Running")
    completed = user(
        f"kubectl get backfillrequests orders-backfill-2026-08 -n {namespace} -o jsonpath={{.spec.completed}}"
    )
    assert completed == "true"

    user(f"kubectl patch {PLURAL} {STREAM} -n {namespace} --type merge -p {TO_BATCH}")
    user.wait_phase(PLURAL, STREAM, namespace, "Scheduled")
    user.wait_names(f"kubectl get cronjobs -n {namespace}", [STREAM])
    user.wait_jobs(STREAM, namespace, [])
    suspend_and_resume(user, namespace, streaming="Scheduled")
    user.wait_names(f"kubectl get cronjobs -n {namespace}", [STREAM])
    delete_stream(user, namespace)


def leader_election(release: Installed) -> None:
    """Two replicas: one leads (the Lease), the stream runs; the leader stops, the standby takes over and acts."""
    user, namespace = release.user, "streams"
    install_plugin(user, namespace)
    pods = ["arcane-arcane-operator-0", "arcane-arcane-operator-1"]
    replicas = {pod: start_ready(release, pod) for pod in pods}
    (lease,) = [a.split("=", 1)[1] for a in release.invocation.argv if a.startswith("--leader-election-id=")]

    def leader() -> str | None:
        leading = [p for p, op in replicas.items() if any("leading" in m for m in op.messages())]
        assert len(leading) <= 1, f"two leaders: {leading}"
        return leading[0] if leading else None

    first = wait_for("a replica to lead", leader)
    holder = user(f"kubectl get lease {lease} -n {NAMESPACE} -o jsonpath={{.spec.holderIdentity}}")
    assert holder, "the Lease names its holder"
    stream_running(user, namespace)
    replicas[first].close()  # SIGTERM: the leader releases the Lease on its way out
    second = next(p for p in pods if p != first)
    replicas[second].wait_log("leading", timeout=30)
    suspend_and_resume(user, namespace)
    user.wait_jobs(STREAM, namespace, [STREAM])
    assert user(f"kubectl get lease {lease} -n {NAMESPACE} -o jsonpath={{.spec.holderIdentity}}") != holder
    delete_stream(user, namespace)


def watch_namespaces(release: Installed) -> None:
    """Namespaced grants: a stream in a watched namespace runs; one in another namespace is never touched."""
    user = release.user
    install_plugin(user, "streams-a", "streams-c")
    start_ready(release)
    user(f"kubectl apply -n streams-c -f {SQLSERVER}/v1-change-capture.yaml")
    stream_running(user, "streams-a")
    suspend_and_resume(user, "streams-a")
    user.wait_jobs(STREAM, "streams-a", [STREAM])
    assert user.phase_shown(PLURAL, STREAM, "streams-c") == "", "a stream outside the watched namespaces has no phase"
    assert user.jobs(STREAM, "streams-c") == []
    assert user.names("kubectl get backfillrequests -n streams-c") == []
    delete_stream(user, "streams-a")


def existing_configmap(release: Installed) -> None:
    """The platform team's own ConfigMap (created as docs/install.md says) is what the operator runs."""
    release.user(f"kubectl create configmap {release.invocation.rules_configmap} -n {NAMESPACE} --from-file={RULES}")
    mount = release.mount_rules()
    assert mounted_files(mount) == shipped_files()
    install_plugin(release.user, "streams")
    operator = start_ready(release)
    assert started_digest(operator) == compile_ruleset([RULES]).digest
    stream_running(release.user, "streams")
    delete_stream(release.user, "streams")


def extra_rules(release: Installed) -> None:
    """`rules.extra.stream` replaces the shipped stream.yaml in the ConfigMap, and the operator runs the team's rules."""
    mount = release.mount_rules()
    expected = {**shipped_files(), "stream.yaml": team_stream_rules().encode("utf-8")}
    assert mounted_files(mount) == expected
    install_plugin(release.user, "streams")
    operator = start_ready(release)
    assert started_digest(operator) == compile_ruleset([mount]).digest != compile_ruleset([RULES]).digest
    stream_running(release.user, "streams")
    described = release.user(f"kubectl describe {PLURAL} {STREAM} -n streams")
    assert "Streaming (data platform team rules). (rule: start-streaming)" in described, described
    delete_stream(release.user, "streams")


LIFECYCLES: dict[str, Callable[[Installed], None]] = {
    "default": default,
    "leader-election": leader_election,
    "watch-namespaces": watch_namespaces,
    "existing-configmap": existing_configmap,
    "extra-rules": extra_rules,
}
# The values of each scenario: the chart's ci/ file, except extra-rules (its ci file holds comment-only placeholder
# files, see test_ci_extra_rules_scenario_starts); None means the ci file.
VALUES: dict[str, Callable[[], dict[str, object]] | None] = {
    "default": None,
    "leader-election": None,
    "watch-namespaces": None,
    "existing-configmap": None,
    "extra-rules": lambda: {"rules": {"extra": {"stream": team_stream_rules()}}},
    # No lifecycle here: tests/e2e/guide/test_real_plugin.py runs the real SQL Server plugin, whose chart ships no
    # ClusterRole for the operator, so its kinds come from these values (docs/install.md, "Permissions").
    "real-plugin": lambda: {
        "streamKinds": [
            {
                "apiGroup": "streaming.sneaksanddata.com",
                "resources": ["microsoft-sql-server-streams", "microsoft-sql-server-beta-streams"],
            }
        ]
    },
}


@functools.cache
def rendering(name: str) -> Rendered:
    """The chart rendered for one scenario of LIFECYCLES (or any ci/ scenario)."""
    make_values = VALUES.get(name)
    if make_values is not None:
        return render(make_values())
    return render_scenario(next(s for s in scenarios() if s.name == name))


def run(name: str, workdir: Path, *, source: str, started: list[OperatorProcess] | None = None) -> None:
    """Install the chart for one scenario into a fresh simulator and put its operator through LIFECYCLES[name]."""
    with installed(name, rendering(name), workdir, source=source, started=started) as release:
        LIFECYCLES[name](release)
