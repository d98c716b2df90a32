"""Faults of the API server and the network, each injected into a busy operator, then cleared; then every invariant.

One test per row of the fault matrix (docs/reliability.md) that kubesim injects at its HTTP layer: restart,
lost history (410), immediate watch closes, 429 storms, 5xx, slow API, conflicts. The silent stall is in
test_stall.py (it needs a short inactivity timeout, which only an in-process operator can be given).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from e2e.conftest import StartOperator
from e2e.harness import NAMESPACE, copy_rules, events

from .bed import DEMO, GROUP, JOB_API, PRUNED, Bed, stream, until, wait_ready
from .conftest import LONG
from .history import describe, operator_requests, writes
from .proxy import WatchProxy, through
from .pumps import pumping

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RESTART_DOWN = 10.0 if LONG else 5.0
"""The matrix says 10 s; the default run uses 5 s (the same code paths), the long mode 10 s."""
CLOSE_SECONDS = 3.0
RETRY_AFTER = 3
STORM_SECONDS = 4.0
HOLD_GRACE = 0.5
"""Writes already on their way when a 429 is answered may still arrive this long after it."""
SLOW = 2.0
SLOW_BOUND = 20.0
CONFLICTS = 12
OUTAGE = 4.0
"""Longer than the client's own retries of one request (4, backoff from 0.2 s with full jitter)."""
EXPECTATION_TIMEOUT = 10.0
"""ReactorOptions.expectation_timeout, which `arcane run` uses."""


def test_api_server_restart_resumes_watches_without_relisting(bed: Bed, operators: StartOperator) -> None:
    """An API server that drops every connection and refuses new ones for a while (5 s; 10 s in the long mode), mid-burst, costs no relist: watches resume from their last resourceVersion with bounded backoff, no Job is created twice, and every stream converges."""
    operator = operators(bed.sim)
    wait_ready(operator)
    wait_ready(operator, PRUNED)
    bed.create_many(12)
    time.sleep(0.3)  # the operator is in the middle of the burst
    restarted = time.time()
    bed.sim.faults.restart(down_for=RESTART_DOWN)
    bed.create_many(4, prefix="during")  # changes it must catch up with, from the watch history
    bed.sim.wait_until_serving(RESTART_DOWN + 10)
    bed.check()

    after = operator_requests(bed.sim, since=restarted)
    assert [r.path for r in after if r.verb == "list"] == [], "the operator relisted after a restart"
    watches = [r for r in after if r.verb == "watch"]
    assert watches, "no watch was re-opened"
    assert all(r.query.get("resourceVersion") not in (None, "", "0") for r in watches), "a watch restarted from scratch"
    assert {name: n for name, n in bed.job_creates().items() if n > 1} == {}, "a Job was created twice"
    restarts = operator.metrics().samples.get("arcane_watch_restarts_total", [])
    connection = {labels["kind"]: value for labels, value in restarts if labels["reason"] == "connection"}
    assert connection, "no watch noticed the restart"
    assert max(connection.values()) <= 12, f"watch reconnects did not back off: {connection}"
    assert bed.phase(DEMO, "during-0") == "Running"


def test_a_write_awaited_while_its_watch_is_down_is_not_given_up(bed: Bed, operators: StartOperator) -> None:
    """While the BackfillRequest watch stays down for longer than the expectation timeout, new streams ask for their initial backfill and then wait for that request to reach the cache: none acts on a cache that cannot show it (no second request, no streaming Job before the backfill). Everything converges once the watch is back."""
    operator = operators(bed.sim)
    wait_ready(operator)
    wait_ready(operator, PRUNED)
    bed.sim.faults.fail_always(503, verb="watch", resource="backfillrequests")
    bed.sim.faults.drop_watches(resource="backfillrequests")
    bed.create_many(4, prefix="blind")
    until("the initial requests", lambda: len(bed.requests()) >= 4)
    time.sleep(EXPECTATION_TIMEOUT + 3)
    assert {n: c for n, c in bed.job_creates().items() if not n.endswith("-backfill")} == {}, "a stream ran first"
    bed.sim.faults.clear()
    bed.check()

    requests = Counter(r["spec"]["streamId"] for r in bed.requests())
    assert requests == dict.fromkeys((f"blind-{i}" for i in range(4)), 1), f"requests per stream: {dict(requests)}"
    assert {name: n for name, n in bed.job_creates().items() if n > 1} == {}, "a Job was created twice"


