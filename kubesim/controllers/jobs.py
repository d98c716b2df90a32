"""The Job controller: Pods for Jobs, status, and the 1.32 condition sequence.

For an unsuspended Job it creates up to `parallelism` Pods (generateName `<job>-`, template labels,
a controlling ownerReference, the `batch.kubernetes.io/job-tracking` finalizer, the Job's
`kubesim.io/outcome`), counts terminated Pods (then drops their finalizer), and sets `startTime`,
`active`, `ready`, `succeeded`, `failed`, `terminating`. Success adds SuccessCriteriaMet then
Complete (with completionTime); failure past `backoffLimit` or `activeDeadlineSeconds` adds
FailureTarget then Failed. Pods are recreated after failures with exponential backoff (`job_backoff`
seconds, doubling, capped at 6 minutes). `suspend` deletes active Pods; `ttlSecondsAfterFinished`
deletes the finished Job. With `job_pods=False` no Pods exist: the Job's outcome is timed directly.
"""

from __future__ import annotations

from kubesim.api import Propagation
from kubesim.clock import Timer
from kubesim.controllers.base import Base, condition, controller_uid, has_condition, owner_ref
from kubesim.controllers.kubelet import OUTCOME, PODS, Kubelet, OutcomeKind, parse_outcome
from kubesim.errors import ApiError
from kubesim.kinds.batch import CONTROLLER_UID
from kubesim.meta import JSON, deep_copy, parse_time, rfc3339
from kubesim.runtime import Runtime
from kubesim.store import Event, EventType, StorageKey

JOBS: StorageKey = ("batch", "jobs")
TRACKING = "batch.kubernetes.io/job-tracking"
_MAX_BACKOFF = 360.0


