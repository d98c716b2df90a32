"""A pretend kubelet: moves Pods through Pending -> Running -> Succeeded/Failed by a scripted outcome.

The outcome comes from the Pod's `kubesim.io/outcome` annotation (the Job controller copies its Job's,
or the simulator's default): `succeed-after=3s`, `fail-after=1s` or `run-forever`. Durations count
from Running, on the simulator's clock. Pods without an outcome run forever. Pods being deleted go
away at once (no grace period) unless finalizers hold them. Part of the `job` controller.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from kubesim.api import Propagation
from kubesim.clock import Timer
from kubesim.controllers.base import Base
from kubesim.meta import JSON, deep_copy, rfc3339
from kubesim.store import Event, EventType, StorageKey

OUTCOME = "kubesim.io/outcome"
PODS: StorageKey = ("", "pods")
_OUTCOME = re.compile(r"^\s*(succeed-after|fail-after)=(\d+(?:\.\d+)?)(ms|s|m)?\s*$")


class OutcomeKind(enum.StrEnum):
    """What a simulated container does."""

    SUCCEED = "succeed"
    FAIL = "fail"
    FOREVER = "run-forever"


@dataclass(frozen=True)
class Outcome:
    """A scripted outcome: succeed or fail after `seconds`, or run forever."""

    kind: OutcomeKind
    seconds: float = 0.0


def parse_outcome(text: str | None) -> Outcome | None:
    """Parse `succeed-after=3s | fail-after=1s | run-forever` (units ms, s, m; s by default)."""
    if text is None:
        return None
    if text.strip() == "run-forever":
        return Outcome(OutcomeKind.FOREVER)
    match = _OUTCOME.match(text)
    if match is None:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[match.group(3)]
    kind = OutcomeKind.SUCCEED if match.group(1) == "succeed-after" else OutcomeKind.FAIL
    return Outcome(kind, float(match.group(2)) * scale)


class Kubelet(Base):
    """Runs Pods on the simulator's clock."""

    component = "kubelet"
    manager = "kubelet"

    def __init__(self, runtime: object) -> None:
        super().__init__(runtime)  # type: ignore[arg-type]
        self._timers: dict[str, Timer] = {}

    def on_event(self, key: StorageKey, event: Event) -> None:
        """Pod events: start new Pods, finish deleted ones."""
        if key != PODS:
            return
        meta = event.obj["metadata"]
        uid = str(meta.get("uid", ""))
        if event.type is EventType.DELETED:
            timer = self._timers.pop(uid, None)
            if timer is not None:
                timer.cancel()
            return
        if event.type is EventType.ADDED and (event.obj.get("status") or {}).get("phase", "Pending") == "Pending":
            ns, name = meta.get("namespace", ""), meta["name"]
            self._timers[uid] = self.runtime.scheduler.later(0, lambda: self._run(ns, name, uid))

    def stop(self) -> None:
        """Cancel every pod timer."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def _pod(self, ns: str, name: str, uid: str) -> JSON | None:
        pod = self.runtime.store.get(PODS, ns, name)
        if pod is None or pod["metadata"].get("uid") != uid or pod["metadata"].get("deletionTimestamp"):
            return None
        return pod

    def _run(self, ns: str, name: str, uid: str) -> None:
        pod = self._pod(ns, name, uid)
        if pod is None:
            return
        now = self.runtime.clock.now()
        stamp = rfc3339(now)
        containers = (pod.get("spec") or {}).get("containers") or []
        status: JSON = {
            "phase": "Running",
            "conditions": [
                {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp}
                for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "hostIP": "10.0.0.1",
            "podIP": "10.244.0.10",
            "podIPs": [{"ip": "10.244.0.10"}],
            "startTime": stamp,
            "qosClass": "BestEffort",
            "containerStatuses": [
                {
                    "name": c.get("name", ""),
                    "image": c.get("image", ""),
                    "imageID": "",
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": stamp}},
                }
                for c in containers
            ],
        }
        pod = self.write_status(self.rt("", "Pod"), pod, status)
        if pod is None:
            return
        outcome = parse_outcome((pod["metadata"].get("annotations") or {}).get(OUTCOME))
        if outcome is None or outcome.kind is OutcomeKind.FOREVER:
            return
        self._timers[uid] = self.runtime.scheduler.later(outcome.seconds, lambda: self._finish(ns, name, uid, outcome))

    def _finish(self, ns: str, name: str, uid: str, outcome: Outcome) -> None:
        self._timers.pop(uid, None)
        pod = self._pod(ns, name, uid)
        if pod is None:
            return
        stamp = rfc3339(self.runtime.clock.now())
        ok = outcome.kind is OutcomeKind.SUCCEED
        status = deep_copy(pod.get("status") or {})
        status["phase"] = "Succeeded" if ok else "Failed"
        for condition in status.get("conditions") or []:
            if condition["type"] in ("Ready", "ContainersReady", "PodReadyToStartContainers"):
                condition["status"] = "False"
                condition["lastTransitionTime"] = stamp
                condition["reason"] = "PodCompleted" if ok else "PodFailed"
        for container in status.get("containerStatuses") or []:
            started = (container.get("state") or {}).get("running", {}).get("startedAt", stamp)
            container["ready"] = False
            container["started"] = False
            container["state"] = {
                "terminated": {
                    "exitCode": 0 if ok else 1,
                    "reason": "Completed" if ok else "Error",
                    "startedAt": started,
                    "finishedAt": stamp,
                }
            }
        self.write_status(self.rt("", "Pod"), pod, status)

    def reap(self, pod: JSON) -> None:
        """Delete a Pod now (used when its Job is suspended or has failed)."""
        meta = pod["metadata"]
        self.delete(self.rt("", "Pod"), meta.get("namespace", ""), meta["name"], Propagation.BACKGROUND)