def test_lost_watch_history_relists_once_and_catches_up_with_what_vanished(
    bed: Bed, proxy: WatchProxy, operators: StartOperator, tmp_path: Path
) -> None:
    """When the watch history is compacted while every watch is down, each watch gets 410 (an ERROR event; then, another time, HTTP 410 Gone), relists exactly once, and the objects that vanished meanwhile arrive as deletions: hand-deleted Jobs are recreated, a deleted stream's Jobs are gone, new streams start."""
    operator = through(proxy, operators, bed, tmp_path)
    wait_ready(operator)
    wait_ready(operator, PRUNED)
    bed.create_many(4)
    bed.converge()
    settled = time.monotonic()
    bed.create_many(4, prefix="t")
    bed.converge()
    bed.quiet()
    # A key that waited for its own write is evaluated again when that wait's timer fires (up to the expectation
    # timeout, 10 s, later): past it, only what the relist delivers can make the operator act on s-0 and s-2.
    time.sleep(max(0.0, settled + EXPECTATION_TIMEOUT + 0.5 - time.monotonic()))
    bed.sim.faults.fail_always(503, verb="watch")  # every watch stays down while the world changes
    bed.sim.faults.drop_watches()
    cut = time.time()
    for name in ("s-0", "s-2"):  # DemoStreams: their Jobs vanish behind the operator's back
        bed.sim.delete(JOB_API, "Job", NAMESPACE, name)
    bed.delete(PRUNED, "s-1")
    bed.suspend(DEMO, "t-0")
    bed.create_many(2, prefix="late")
    bed.sim.faults.compact()
    bed.sim.faults.clear()
    bed.check()

    lists = Counter(r.resource for r in operator_requests(bed.sim, since=cut) if r.verb == "list")
    watched = {r.resource for r in operator_requests(bed.sim, since=cut) if r.verb == "watch"}
    assert lists == dict.fromkeys(watched, 1), f"relists per resource: {dict(lists)}"
    relists = operator.metrics().value("arcane_relists_total", reason="expired")
    assert relists == len(watched)
    assert bed.jobs("s-1") == []
    assert [job["metadata"]["name"] for job in bed.jobs("s-0")] == ["s-0"]

    again = time.time()  # the same, said over HTTP: the next watch of every resource is answered 410 Gone
    proxy.mangling.gone.update(watched)
    bed.sim.faults.drop_watches()
    bed.create(DEMO, "after-gone")
    bed.check()
    lists = Counter(r.resource for r in operator_requests(bed.sim, since=again) if r.verb == "list")
    assert lists == dict.fromkeys(watched, 1), f"relists per resource after HTTP 410: {dict(lists)}"
    assert proxy.mangling.gone == set(), "a watch was not re-opened"


def test_watches_closed_on_open_back_off_instead_of_spinning(bed: Bed, operators: StartOperator) -> None:
    """Watches that the server ends at once (200, no event) for 3 s are re-opened at most about once a second per resource (the backoff grows), and everything converges once they stay open."""
    operator = operators(bed.sim)
    wait_ready(operator)
    wait_ready(operator, PRUNED)
    bed.create_many(6)
    started = time.time()
    bed.sim.faults.close_watches_on_open()
    bed.sim.faults.drop_watches()
    bed.create_many(4, prefix="during")
    time.sleep(CLOSE_SECONDS)
    bed.sim.faults.clear()
    ended = time.time()
    bed.check()

    during = [r for r in operator_requests(bed.sim, since=started) if r.verb == "watch" and r.timestamp <= ended]
    per_resource = Counter(r.resource for r in during)
    assert per_resource, "no watch was re-opened while they closed at once"
    limit = CLOSE_SECONDS + 2
    assert max(per_resource.values()) <= limit, f"watch re-opens in {CLOSE_SECONDS:g} s: {dict(per_resource)}"


