"""The world a fixture runs in: the fake clock, finding objects by selector, and the steps that change it.

Where this sits: engine.testing.runner owns one `World` per fixture run (a `MemoryCluster`, a `Clock`) and
calls `change` for apply/patch/delete/complete/fail/advance steps; evaluation and execution are the
runner's. `complete` and `fail` write a Job's status as the Kubernetes 1.32 Job controller leaves it
(with JobPodReplacementPolicy on, the terminal condition follows SuccessCriteriaMet / FailureTarget).
Nothing here evaluates a rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.expr import rfc3339
from engine.model import GVK, Obj, ObjectRef
from engine.testing.fixture import DEFAULT_NAMESPACE, Selector, Step, StepKind
from engine.testing.memory import MemoryCluster

JOB = GVK("batch", "v1", "Job")
DEFAULT_BACKOFF_LIMIT = 6


class StepError(Exception):
    """A step could not be carried out (an object it names does not exist, is ambiguous, is not a Job)."""


class Clock:
    """The fake clock: fixed until a step advances it."""

    def __init__(self, start: datetime) -> None:
        self.moment = start

    def now(self) -> datetime:
        return self.moment

    def text(self) -> str:
        return rfc3339(self.moment)

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


@dataclass(slots=True)
class World:
    cluster: MemoryCluster
    clock: Clock

    # --- finding objects ----------------------------------------------------------------------------------

    def find(self, selector: Selector) -> list[Obj]:
        """Objects matching the selector (every version of the kind unless apiVersion is given)."""
        out: list[Obj] = []
        for (gvk, namespace, name), obj in self.cluster.objects.items():
            if gvk.kind != selector.kind or name != selector.name:
                continue
            if selector.api_version and gvk.api_version != selector.api_version:
                continue
            wanted = selector.namespace if selector.namespace is not None else DEFAULT_NAMESPACE
            if self.cluster.namespaced(gvk) and namespace != wanted:
                continue
            out.append(obj)
        return out

    def resolve(self, selector: Selector) -> Obj:
        """The one object a selector names; StepError saying what exists when there is none or several."""
        found = self.find(selector)
        if len(found) == 1:
            return found[0]
        if found:
            versions = ", ".join(sorted(str(obj.get("apiVersion")) for obj in found))
            raise StepError(f"{selector} is ambiguous ({versions}): give its apiVersion")
        same_kind = self.named(selector.kind)
        there = f"; {selector.kind} objects: {', '.join(same_kind)}" if same_kind else ""
        if not same_kind:  # a kind spelled in another case (`widget` for `Widget`): kinds are case-sensitive
            kinds = sorted(
                {gvk.kind for gvk, _, _ in self.cluster.objects if gvk.kind.lower() == selector.kind.lower()}
            )
            there = f"; kinds are case-sensitive: did you mean {' or '.join(kinds)}?" if kinds else ""
        raise StepError(f"there is no {selector} in the cluster{there}")

    def named(self, kind: str, limit: int = 10) -> list[str]:
        """`Kind/namespace/name` of the objects of a kind (the first `limit`, sorted), for messages."""
        return sorted(
            f"{gvk.kind}/{namespace}/{name}" if namespace else f"{gvk.kind}/{name}"
            for (gvk, namespace, name) in self.cluster.objects
            if gvk.kind == kind
        )[:limit]

    # --- changes ----------------------------------------------------------------------------------------

    def change(self, step: Step) -> None:
        """Carry out a step that changes the world; StepError when it cannot be done."""
        kind = step.kind
        if kind is StepKind.ADVANCE:
            self.clock.advance(step.seconds)
        elif kind is StepKind.APPLY:
            assert step.body is not None
            self.cluster.put(self._namespaced(step.body), keep_status=True)
        elif kind is StepKind.PATCH:
            assert step.target is not None
            assert step.body is not None
            self.cluster.merge(ObjectRef.of_object(self.resolve(step.target)), step.body)
        elif kind is StepKind.DELETE:
            assert step.target is not None
            ref = ObjectRef.of_object(self.resolve(step.target))
            self.cluster.remove(ref.gvk, ref.namespace, ref.name)
        elif kind in (StepKind.COMPLETE, StepKind.FAIL):
            assert step.target is not None
            job = self.resolve(step.target)
            if GVK.of_object(job) != JOB:
                raise StepError(
                    f"`{kind.value}` finishes a batch/v1 Job; {step.target} is a {job.get('apiVersion')} {job.get('kind')}"
                )
            status = finished(job, self.clock.text(), succeeded=kind is StepKind.COMPLETE)
            self.cluster.merge(ObjectRef.of_object(job), {"status": status})
        else:  # evaluate and settle run rules: the runner's business
            raise AssertionError(f"not a world change: {kind}")

    def put_given(self, obj: Obj) -> None:
        self.cluster.put(self._namespaced(obj))

    def _namespaced(self, obj: Obj) -> Obj:
        """The object with `metadata.namespace` defaulted to `default` when its kind is namespaced."""
        meta = obj.get("metadata") or {}
        if meta.get("namespace") or not self.cluster.namespaced(GVK.of_object(obj)):
            return obj
        return {**obj, "metadata": {**meta, "namespace": DEFAULT_NAMESPACE}}


def finished(job: Obj, now: str, *, succeeded: bool) -> dict[str, Any]:
    """A Job's status once the 1.32 Job controller has finished it: counters, times and both conditions."""
    spec = job.get("spec") or {}
    status = dict(job.get("status") or {})
    status.update({"active": 0, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}})
    status.setdefault("startTime", now)
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    if succeeded:
        completions = spec.get("completions")
        status["succeeded"] = int(completions) if isinstance(completions, int) else 1
        status["completionTime"] = now
        reason, message = "CompletionsReached", "Reached expected number of succeeded pods"
        added = ["SuccessCriteriaMet", "Complete"]
    else:
        limit = spec.get("backoffLimit")
        status["failed"] = (int(limit) if isinstance(limit, int) else DEFAULT_BACKOFF_LIMIT) + 1
        reason, message = "BackoffLimitExceeded", "Job has reached the specified backoff limit"
        added = ["FailureTarget", "Failed"]
    kept = [c for c in conditions if c.get("type") not in added]
    status["conditions"] = kept + [
        {
            "type": kind,
            "status": "True",
            "lastProbeTime": now,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        }
        for kind in added
    ]
    return status
