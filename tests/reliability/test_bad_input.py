"""Bad input for every field the operator reads, end to end: each case is reported clearly, the rest keeps running.

One operator serves all stream cases at once (a module-scoped cluster): a stream kind whose CRD admits any spec
(`LOOSE`: a plugin may ship a schema that checks nothing), so wrong types, missing fields and unknown layouts
reach the operator; names at and over the limits; unicode; a 1 MiB spec; templates without containers or with
containers the API refuses; secret references to a missing Secret; a StreamClass naming a missing CRD; a request
naming a missing class. Beside them, good streams must run, and nothing the operator should not delete is deleted.
Rule files (binary, empty, 10 MiB, nested past the parser's depth) are refused at start-up (exit 2) and on reload
(a Warning event; the old rules stay active), also from a ConfigMap mount.
(tests/fixtures/bad-input checks the rules' side of the stream cases in memory.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e.conftest import StartOperator
from e2e.harness import (
    NAMESPACE,
    RULES,
    OperatorProcess,
    copy_rules,
    events,
    operator_command,
    operator_env,
    project_configmap,
    wait_for,
)

from kubesim import KubeSim, SimOptions

from .bed import DEMO, GROUP, LOOSE, PRUNED, Bed, Kind, backfill_request, stream, wait_ready
from .conftest import attach_module_operator
from .history import operator_requests

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

Obj = dict[str, Any]
Mutation = Callable[[Obj], None]


@dataclass(frozen=True)
class Case:
    """A stream with one defect, and what the operator must make of it."""

    name: str
    mutate: Mutation
    phase: str
    """The phase it must reach ("" = stays new)."""
    says: str
    """Text its condition (or, with `event`, a Warning event about it) must contain."""
    event: bool = False
    jobs: int = 0


def _set(path: tuple[str, ...], value: Any) -> Mutation:
    def mutate(spec: Obj) -> None:
        target = spec
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _drop(*keys: str) -> Mutation:
    def mutate(spec: Obj) -> None:
        for key in keys:
            spec.pop(key)

    return mutate


def _keep(_spec: Obj) -> None:
    return None


CAPTURE = ("execution", "streamingBackend", "changeCapture", "jobTemplateRef")
PRUNED_REFUSED = "pruned-refused"
NOT_FOUND = "StreamingJobTemplate demo/{} not found: create it or fix the stream's template reference"
NO_REF = "The stream names no {} StreamingJobTemplate: its template reference (layout {}) is missing or is not an object with a name"
NEEDS_SECRET = (
    "The StreamClass loose needs spec.connectionSecretRef (an object with the Secret's name) or spec.secretRef.name"
)
CASES = [
    Case(
        "layout-number",
        _set(("execution", "layoutVersion"), 1),
        "",
        "Unknown layout version 1 in spec.execution.layoutVersion",
    ),
    Case(
        "layout-unknown",
        _set(("execution", "layoutVersion"), "v9"),
        "",
        'Unknown layout version "v9" in spec.execution.layoutVersion',
    ),
    Case("execution-string", _set(("execution",), "fast"), "Pending", NO_REF.format("streaming", "v0")),
    Case("no-execution", _drop("execution"), "Pending", NO_REF.format("streaming", "v0")),
    Case("ref-string", _set(CAPTURE, "demo-stream"), "Pending", NO_REF.format("streaming", "v1")),
    Case("ref-name-number", _set(CAPTURE, {"name": 42}), "Pending", NOT_FOUND.format("42")),
    Case("ref-missing-template", _set(CAPTURE, {"name": "nope"}), "Pending", NOT_FOUND.format("nope")),
    Case(
        "template-no-containers",
        _set(CAPTURE, {"name": "no-containers"}),
        "Pending",
        "StreamingJobTemplate no-containers has no containers",
    ),
    Case(
        "template-refused",
        _set(CAPTURE, {"name": "refused"}),
        "Pending",
        "create Job/demo/template-refused failed: 422",
    ),
    Case(
        "backend-list",
        _set(("execution", "streamingBackend"), []),
        "",
        "No valid streaming backend configured for backend-list",
        event=True,
    ),
    Case("secret-field-missing", _drop("connectionSecretRef"), "Failed", NEEDS_SECRET),
    Case("secret-field-string", _set(("connectionSecretRef",), "demo-connection"), "Failed", NEEDS_SECRET),
    Case(
        "secret-missing",
        _set(("connectionSecretRef",), {"name": "no-such-secret"}),
        "Running",
        "The stream is currently running.",
        jobs=1,
    ),
    Case(
        "suspended-string",
        _set(("execution", "suspended"), "yes"),
        "Running",
        "The stream is currently running.",
        jobs=1,
    ),
    Case("unicode", _set(("source",), "données-数据-🚀-\u202e"), "Running", "The stream is currently running.", jobs=1),
    Case("huge", _set(("blob",), "x" * (1024 * 1024)), "Running", "The stream is currently running.", jobs=1),
    Case("a" * 63, _keep, "Running", "The stream is currently running.", jobs=1),
    Case("b" * 64, _keep, "Failed", "The stream name is 64 characters long; at most 63 fit the names of its Jobs"),
]
"""What the operator makes of each defect today; the messages are the rules' (rules/stream.yaml)."""