class JobController(Base):
    """Runs Jobs (and, through its kubelet, their Pods)."""

    component = "job-controller"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.kubelet = Kubelet(runtime)
        self._timers: dict[tuple[str, str], Timer] = {}
        self._pending: set[tuple[str, str]] = set()
        self._failed_at: dict[tuple[str, str], float] = {}

    def start(self) -> None:
        """Subscribe to Job and Pod events."""
        self.runtime.store.listeners.append(self.on_event)

    def stop(self) -> None:
        """Cancel every timer."""
        self.kubelet.stop()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def on_event(self, key: StorageKey, event: Event) -> None:
        """Queue a sync of the Job concerned."""
        if key == PODS:
            if self.runtime.settings.job_pods:
                self.kubelet.on_event(key, event)
            meta = event.obj["metadata"]
            labels = meta.get("labels") or {}
            job_name = labels.get("batch.kubernetes.io/job-name")
            owner = controller_uid(event.obj)
            if job_name and owner:
                self.queue(meta.get("namespace", ""), job_name)
            tracked = event.type is not EventType.DELETED and TRACKING in (meta.get("finalizers") or [])
            if tracked and owner and self.runtime.store.by_uid_get(owner) is None:
                ns, name = meta.get("namespace", ""), meta["name"]
                self.runtime.scheduler.soon(lambda: self._release_orphan(ns, name))
        elif key == JOBS:
            meta = event.obj["metadata"]
            if event.type is EventType.DELETED:
                timer = self._timers.pop((meta.get("namespace", ""), meta["name"]), None)
                if timer is not None:
                    timer.cancel()
            else:
                self.queue(meta.get("namespace", ""), meta["name"])

    def queue(self, namespace: str, name: str) -> None:
        """Sync a Job soon (coalescing bursts)."""
        key = (namespace, name)
        if key in self._pending:
            return
        self._pending.add(key)

        def run() -> None:
            self._pending.discard(key)
            self.sync(namespace, name)

        self.runtime.scheduler.soon(run)

    def _release_orphan(self, namespace: str, name: str) -> None:
        """Drop the tracking finalizer of a Pod whose Job is gone."""
        pod = self.runtime.store.get(PODS, namespace, name)
        if pod is not None:
            self.remove_finalizer(self.rt("", "Pod"), pod, TRACKING)

    def _later(self, job: JSON, delay: float) -> None:
        key = (job["metadata"].get("namespace", ""), job["metadata"]["name"])
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()
        self._timers[key] = self.runtime.scheduler.later(delay, lambda: self.queue(*key))

    def outcome_text(self, job: JSON) -> str:
        """The Job's scripted outcome (annotation, else the simulator's default)."""
        annotations = job["metadata"].get("annotations") or {}
        return str(annotations.get(OUTCOME) or self.runtime.settings.job_default_outcome)

    def _pods(self, job: JSON) -> list[JSON]:
        uid = job["metadata"]["uid"]
        bucket = self.runtime.store.bucket(PODS)
        return [
            p
            for p in bucket.objects(job["metadata"].get("namespace", ""))
            if (p["metadata"].get("labels") or {}).get(CONTROLLER_UID) == uid and controller_uid(p) == uid
        ]

    def sync(self, namespace: str, name: str) -> None:
        """Reconcile one Job."""
        job = self.runtime.store.get(JOBS, namespace, name)
        if job is None:
            return
        if has_condition(job, "Complete") or has_condition(job, "Failed"):
            self._finished(job)
            return
        if self.runtime.settings.job_pods:
            self._sync_pods(job)
        else:
            self._sync_tracked(job)

    def _finished(self, job: JSON) -> None:
        for pod in self._pods(job):
            if TRACKING in (pod["metadata"].get("finalizers") or []):
                self.remove_finalizer(self.rt("", "Pod"), pod, TRACKING)
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        finished = parse_time(str((job.get("status") or {}).get("completionTime") or "")) or parse_time(
            str(
                next(
                    (
                        c["lastTransitionTime"]
                        for c in job["status"].get("conditions", [])
                        if c["type"] in ("Complete", "Failed")
                    ),
                    "",
                )
            )
        )
        if ttl is None or finished is None or job["metadata"].get("deletionTimestamp"):
            return
        remaining = finished + float(ttl) - self.runtime.clock.now()
        if remaining <= 0:
            self.delete(
                self.rt("batch", "Job"), job["metadata"]["namespace"], job["metadata"]["name"], Propagation.BACKGROUND
            )
        else:
            self._later(job, remaining)

    def _base_status(self, job: JSON) -> JSON:
        status = deep_copy(job.get("status") or {})
        status.setdefault("uncountedTerminatedPods", {})
        return status

    def _suspend(self, job: JSON, status: JSON, active: list[JSON]) -> None:
        now = self.runtime.clock.now()
        for pod in active:
            self.kubelet.reap(pod)
            self.event(job, "Job", "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")
        if not has_condition(job, "Suspended"):
            status["conditions"] = [c for c in status.get("conditions", []) if c["type"] != "Suspended"] + [
                condition("Suspended", "JobSuspended", "Job suspended", now)
            ]
            status.pop("startTime", None)
            self.event(job, "Job", "Suspended", "Job suspended")
        status.update(active=0, ready=0)
        self.write_status(self.rt("batch", "Job"), job, status)

    def _resume(self, job: JSON, status: JSON) -> None:
        if has_condition(job, "Suspended"):
            now = self.runtime.clock.now()
            status["conditions"] = [c for c in status.get("conditions", []) if c["type"] != "Suspended"] + [
                condition("Suspended", "JobResumed", "Job resumed", now, "False")
            ]
            self.event(job, "Job", "Resumed", "Job resumed")

    def _sync_pods(self, job: JSON) -> None:  # noqa: PLR0915 - the Job controller's one reconcile, in the order the real one runs
        spec = job.get("spec") or {}
        now = self.runtime.clock.now()
        status = self._base_status(job)
        pods = self._pods(job)
        pod_rt = self.rt("", "Pod")
        for pod in pods:
            phase = (pod.get("status") or {}).get("phase")
            finalizers = pod["metadata"].get("finalizers") or []
            if TRACKING in finalizers and (
                phase in ("Succeeded", "Failed") or pod["metadata"].get("deletionTimestamp")
            ):
                key = "succeeded" if phase == "Succeeded" else "failed"
                status[key] = int(status.get(key, 0)) + 1
                if key == "failed":
                    self._failed_at[(job["metadata"]["namespace"], job["metadata"]["name"])] = now
                self.remove_finalizer(pod_rt, pod, TRACKING)
        active = [
            p
            for p in pods
            if (p.get("status") or {}).get("phase") in (None, "Pending", "Running")
            and not p["metadata"].get("deletionTimestamp")
        ]
        if spec.get("suspend"):
            self._suspend(job, status, active)
            return
        self._resume(job, status)
        status.setdefault("startTime", rfc3339(now))
        succeeded, failed = int(status.get("succeeded", 0)), int(status.get("failed", 0))
        completions = spec.get("completions")
        target = int(completions) if completions is not None else 1
        deadline = spec.get("activeDeadlineSeconds")
        started = parse_time(status["startTime"]) or now
        failure = None
        if failed > int(spec.get("backoffLimit", 6)):
            failure = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif deadline is not None and now - started >= float(deadline):
            failure = ("DeadlineExceeded", "Job was active longer than specified deadline")
        if failure is not None:
            for pod in active:
                self.kubelet.reap(pod)
            self._terminal(job, status, "FailureTarget", "Failed", failure[0], failure[1], warning=True)
            return
        if succeeded >= target:
            self._terminal(
                job,
                status,
                "SuccessCriteriaMet",
                "Complete",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            )
            return
        want = min(int(spec.get("parallelism", 1)), target - succeeded) - len(active)
        delay = 0.0
        failed_at = self._failed_at.get((job["metadata"]["namespace"], job["metadata"]["name"]))
        if want > 0 and failed and failed_at is not None:
            backoff = min(self.runtime.settings.job_backoff * 2 ** (failed - 1), _MAX_BACKOFF)
            delay = max(0.0, failed_at + backoff - now)
        if want > 0 and delay <= 0:
            for _ in range(want):
                new_pod = self._create_pod(job)
                if new_pod is not None:
                    active.append(new_pod)
        elif want > 0:
            self._later(job, delay)
        if deadline is not None:
            self._later(job, max(0.0, started + float(deadline) - now))
        status["active"] = len(active)
        status["ready"] = sum(
            1
            for p in active
            if any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (p.get("status") or {}).get("conditions") or []
            )
        )
        status["terminating"] = 0
        self.write_status(self.rt("batch", "Job"), job, status)

    def _terminal(  # noqa: PLR0917 - condition pair, reason and message of one terminal transition
        self, job: JSON, status: JSON, first: str, final: str, reason: str, message: str, warning: bool = False
    ) -> None:
        now = self.runtime.clock.now()
        job_rt = self.rt("batch", "Job")
        status.update(active=0, ready=0, terminating=0)
        if not has_condition(job, first):
            status["conditions"] = [*status.get("conditions", []), condition(first, reason, message, now)]
            written = self.write_status(job_rt, job, status)
            if written is None:
                return
            job = written
            status = deep_copy(job["status"])
        status["conditions"] = [*status.get("conditions", []), condition(final, reason, message, now)]
        if final == "Complete":
            status["completionTime"] = rfc3339(now)
        written = self.write_status(job_rt, job, status)
        if written is not None:
            self.event(
                written,
                "Job",
                "Completed" if final == "Complete" else reason,
                "Job completed" if final == "Complete" else message,
                warning,
            )
            self._finished(written)

    def _create_pod(self, job: JSON) -> JSON | None:
        meta = job["metadata"]
        template = deep_copy((job.get("spec") or {}).get("template") or {})
        pod_meta = template.get("metadata") or {}
        annotations = dict(pod_meta.get("annotations") or {})
        annotations.setdefault(OUTCOME, self.outcome_text(job))
        pod: JSON = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "generateName": f"{meta['name']}-",
                "namespace": meta["namespace"],
                "labels": dict(pod_meta.get("labels") or {}),
                "annotations": annotations,
                "ownerReferences": [owner_ref(job)],
                "finalizers": [TRACKING],
            },
            "spec": template.get("spec") or {},
        }
        try:
            created = self.runtime.api.create(self.rt("", "Pod"), meta["namespace"], pod, self.opts()).obj
        except ApiError as error:
            self.event(job, "Job", "FailedCreate", f"Error creating: {error.message}", warning=True)
            return None
        self.event(job, "Job", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")
        if parse_outcome(annotations[OUTCOME]) is None:
            self.event(
                job, "Job", "InvalidOutcome", f"kubesim: unparsable {OUTCOME}; the pod runs forever", warning=True
            )
        return created

    def _sync_tracked(self, job: JSON) -> None:
        """No Pods: time the Job's outcome directly from its startTime."""
        spec = job.get("spec") or {}
        now = self.runtime.clock.now()
        status = self._base_status(job)
        if spec.get("suspend"):
            self._suspend(job, status, [])
            return
        self._resume(job, status)
        outcome = parse_outcome(self.outcome_text(job))
        if "startTime" not in status:
            status.update(startTime=rfc3339(now), active=1, ready=1, terminating=0)
            self.write_status(self.rt("batch", "Job"), job, status)
        if outcome is None or outcome.kind is OutcomeKind.FOREVER:
            return
        started = parse_time(status["startTime"]) or now
        attempt_end = started + outcome.seconds * (int(status.get("failed", 0)) + 1)
        if now < attempt_end:
            self._later(job, attempt_end - now)
            return
        if outcome.kind is OutcomeKind.SUCCEED:
            status["succeeded"] = int(spec.get("completions") or 1)
            self._terminal(
                job,
                status,
                "SuccessCriteriaMet",
                "Complete",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            )
            return
        status["failed"] = int(status.get("failed", 0)) + 1
        if status["failed"] > int(spec.get("backoffLimit", 6)):
            self._terminal(
                job,
                status,
                "FailureTarget",
                "Failed",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                warning=True,
            )
            return
        self.write_status(self.rt("batch", "Job"), job, status)
        self._later(job, outcome.seconds)