def test_429_storm_is_never_retried_before_retry_after(bed: Bed, operators: StartOperator) -> None:
    """While about 30% of writes answer 429 with Retry-After: 3, no request is retried sooner than 3 s after its 429, every write waits behind the hold, and once the storm ends every stream converges."""
    operator = operators(bed.sim)
    wait_ready(operator)
    wait_ready(operator, PRUNED)
    started = time.time()
    with pumping(bed.sim, 0.3, [429], ["create", "patch", "delete"], retry_after=RETRY_AFTER):
        bed.create_many(10)
        time.sleep(STORM_SECONDS)
    bed.check()

    records = operator_requests(bed.sim, since=started)
    throttled = [r for r in records if r.status == 429]
    assert len(throttled) >= 2, "the storm did not bite"
    for record in throttled:
        answered = record.timestamp + record.duration
        # A create's path names its collection, not the object: the hold check below covers creates.
        same = [
            r for r in records if r.path == record.path and r.verb == record.verb and r.timestamp > record.timestamp
        ]
        retry = same[0] if same and record.name else None
        if retry is not None:
            waited = retry.timestamp - answered
            assert waited >= RETRY_AFTER - 0.05, f"{record.verb} {record.path} retried after {waited:.2f} s"
        held = [r for r in writes(records) if answered + HOLD_GRACE < r.timestamp < answered + RETRY_AFTER - 0.05]
        assert held == [], f"writes sent during the hold after a 429 at {answered:.2f}: {describe(held)}"


def test_5xx_on_writes_and_lists_is_retried_per_key_until_everything_converges(
    bed: Bed, operators: StartOperator
) -> None:
    """With 10% of writes and lists answering 500 or 503, and then every write failing for a few seconds (so that a decision and its onError report both fail and nothing but the work queue remembers the key), the failing keys are requeued with backoff, the API error and retry metrics rise, and everything converges."""
    bed.sim.faults.fail_next(3, 503, verb="list")  # the first lists fail: start-up must retry them
    with pumping(bed.sim, 0.1, [500, 503], ["create", "patch", "delete", "list"]):
        operator = operators(bed.sim)
        wait_ready(operator)
        bed.create_many(8)
        time.sleep(1.5)
        bed.sim.faults.compact()  # relists under the fault too
        bed.sim.faults.drop_watches()
        time.sleep(1.5)
    for verb in ("create", "patch", "delete"):
        bed.sim.faults.fail_always(500, verb=verb)
    bed.create_many(4, prefix="outage")  # their first decision fails, and so does its report
    time.sleep(OUTAGE)
    bed.sim.faults.clear()
    bed.check()

    metrics = operator.metrics()
    errors = metrics.value("arcane_api_requests_total", code="500") + metrics.value(
        "arcane_api_requests_total", code="503"
    )
    assert errors >= 4
    assert metrics.value("arcane_queue_retries_total") >= 1, "no key was requeued after a failed write"


def test_slow_api_keeps_the_worker_pool_flowing(bed: Bed, operators: StartOperator) -> None:
    """With every PATCH taking 2 s, sixteen streams (no backfill: two status writes each) converge in far less time than one worker would need (about 64 s), and the work queue never holds more keys than there are objects."""
    operator = operators(bed.sim)
    wait_ready(operator)
    wait_ready(operator, PRUNED)
    bed.sim.faults.add_latency(SLOW, verb="patch")
    bed.create_many(16, backfill=False)
    depths: list[float] = []
    started = time.monotonic()
    while bed.wrong() and time.monotonic() - started < SLOW_BOUND:
        depths.append(operator.metrics().value("arcane_queue_depth"))
        time.sleep(0.5)
    took = time.monotonic() - started
    bed.sim.faults.clear()
    assert took < SLOW_BOUND, f"16 streams took {took:.0f} s with {SLOW:g} s patches: {bed.wrong()}"
    bed.check()
    assert max(depths) <= 3 * len(bed.streams), f"the queue grew to {max(depths):g} keys"