GOOD = ("good-demo", "good-loose")
TEMPLATES = [
    {
        "apiVersion": f"{GROUP}/v1",
        "kind": "StreamingJobTemplate",
        "metadata": {"name": "no-containers", "namespace": NAMESPACE},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": []}}},
    },
    {
        "apiVersion": f"{GROUP}/v1",
        "kind": "StreamingJobTemplate",
        "metadata": {"name": "refused", "namespace": NAMESPACE},
        "spec": {"template": {"spec": {"restartPolicy": "Sometimes", "containers": [{"name": "x", "image": "x"}]}}},
    },
]
MISSING_CRD_CLASS = {
    "apiVersion": f"{GROUP}/v1",
    "kind": "StreamClass",
    "metadata": {"name": "missing-crd"},
    "spec": {"apiGroupRef": "nowhere.example.com", "apiVersion": "v1", "kindRef": "Ghost", "pluralName": "ghosts"},
}


def case_stream(case: Case) -> Obj:
    body = stream(LOOSE, case.name)
    case.mutate(body["spec"])
    return body


@dataclass
class World:
    bed: Bed
    operator: OperatorProcess


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One cluster and one operator with every bad input of this module applied, settled."""
    sim = KubeSim(SimOptions(job_default_outcome="succeed-after=0.5s", job_backoff=0.1)).start()
    log = tmp_path_factory.mktemp("bad-input") / "operator.log"
    operator = OperatorProcess("operator", operator_command(RULES, sim.kubeconfig_path), log, operator_env())
    try:
        bed = Bed.install(sim, (DEMO, LOOSE, PRUNED))
        sim.apply_many(TEMPLATES)
        sim.apply(MISSING_CRD_CLASS)
        operator.start()
        wait_ready(operator, LOOSE)
        bed.create(DEMO, GOOD[0])
        bed.create(LOOSE, GOOD[1])
        for case in CASES:
            sim.apply(case_stream(case))
        pruned = stream(PRUNED, PRUNED_REFUSED)  # its CRD keeps only a condition's type and status
        _set(CAPTURE, {"name": "refused"})(pruned["spec"])
        sim.apply(pruned)
        sim.apply(backfill_request("orphan-request", "whatever", Kind("x", "X", "xs", "no-such-class")))
        bed.converge()
        deadline = time.monotonic() + 30
        while (pending := [c for c in CASES if not reported(sim, c)]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not pending, "cases not reported in 30 s: " + "; ".join(_seen(sim, c) for c in pending)
        yield World(bed, operator)
    finally:
        operator.close()
        sim.stop()


@pytest.fixture(autouse=True)
def _operator_log(request: pytest.FixtureRequest) -> None:
    attach_module_operator(request, "world")


def condition_texts(obj: Obj | None) -> list[str]:
    return [f"{c.get('reason')}: {c.get('message')}" for c in ((obj or {}).get("status") or {}).get("conditions") or []]


def _seen(sim: KubeSim, case: Case) -> str:
    found = sim.get(LOOSE.api_version, LOOSE.kind, NAMESPACE, case.name)
    phase = ((found or {}).get("status") or {}).get("phase")
    return f"{case.name[:20]}: phase {phase!r}, conditions {condition_texts(found)}"


def reported(sim: KubeSim, case: Case) -> bool:
    found = sim.get(LOOSE.api_version, LOOSE.kind, NAMESPACE, case.name)
    phase = str(((found or {}).get("status") or {}).get("phase") or "")
    if phase != case.phase:
        return False
    warnings = [e["message"] for e in events(sim, NAMESPACE, name=case.name) if e["type"] == "Warning"]
    if case.event:
        return any(case.says in message for message in warnings)
    return any(case.says in text for text in condition_texts(found)) and (case.phase == "Running" or bool(warnings))


@pytest.mark.parametrize("case", CASES, ids=[c.name[:20] for c in CASES])
def test_bad_stream_is_reported_and_served_no_further(world: World, case: Case) -> None:
    """A stream with a defect reaches the phase the rules give it, says why in a condition (or a Warning event), and gets only the Jobs it can run."""
    found = world.bed.sim.get(LOOSE.api_version, LOOSE.kind, NAMESPACE, case.name)
    assert reported(world.bed.sim, case), f"{case.name}: phase {(found or {}).get('status')}"
    jobs = world.bed.jobs(case.name)
    assert len(jobs) == case.jobs, [j["metadata"]["name"] for j in jobs]


def test_good_streams_keep_running_beside_bad_input(world: World) -> None:
    """Good streams of both kinds run (one Job each) while every bad one is reported, and the operator deletes only finished backfill Jobs."""
    assert world.bed.wrong() == []
    assert world.operator.alive()
    deleted = {r.name for r in operator_requests(world.bed.sim) if r.verb == "delete"}
    gone = {c.name for c in world.bed.history.changes("jobs") if c.type == "DELETED"}
    backfills = {
        c.name
        for c in world.bed.history.changes("jobs")
        if (c.obj["metadata"].get("labels") or {}).get("arcane/backfilling") == "true"
    }
    assert deleted <= backfills, f"the operator deleted more than finished backfill Jobs: {sorted(deleted - backfills)}"
    assert gone <= backfills
    assert {r.resource for r in operator_requests(world.bed.sim) if r.verb == "delete"} <= {"jobs"}
    for template in ("no-containers", "refused", "demo-stream", "demo-backfill"):
        assert world.bed.sim.get(f"{GROUP}/v1", "StreamingJobTemplate", NAMESPACE, template) is not None


def test_huge_spec_reaches_its_job_whole(world: World) -> None:
    """A 1 MiB stream spec is passed whole to its Job (STREAMCONTEXT__SPEC) and never echoed into a condition or an event."""
    (job,) = world.bed.jobs("huge")
    env = {e["name"]: e.get("value", "") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert len(env["STREAMCONTEXT__SPEC"]) > 1024 * 1024
    texts = [e["message"] for e in events(world.bed.sim, NAMESPACE)] + condition_texts(world.bed.obj(LOOSE, "huge"))
    assert max(len(text) for text in texts) < 2000


def test_missing_crd_and_missing_class_are_reported(world: World) -> None:
    """A StreamClass naming a CRD that does not exist is Failed saying so, and a BackfillRequest naming a class that does not exist is Failed saying so; neither stops the other classes."""
    cls = world.bed.sim.get(f"{GROUP}/v1", "StreamClass", None, "missing-crd") or {}
    assert cls["status"]["phase"] == "Failed"
    assert "no CustomResourceDefinition defines kind Ghost in group nowhere.example.com" in " ".join(
        condition_texts(cls)
    )
    request = world.bed.request("orphan-request") or {}
    assert request["status"]["phase"] == "Failed"
    assert "StreamClass no-such-class does not exist" in " ".join(condition_texts(request))
    for name in (DEMO.cls, LOOSE.cls):
        ready = world.bed.sim.get(f"{GROUP}/v1", "StreamClass", None, name) or {}
        assert ready["status"]["phase"] == "Ready"


def test_failing_steps_back_off_instead_of_looping(world: World) -> None:
    """A stream whose next step keeps failing is retried with exponential backoff: a few seconds in, the one whose
    Job the API refuses has sent a handful of creates (about log2(age / 5 ms)), not hundreds. Each failing stream has
    one ReconcileError event, recorded with its condition, not one more at each retry, also where the stream's CRD
    prunes the condition's reason and message (so the stored condition never equals the one written)."""
    time.sleep(3.0)
    refused = [r for r in operator_requests(world.bed.sim) if (r.verb, r.resource, r.status) == ("create", "jobs", 422)]
    assert 2 <= len(refused) <= 20, f"retries: {len(refused)}"
    counts = {
        e["involvedObject"]["name"]: int(e.get("count") or 1)
        for e in events(world.bed.sim, NAMESPACE, reason="ReconcileError")
    }
    assert len(counts) >= 5, counts
    assert PRUNED_REFUSED in counts, counts
    assert set(counts.values()) == {1}, counts


