"""What happened in the cluster, exactly: every commit of kubesim's store, and the operator's requests.

Where this sits: the reliability tests check their invariants on these records after a fault. `History` is a
listener on kubesim's store (not a watch over HTTP), so it sees every committed change in resourceVersion
order, and no injected fault (a stalled or closed watch, a rejected token, a restart) can hide one from it.
The checks are pure functions over the records, so tests/reliability/test_invariants.py proves each of them
catches the violation it exists for (no vacuous passes).

Invariants (docs/reliability.md):
- at no commit do two live Jobs (not being deleted) carry one stream's `arcane/stream-id` label;
- no BackfillRequest becomes `spec.completed: true` (by the operator) before a backfill Job made for it
  (`STREAMCONTEXT__BACKFILL_ID`) has succeeded (condition Complete=True);
- the operator's writes stay under a budget in every minute (no write storm).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubesim import KubeSim, RequestRecord

OPERATOR_AGENT = "arcane-operator"
"""The User-Agent the operator sends (its component name)."""
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
STREAM_ID = "arcane/stream-id"
BACKFILL_ID = "STREAMCONTEXT__BACKFILL_ID"

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Change:
    """One committed change: the resource (plural), ADDED/MODIFIED/DELETED, its resourceVersion, the object."""

    resource: str
    type: str
    rv: int
    obj: Obj
    at: float
    """time.monotonic() when it was committed."""

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.obj["metadata"].get("namespace") or "")


class History:
    """Every change committed by kubesim from now on (a store listener; thread-safe reads)."""

    def __init__(self, sim: KubeSim) -> None:
        self._lock = threading.Lock()
        self._changes: list[Change] = []
        sim.runtime.store.listeners.append(self._on_commit)

    def _on_commit(self, key: tuple[str, str], event: Any) -> None:
        # Stored objects are never changed after a commit (kubesim.store), so keeping them is safe.
        change = Change(key[1], str(event.type.value), int(event.rv), event.obj, time.monotonic())
        with self._lock:
            self._changes.append(change)

    def changes(self, resource: str | None = None) -> list[Change]:
        with self._lock:
            found = list(self._changes)
        return [c for c in found if resource is None or c.resource == resource]


# --- invariants over the history --------------------------------------------------------------------


def live(obj: Obj) -> bool:
    return not obj["metadata"].get("deletionTimestamp")


def jobs_at_once(changes: Iterable[Change]) -> dict[str, tuple[int, list[str]]]:
    """Per stream (label arcane/stream-id): the most live Jobs carrying its label at one commit, and their
    names at the first moment that maximum was reached."""
    alive: defaultdict[str, dict[str, bool]] = defaultdict(dict)
    most: dict[str, tuple[int, list[str]]] = {}
    for change in changes:
        if change.resource != "jobs":
            continue
        stream = (change.obj["metadata"].get("labels") or {}).get(STREAM_ID)
        if not stream:
            continue
        key = f"{change.namespace}/{stream}"
        names = alive[key]
        if change.type == "DELETED" or not live(change.obj):
            names.pop(change.name, None)
        else:
            names[change.name] = True
        if len(names) > most.get(key, (0, []))[0]:
            most[key] = (len(names), sorted(names))
    return most


def doubled_jobs(changes: Iterable[Change]) -> list[str]:
    """Streams that had two live Jobs at once, with the Jobs' names."""
    return [f"{stream}: {names}" for stream, (count, names) in sorted(jobs_at_once(changes).items()) if count > 1]


def _succeeded(job: Obj) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Complete" and c.get("status") == "True" for c in conditions)


def _backfill_ids(job: Obj) -> set[str]:
    containers = ((((job.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers")) or []
    return {
        str(env.get("value"))
        for container in containers
        for env in container.get("env") or []
        if env.get("name") == BACKFILL_ID and "value" in env
    }


def completed_without_success(changes: Iterable[Change], *, by_users: Iterable[str] = ()) -> list[str]:
    """BackfillRequests (namespace/name) that became completed while no backfill Job made for them had succeeded.
    `by_users` names requests a test completed itself."""
    exempt = set(by_users)
    succeeded: set[str] = set()
    completed: dict[str, bool] = {}
    problems: list[str] = []
    for change in changes:
        if change.resource == "jobs" and change.type != "DELETED" and _succeeded(change.obj):
            succeeded.update(f"{change.namespace}/{bid}" for bid in _backfill_ids(change.obj))
        elif change.resource == "backfillrequests" and change.type != "DELETED":
            key = f"{change.namespace}/{change.name}"
            done = (change.obj.get("spec") or {}).get("completed") is True
            if done and not completed.get(key) and key not in succeeded and key not in exempt:
                problems.append(
                    f"{key} completed at resourceVersion {change.rv} before any backfill Job for it succeeded"
                )
            completed[key] = done
    return problems


def requests_per_stream(changes: Iterable[Change]) -> Counter[str]:
    """How many BackfillRequests were ever created per stream (namespace/streamId)."""
    created: Counter[str] = Counter()
    for change in changes:
        if change.resource == "backfillrequests" and change.type == "ADDED":
            created[f"{change.namespace}/{(change.obj.get('spec') or {}).get('streamId')}"] += 1
    return created


# --- the operator's requests ------------------------------------------------------------------------------


def operator_requests(sim: KubeSim, *, since: float = 0.0) -> list[RequestRecord]:
    """The operator's requests (by User-Agent) that arrived at `since` (time.time()) or later."""
    return [r for r in sim.requests.records() if r.user_agent == OPERATOR_AGENT and r.timestamp >= since]


def writes(records: Iterable[RequestRecord], *, leases: bool = False) -> list[RequestRecord]:
    """Write requests; Lease renewals excluded unless `leases`."""
    return [r for r in records if r.verb in WRITE_VERBS and (leases or r.resource != "leases")]


def busiest_window(records: Iterable[RequestRecord], seconds: float = 60.0) -> int:
    """The most requests that arrived within any `seconds`-long window."""
    stamps = sorted(r.timestamp for r in records)
    most, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] > seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


def describe(records: Iterable[RequestRecord], limit: int = 12) -> str:
    """The most frequent (verb, path, status) of some requests: what a write loop keeps sending."""
    counted = Counter(f"{r.verb} {r.path} -> {r.status}" for r in records)
    return "; ".join(f"{count}x {what}" for what, count in counted.most_common(limit))
