"""The reliability test bed: kubesim with our CRDs and three stream plugins, streams, and the invariant checks.

Where this sits: every fault test builds a `Bed`, starts the operator (tests/e2e's harness, a subprocess
exactly as users run it), creates streams, injects its fault, clears it, and calls `Bed.check()`, which
asserts every invariant of docs/reliability.md:
- every stream reaches the phase the rules dictate within a bound after the fault clears (no stream stuck),
  and each Running or Backfilling stream then has exactly one live Job;
- never two live Jobs with one stream's labels (at any commit: tests/reliability/history.py);
- no BackfillRequest completed without its Job succeeding;
- no write storm: the operator's writes in any minute stay under a budget, and once converged it goes quiet
  (no writes for QUIET seconds), also for the plugin whose CRD prunes the condition fields the operator
  writes (a naive writer would rewrite that status for ever).

Plugins: `DEMO` (the sandbox's DemoStream), `PRUNED` (a CRD whose status schema keeps only a condition's
`type` and `status`), `LOOSE` (a CRD that admits any spec: what bad input tests need). User actions go
through kubesim's Python API (in process), so the faults injected at its HTTP layer hit the operator only.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from e2e.harness import NAMESPACE, OperatorProcess, demo_objects, install_crds, wait_for
from e2e.harness import stream as demo_stream

from kubesim import KubeSim

from .history import (
    History,
    busiest_window,
    completed_without_success,
    describe,
    doubled_jobs,
    live,
    operator_requests,
    writes,
)

GROUP = "streaming.sneaksanddata.com"
JOB_API = "batch/v1"
REQUEST_API = f"{GROUP}/v1"
QUIET = 1.0
"""Seconds without a single operator write that count as "settled"."""
CONVERGE = 45.0
"""Bound for every stream to reach its phase after a fault clears."""
WRITES_PER_STREAM_MINUTE = 40
"""Write budget per stream per minute; one stream's whole lifecycle takes about 15 writes."""


@dataclass(frozen=True, slots=True)
class Kind:
    """A stream kind served by a plugin CRD."""

    group: str
    kind: str
    plural: str
    cls: str
    """Its StreamClass."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/v1"


DEMO = Kind("demo.arcane.dev", "DemoStream", "demostreams", "demo")
PRUNED = Kind("pruned.reliability.test", "PrunedStream", "prunedstreams", "pruned")
LOOSE = Kind("loose.reliability.test", "LooseStream", "loosestreams", "loose")

Obj = dict[str, Any]


def plugin_crd(kind: Kind) -> Obj:
    """The CRD of a test plugin: the demo's spec schema (any spec for LOOSE); PRUNED keeps condition type/status only."""
    demo = copy.deepcopy(demo_objects()["CustomResourceDefinition/demostreams.demo.arcane.dev"])
    version = demo["spec"]["versions"][0]
    properties = version["schema"]["openAPIV3Schema"]["properties"]
    if kind is PRUNED:
        properties["status"]["properties"]["conditions"]["items"] = {
            "type": "object",
            "properties": {"type": {"type": "string"}, "status": {"type": "string"}},
        }
    elif kind is LOOSE:
        properties["spec"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        properties["status"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    version.pop("additionalPrinterColumns", None)
    singular = kind.kind.lower()
    demo["metadata"] = {"name": f"{kind.plural}.{kind.group}"}
    demo["spec"]["group"] = kind.group
    demo["spec"]["names"] = {
        "kind": kind.kind,
        "listKind": f"{kind.kind}List",
        "plural": kind.plural,
        "singular": singular,
    }
    return demo


def stream_class(kind: Kind) -> Obj:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "StreamClass",
        "metadata": {"name": kind.cls},
        "spec": {
            "apiGroupRef": kind.group,
            "apiVersion": "v1",
            "kindRef": kind.kind,
            "pluralName": kind.plural,
            "secretRefs": ["connectionSecretRef"],
        },
    }


def stream(kind: Kind, name: str, *, suspended: bool = False, backfill: bool = True, source: str = "") -> Obj:
    """tests/e2e's demo stream (Job backend, a backfill template unless `backfill` is False) as a `kind` stream."""
    obj = demo_stream(name, suspended=suspended, backfill=backfill)
    obj.update(apiVersion=kind.api_version, kind=kind.kind)
    if source:
        obj["spec"]["source"] = source
    return obj


def backfill_request(name: str, stream_id: str, kind: Kind = DEMO, **spec: Any) -> Obj:
    """A BackfillRequest as a user writes it."""
    return {
        "apiVersion": REQUEST_API,
        "kind": "BackfillRequest",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"streamClass": kind.cls, "streamId": stream_id, **spec},
    }