# --- rule files ------------------------------------------------------------------------------------------


NESTED = 600
BAD_FILES: dict[str, tuple[bytes, str]] = {
    "binary": (bytes(range(256)) * 8, "zz-bad.yaml: not UTF-8 text (byte 128): is this a binary file?"),
    "nul": (b"apiVersion: v1\x00\n", "zz-bad.yaml: contains NUL bytes: is this a binary file?"),
    "empty": (b"", "zz-bad.yaml: the file holds no YAML document"),
    "ten-mib": (
        b"# " + b"x" * (10 * 1024 * 1024) + b"\n",
        "zz-bad.yaml: file is 10485763 bytes; rule files are limited to 4194304",
    ),
    "nested": (
        b"a: " + b"[" * NESTED + b"]" * NESTED + b"\n",
        "zz-bad.yaml:1:68: invalid YAML: values nest more than 64 levels deep",
    ),
}
"""A bad rule file's content, and what the rejection says (after the directory)."""


@pytest.mark.parametrize("bad", sorted(BAD_FILES))
def test_bad_rule_file_at_start_up_exits_2_naming_it(
    sim: KubeSim, operators: StartOperator, tmp_path: Path, bad: str
) -> None:
    """An operator started with a binary, NUL-laden, empty, 10 MiB or absurdly nested rule file beside the good ones exits 2 before touching the cluster, logging where the problem is and what it is."""
    rules = copy_rules(tmp_path / "rules")
    data, says = BAD_FILES[bad]
    (rules / "zz-bad.yaml").write_bytes(data)
    before = len(sim.requests)
    operator = operators(sim, rules=rules)
    assert operator.wait(60) == 2
    errors = [r["msg"] for r in operator.records() if r["level"] == "error"]
    assert any(m.startswith(f"rules rejected: {rules}") and says in m for m in errors), errors
    assert len(sim.requests) == before