def test_conflicts_are_retried_with_fresh_state_and_foreign_fields_survive(bed: Bed, operators: StartOperator) -> None:
    """Writes answered 409 Conflict are evaluated again from fresh state until they succeed; fields written by others (annotations, a request's payload) are never lost."""
    operator = operators(bed.sim)
    wait_ready(operator)
    wait_ready(operator, PRUNED)
    for index in range(6):
        kind = DEMO if index % 2 == 0 else PRUNED
        body = stream(kind, f"c-{index}")
        body["metadata"]["annotations"] = {"example.com/owner": "team-a"}
        bed.sim.apply(body)
        bed.streams[(kind, f"c-{index}")] = "Running"
    bed.sim.faults.fail_next(CONFLICTS, 409, verb="patch")
    bed.sim.faults.fail_next(3, 409, verb="create", resource="jobs")
    bed.check()
    assert not [r for r in bed.sim.faults.rules if r.remaining], "the conflicts were not all met"

    request = {
        "apiVersion": f"{GROUP}/v1",
        "kind": "BackfillRequest",
        "metadata": {"name": "c-0-again", "namespace": NAMESPACE},
        "spec": {"streamClass": DEMO.cls, "streamId": "c-0", "payload": {"since": "2024-01-01"}},
    }
    bed.sim.faults.fail_next(CONFLICTS, 409, verb="patch")
    bed.sim.apply(request)
    until("the request to be completed", lambda: (bed.request("c-0-again") or {}).get("spec", {}).get("completed"))
    bed.check()
    completed = bed.request("c-0-again") or {}
    assert completed["spec"]["payload"] == {"since": "2024-01-01"}
    for index in range(6):
        kind = DEMO if index % 2 == 0 else PRUNED
        assert (bed.obj(kind, f"c-{index}") or {})["metadata"]["annotations"] == {"example.com/owner": "team-a"}
    conflicts = [r for r in operator_requests(bed.sim) if r.status == 409]
    assert len(conflicts) >= CONFLICTS


COUNTER_RULES = """apiVersion: rules.arcane.dev/v1alpha1
kind: Rules
metadata:
  name: counter
  description: Copies data.wanted into data.seen with a JSON patch guarded by a test of what was read.
spec:
  for:
    kind: {apiVersion: v1, kind: ConfigMap}
  groups:
    - name: copy
      rules:
        - name: copy-wanted
          when: "object.metadata.labels.\\"reliability/counter\\" == 'true' && object.data.seen != object.data.wanted"
          then:
            - patch:
                target: object
                json:
                  - {op: test, path: /data/seen, value: "{{ object.data.seen }}"}
                  - {op: replace, path: /data/seen, value: "{{ object.data.wanted }}"}
            - event: {reason: Copied, message: "copied {{ object.data.wanted }}"}
"""


def test_failed_json_patch_test_is_evaluated_again_from_fresh_state(
    bed: Bed, operators: StartOperator, tmp_path: Path
) -> None:
    """A JSON patch whose `test` fails because someone changed the object between the operator's read and its write (422) stops its decision (the event after it is not sent) and is evaluated again from the new state, where it lands; the other writer's fields survive."""
    rules = copy_rules(tmp_path / "rules")
    (rules / "counter.yaml").write_text(COUNTER_RULES)
    operator = operators(bed.sim, rules=rules)
    operator.wait_log("watching v1/ConfigMap")
    operator.wait_ready()
    bed.sim.faults.add_latency(1.0, verb="patch", resource="configmaps", count=1)
    counter = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "counter", "namespace": NAMESPACE, "labels": {"reliability/counter": "true"}},
        "data": {"seen": "0", "wanted": "1"},
    }
    bed.sim.apply(counter)
    time.sleep(0.5)  # the operator's patch (test seen == "0") is held by kubesim now
    bed.sim.patch(
        "v1", "ConfigMap", NAMESPACE, "counter", {"data": {"seen": "other", "wanted": "2", "foreign": "kept"}}
    )
    until(
        "the counter to catch up",
        lambda: (bed.sim.get("v1", "ConfigMap", NAMESPACE, "counter") or {})["data"]["seen"] == "2",
    )
    bed.quiet()
    final = bed.sim.get("v1", "ConfigMap", NAMESPACE, "counter") or {}
    assert final["data"] == {"seen": "2", "wanted": "2", "foreign": "kept"}
    statuses = [r.status for r in operator_requests(bed.sim) if r.resource == "configmaps" and r.verb == "patch"]
    assert statuses[0] == 422, statuses
    assert statuses[-1] == 200
    copied = [e["message"] for e in events(bed.sim, NAMESPACE, reason="Copied")]
    assert copied == ["copied 2"], "a decision carried on after its write failed"