@dataclass
class Bed:
    """One simulator with the plugins installed, its history, and the streams a test created."""

    sim: KubeSim
    history: History
    streams: dict[tuple[Kind, str], str] = field(default_factory=dict)
    """(kind, name) -> the phase the rules must bring the stream to."""
    completed_by_users: set[str] = field(default_factory=set)

    @classmethod
    def install(cls, sim: KubeSim, kinds: Iterable[Kind] = (DEMO, PRUNED)) -> Bed:
        """Our CRDs, the demo plugin's namespace, templates and Secret, and a CRD plus a StreamClass per kind."""
        bed = cls(sim, History(sim))
        install_crds(sim)
        objects = demo_objects()
        sim.apply_many([objects[k] for k in sorted(objects) if not k.startswith(("StreamClass/", "CustomResourceDef"))])
        for kind in kinds:
            sim.apply(
                plugin_crd(kind)
                if kind is not DEMO
                else objects[f"CustomResourceDefinition/{DEMO.plural}.{DEMO.group}"]
            )
            sim.apply(stream_class(kind))
        return bed

    # --- user actions (in process: injected faults never hit them) ----------------------------------------

    def create(
        self, kind: Kind, name: str, *, suspended: bool = False, backfill: bool = True, expect: str = ""
    ) -> None:
        self.sim.apply(stream(kind, name, suspended=suspended, backfill=backfill))
        self.streams[(kind, name)] = expect or ("Suspended" if suspended else "Running")

    def create_many(
        self, count: int, prefix: str = "s", kinds: Iterable[Kind] = (DEMO, PRUNED), *, backfill: bool = True
    ) -> None:
        """`count` streams, spread over the kinds (names prefix-0, prefix-1, ...)."""
        chosen = list(kinds)
        for index in range(count):
            self.create(chosen[index % len(chosen)], f"{prefix}-{index}", backfill=backfill)

    def suspend(self, kind: Kind, name: str, suspended: bool = True) -> None:
        patch = {"spec": {"execution": {"suspended": suspended}}}
        self.sim.patch(kind.api_version, kind.kind, NAMESPACE, name, patch)
        self.streams[(kind, name)] = "Suspended" if suspended else "Running"

    def delete(self, kind: Kind, name: str) -> None:
        self.sim.delete(kind.api_version, kind.kind, NAMESPACE, name)
        self.streams.pop((kind, name), None)

    def edit(self, kind: Kind, name: str, source: str) -> None:
        self.sim.patch(kind.api_version, kind.kind, NAMESPACE, name, {"spec": {"source": source}})

    # --- reading ---------------------------------------------------------------------------------------

    def obj(self, kind: Kind, name: str) -> Obj | None:
        return self.sim.get(kind.api_version, kind.kind, NAMESPACE, name)

    def phase(self, kind: Kind, name: str) -> str:
        return str(((self.obj(kind, name) or {}).get("status") or {}).get("phase") or "")

    def jobs(self, name: str) -> list[Obj]:
        """The live Jobs carrying a stream's label."""
        found = self.sim.list(JOB_API, "Job", NAMESPACE)  # (no selector: a too-long name is not a valid label value)
        return [
            job for job in found if live(job) and (job["metadata"].get("labels") or {}).get("arcane/stream-id") == name
        ]

    def requests(self) -> list[Obj]:
        return self.sim.list(REQUEST_API, "BackfillRequest", NAMESPACE)

    def request(self, name: str) -> Obj | None:
        return self.sim.get(REQUEST_API, "BackfillRequest", NAMESPACE, name)

    def wrong(self) -> list[str]:
        """Streams not (yet) where the rules must bring them, and Running/Backfilling streams without exactly one Job."""
        problems = []
        for (kind, name), wanted in sorted(self.streams.items(), key=lambda item: (item[0][0].kind, item[0][1])):
            found = self.obj(kind, name)
            status = (found or {}).get("status") or {}
            current = str(status.get("phase") or "")
            if current != wanted:
                reasons = "; ".join(f"{c.get('type')}: {c.get('message', '')}" for c in status.get("conditions") or [])
                problems.append(f"{kind.kind}/{name} is {current or 'new'!r}, not {wanted} ({reasons})")
                continue
            if wanted in ("Running", "Backfilling"):
                jobs = [job["metadata"]["name"] for job in self.jobs(name)]
                if len(jobs) != 1:
                    problems.append(f"{kind.kind}/{name} is {wanted} with Jobs {jobs}")
        return problems

    # --- the invariants ---------------------------------------------------------------------------------

    def converge(self, timeout: float = CONVERGE) -> float:
        """Wait until every stream is where the rules must bring it; returns the seconds it took."""
        started = time.monotonic()
        deadline = started + timeout
        while problems := self.wrong():
            if time.monotonic() > deadline:
                raise AssertionError(f"streams stuck {timeout:g} s after the fault cleared:\n" + "\n".join(problems))
            time.sleep(0.2)
        return time.monotonic() - started

    def quiet(self, seconds: float = QUIET, timeout: float = 20.0) -> None:
        """Wait until the operator has written nothing for `seconds` (Lease renewals aside); fail on a write loop."""
        started = time.time()
        deadline = time.monotonic() + timeout
        while True:
            now = time.time()
            recent = writes(operator_requests(self.sim, since=now - seconds))
            if not recent and now - started >= seconds:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the operator never went quiet for {seconds:g} s within {timeout:g} s (a write loop): "
                    f"{describe(writes(operator_requests(self.sim, since=now - timeout)))}"
                )
            time.sleep(0.2)

    def check(self, *, timeout: float = CONVERGE, since: float = 0.0, budget: int | None = None) -> None:
        """Every invariant of the module docstring (see there), after the fault has been cleared."""
        self.converge(timeout)
        self.quiet()
        assert self.wrong() == [], "a stream left its phase while the operator went quiet"
        changes = self.history.changes()
        doubled = doubled_jobs(changes)
        assert doubled == [], f"two live Jobs carried one stream's labels at once: {doubled}"
        early = completed_without_success(changes, by_users=self.completed_by_users)
        assert early == [], f"BackfillRequests completed before their Job succeeded: {early}"
        limit = budget if budget is not None else WRITES_PER_STREAM_MINUTE * max(1, len(self.streams)) + 100
        busiest = busiest_window(writes(operator_requests(self.sim, since=since)))
        assert busiest <= limit, f"write storm: {busiest} operator writes in one minute (budget {limit})"

    def job_creates(self) -> dict[str, int]:
        """Job name -> how many times a Job of that name was created (from the store's history)."""
        counted: dict[str, int] = {}
        for change in self.history.changes("jobs"):
            if change.type == "ADDED":
                counted[change.name] = counted.get(change.name, 0) + 1
        return counted


def wait_ready(operator: OperatorProcess, kind: Kind = DEMO, timeout: float = 30.0) -> None:
    """The operator watches the stream kind and is ready."""
    operator.wait_log(f"watching {kind.api_version}/{kind.kind}", timeout)
    operator.wait_ready(timeout)


def until(what: str, probe: Callable[[], Any], timeout: float = 30.0) -> Any:
    return wait_for(what, probe, timeout)