RUNNING = "Running: {type: Ready, reason: StreamRunning, message: The stream is currently running.}"
EDITED_RUNNING = "Running: {type: Ready, reason: StreamRunning, message: The stream runs under edited rules.}"


def test_bad_rule_files_in_a_configmap_are_rejected_on_reload(
    bed: Bed, operators: StartOperator, tmp_path: Path
) -> None:
    """Each bad rule file swapped into a mounted ConfigMap (binary, NUL-laden, empty, 10 MiB, nested) is rejected with a RulesRejected Warning event saying what is wrong while the active rules keep serving new streams; a good version afterwards is loaded."""
    sources = {path.name: path.read_bytes() for path in sorted(RULES.glob("*.yaml"))}
    mount = tmp_path / "mount"
    project_configmap(mount, sources, "0")
    operator = operators(bed.sim, rules=mount)
    wait_ready(operator)
    for number, bad in enumerate(sorted(BAD_FILES), start=1):
        project_configmap(mount, {**sources, "zz-bad.yaml": BAD_FILES[bad][0]}, str(number))
        wait_for(
            f"the {bad} rule file to be rejected",
            lambda n=number: operator.metrics().value("arcane_reloads_total", result="error") >= n,  # type: ignore[misc]
            60,
        )
        bed.create(DEMO, f"during-{bad}")
        bed.converge()
    rejected = [e["message"] for e in events(bed.sim, "default", reason="RulesRejected")]
    for bad, (_, says) in BAD_FILES.items():
        assert any(says in message for message in rejected), (bad, rejected)
    assert all(m.startswith("New rules rejected, the previous rules stay active: ") for m in rejected)
    edited = sources["stream.yaml"].decode().replace(RUNNING, EDITED_RUNNING)
    project_configmap(mount, {**sources, "stream.yaml": edited.encode()}, "good")
    wait_for(
        "the good rules to be loaded", lambda: operator.metrics().value("arcane_reloads_total", result="ok") == 1, 30
    )
    bed.create(DEMO, "after")
    bed.converge()
    assert "The stream runs under edited rules." in " ".join(condition_texts(bed.obj(DEMO, "after")))
    assert operator.messages().count("operator started") == 1
