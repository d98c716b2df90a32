"""Faults of the operator's process and its environment: SIGKILL mid-reconcile, token rotation, leader loss,
a rule reload in the middle of a burst. Each ends with every invariant of docs/reliability.md."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
import yaml
from e2e.conftest import StartOperator
from e2e.harness import NAMESPACE, OperatorProcess, copy_rules, with_replaced

from kubesim import KubeSim, tlsdata

from .bed import DEMO, PRUNED, Bed, backfill_request, until, wait_ready
from .conftest import LONG
from .history import operator_requests, requests_per_stream, writes

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KILLS = 20
LATE_LIST = 0.7
SEED = int(os.environ.get("RELIABILITY_SEED", "0")) or random.randrange(1, 10**6)
ELECT = ("--leader-elect", "--leader-election-namespace", "default")
LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD = 15.0, 10.0, 2.0


def kill_at_a_random_point(operator: OperatorProcess, sim: KubeSim, rng: random.Random) -> str:
    """SIGKILL the operator after a random delay, or right after its k-th write (mid-decision); says which."""
    started = time.time()
    if rng.random() < 0.5:
        delay = rng.uniform(0.2, 2.5)
        time.sleep(delay)
        operator.kill()
        return f"after {delay:.2f} s"
    count = rng.randint(1, 4)
    deadline = time.monotonic() + 8.0
    while len(writes(operator_requests(sim, since=started))) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    operator.kill()
    return f"after write {count}"


def test_sigkill_mid_reconcile_twenty_times_then_a_successor_finishes_the_work(
    bed: Bed, operators: StartOperator
) -> None:
    """An operator SIGKILLed 20 times at random points (during start-up, between the writes of one decision) while streams are created, each successor listing BackfillRequests late, leaves a successor that carries on from what was done: every stream Running with one Job, one initial BackfillRequest per stream, no Job created twice."""
    rng = random.Random(SEED)
    print(f"RELIABILITY_SEED={SEED}")
    kills: list[str] = []
    # One kill at the worst moment for sure: the backfill Job created, the phase write after it not landed.
    # (kubesim drops a request whose client went away, so the kill must come while that write hangs.)
    bed.create(DEMO, "adopt")
    bed.sim.patch(
        DEMO.api_version, DEMO.kind, NAMESPACE, "adopt", {"status": {"phase": "Pending"}}, subresource="status"
    )
    bed.sim.apply(backfill_request("adopt-request", "adopt"))
    bed.sim.faults.add_latency(60.0, verb="patch", resource=DEMO.plural)
    operator = operators(bed.sim, name="killed-after-create")
    until("the backfill Job of adopt", lambda: bed.sim.get("batch/v1", "Job", NAMESPACE, "adopt-backfill"))
    operator.kill()
    bed.sim.faults.clear()
    assert bed.phase(DEMO, "adopt") == "Pending"

    # Every start-up's list of BackfillRequests comes late: a successor must not act on its streams before it.
    bed.sim.faults.add_latency(LATE_LIST, verb="list", resource="backfillrequests")
    successors: list[OperatorProcess] = []
    for round_number in range(KILLS):
        bed.create(DEMO if round_number % 2 == 0 else PRUNED, f"k-{round_number}")
        successors.append(operators(bed.sim, name=f"killed-{round_number}"))
        kills.append(kill_at_a_random_point(successors[-1], bed.sim, rng))
    successors.append(operators(bed.sim, name="successor"))
    bed.check(timeout=60.0)
    bed.sim.faults.clear()
    print("kills:", kills)
    assert {name: n for name, n in bed.job_creates().items() if n > 1} == {}, (
        f"a Job was created twice (kills: {kills})"
    )
    per_stream = requests_per_stream(bed.history.changes())
    assert {s: n for s, n in per_stream.items() if n != 1} == {}, (
        f"streams without exactly one request (kills: {kills})"
    )
    assert len(per_stream) == len(bed.streams)
    assert len(successors) == KILLS + 1
    completed = bed.request("adopt-request") or {}
    assert completed["spec"]["completed"] is True, "the backfill the killed operator started was not carried on"


def token_kubeconfig(sim: KubeSim, path: Path, token_file: Path) -> Path:
    """A kubeconfig whose user reads its bearer token from a file (as a projected service-account token)."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sim", "cluster": {"server": sim.url, "certificate-authority-data": tlsdata.ca_data()}}],
        "users": [{"name": "operator", "user": {"tokenFile": str(token_file)}}],
        "contexts": [{"name": "sim", "context": {"cluster": "sim", "user": "operator"}}],
        "current-context": "sim",
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def test_token_rotation_is_picked_up_from_the_token_file(bed: Bed, operators: StartOperator, tmp_path: Path) -> None:
    """When the API server starts refusing the operator's token (401) and the token file is then rewritten, the operator re-reads the file on its next 401 and carries on without a restart, long before its periodic re-read (60 s)."""
    token_file = tmp_path / "token"
    token_file.write_text(bed.sim.token)
    kubeconfig = token_kubeconfig(bed.sim, tmp_path / "kubeconfig", token_file)
    # The harness passes the simulator's kubeconfig first; argparse keeps the last --kubeconfig.
    operator = operators(bed.sim, "--kubeconfig", str(kubeconfig))
    wait_ready(operator)
    wait_ready(operator, PRUNED)
    bed.create_many(4)
    bed.converge()

    new_token = bed.sim.faults.rotate_token()  # from now on only the new token is accepted
    rotated = time.time()
    bed.create_many(4, prefix="rotated")
    until(
        "the operator to be refused", lambda: [r for r in operator_requests(bed.sim, since=rotated) if r.status == 401]
    )
    time.sleep(1.0)
    replacement = tmp_path / "token.new"
    replacement.write_text(new_token)
    os.replace(replacement, token_file)  # atomically, as the kubelet updates a projected token
    written = time.monotonic()
    bed.check(timeout=20.0)
    assert time.monotonic() - written < 30.0
    assert operator.alive(), "the operator restarted"
    assert operator.messages().count("operator started") == 1


def holder(sim: KubeSim) -> str:
    lease = sim.get("coordination.k8s.io/v1", "Lease", "default", "arcane-operator")
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


def leader_of(*candidates: OperatorProcess) -> OperatorProcess | None:
    return next((o for o in candidates if o.alive() and o.metrics().value("arcane_leader") == 1), None)


def test_leader_whose_lease_is_stolen_exits_and_the_standby_takes_over(bed: Bed, operators: StartOperator) -> None:
    """A leader whose Lease is taken by another holder exits (code 1) within the renew deadline, the standby leads once the thief's lease expires (lease duration + 2 s), and the streams created meanwhile converge with no Job created twice."""
    first = operators(bed.sim, *ELECT, name="first")
    second = operators(bed.sim, *ELECT, name="second")
    leader = until("a leader", lambda: leader_of(first, second))
    standby = second if leader is first else first
    wait_ready(leader)
    wait_ready(standby)
    bed.create_many(4)
    bed.converge()

    stolen = time.monotonic()
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    steal = {
        "spec": {
            "holderIdentity": "thief",
            "renewTime": now,
            "acquireTime": now,
            "leaseDurationSeconds": int(LEASE_DURATION),
        }
    }
    bed.sim.patch("coordination.k8s.io/v1", "Lease", "default", "arcane-operator", steal)
    bed.create_many(4, prefix="stolen")
    code = leader.wait(RENEW_DEADLINE + RETRY_PERIOD + 3)
    exited = time.monotonic() - stolen
    assert code == 1
    assert exited <= RENEW_DEADLINE + RETRY_PERIOD + 1, f"the old leader exited {exited:.1f} s after losing its Lease"
    until("the standby to lead", lambda: holder(bed.sim) not in ("", "thief"), LEASE_DURATION + 10)
    took_over = time.monotonic() - stolen
    assert took_over <= LEASE_DURATION + RETRY_PERIOD * 1.2 + 2.0, f"the standby took over after {took_over:.1f} s"
    bed.check()
    assert {name: n for name, n in bed.job_creates().items() if n > 1} == {}
    lost = leader.messages()
    after_loss = lost[lost.index("leadership lost: exiting so that no two replicas act at once") :]
    assert [m for m in after_loss if m.startswith(("created ", "patched ", "deleted ", "adopted "))] == []


KEEP_RUNNING_STATUS = (
    "                replaceWhen: streamingJobOutdated\n            - status: {conditions: {remove: [ReconcileError]}}"
)
EDITED_KEEP_RUNNING_STATUS = (
    "                replaceWhen: streamingJobOutdated\n"
    '            - status: {set: {configurationHash: "{{ specHash }}-edited"}, conditions: {remove: [ReconcileError]}}'
)


def test_rule_reload_in_the_middle_of_a_burst_re_evaluates_every_stream(
    bed: Bed, operators: StartOperator, tmp_path: Path
) -> None:
    """Rules swapped while a burst of new streams is being processed apply to every stream afterwards: the quiet Running streams are re-evaluated (at low priority) and so are those in flight, and no stream is left half-way between the two rule sets."""
    rules = copy_rules(tmp_path / "rules")
    operator = operators(bed.sim, rules=rules)
    wait_ready(operator)
    wait_ready(operator, PRUNED)
    bed.create_many(8, prefix="before")
    bed.converge()
    low_before = operator.metrics().value("arcane_queue_adds_total", priority="low")
    bed.create_many(BURST, prefix="burst")
    time.sleep(0.3)
    (rules / "stream.yaml").write_text(
        with_replaced((rules / "stream.yaml").read_text(), KEEP_RUNNING_STATUS, EDITED_KEEP_RUNNING_STATUS)
    )
    until("the reload", lambda: operator.metrics().value("arcane_reloads_total", result="ok") == 1)
    bed.check()

    hashes = {
        name: str(((bed.obj(kind, name) or {}).get("status") or {}).get("configurationHash"))
        for kind, name in bed.streams
    }
    assert [name for name, value in hashes.items() if not value.endswith("-edited")] == [], hashes
    low_after = operator.metrics().value("arcane_queue_adds_total", priority="low")
    assert low_after - low_before >= len(bed.streams), "the reload did not re-evaluate every stream at low priority"


BURST = 24 if LONG else 12
