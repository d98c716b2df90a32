"""The CronJob controller: Jobs on schedule, on the simulator's clock (fake in tests).

For each CronJob it schedules the next activation after `status.lastScheduleTime` (or its creation),
in `spec.timeZone`; at activation it honours `suspend` and `concurrencyPolicy` (Allow, Forbid,
Replace), creates `<cronjob>-<minutes since epoch>` from the jobTemplate with a controlling
ownerReference and the `batch.kubernetes.io/cronjob-scheduled-timestamp` annotation, and keeps
`status.active`, `lastScheduleTime`, `lastSuccessfulTime` and the history limits. A missed schedule
runs once, at once (as without startingDeadlineSeconds).
"""

from __future__ import annotations

from kubesim import cron
from kubesim.api import Propagation
from kubesim.clock import Timer
from kubesim.controllers.base import Base, controller_uid, has_condition, owner_ref
from kubesim.errors import ApiError
from kubesim.meta import JSON, deep_copy, parse_time, rfc3339
from kubesim.runtime import Runtime
from kubesim.store import Event, EventType, StorageKey

CRONJOBS: StorageKey = ("batch", "cronjobs")
JOBS: StorageKey = ("batch", "jobs")
SCHEDULED = "batch.kubernetes.io/cronjob-scheduled-timestamp"


class CronJobController(Base):
    """Creates Jobs for CronJobs."""

    component = "cronjob-controller"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self._timers: dict[tuple[str, str], Timer] = {}

    def start(self) -> None:
        """Subscribe to CronJob and Job events."""
        self.runtime.store.listeners.append(self.on_event)

    def stop(self) -> None:
        """Cancel schedules."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def on_event(self, key: StorageKey, event: Event) -> None:
        """(Re)schedule CronJobs; track their Jobs."""
        meta = event.obj["metadata"]
        if key == CRONJOBS:
            ident = (meta.get("namespace", ""), meta["name"])
            if event.type is EventType.DELETED:
                timer = self._timers.pop(ident, None)
                if timer is not None:
                    timer.cancel()
            elif event.old is None or event.old.get("spec") != event.obj.get("spec"):
                self.runtime.scheduler.soon(lambda: self.schedule(*ident))
        elif key == JOBS and controller_uid(event.obj):
            found = self.runtime.store.by_uid_get(str(controller_uid(event.obj)))
            if found is not None and found[0] == CRONJOBS:
                owner = found[1]["metadata"]
                ident = (owner.get("namespace", ""), owner["name"])
                self.runtime.scheduler.soon(lambda: self.track(*ident))

    def schedule(self, namespace: str, name: str) -> None:
        """Arm the timer for the next activation."""
        cj = self.runtime.store.get(CRONJOBS, namespace, name)
        if cj is None:
            return
        spec, status = cj.get("spec") or {}, cj.get("status") or {}
        try:
            schedule = cron.parse(str(spec.get("schedule", "")))
        except cron.CronError:
            return
        base = parse_time(str(status.get("lastScheduleTime") or cj["metadata"]["creationTimestamp"])) or 0.0
        due = schedule.next_after(base, str(spec.get("timeZone") or ""))
        delay = due - self.runtime.clock.now()
        old = self._timers.pop((namespace, name), None)
        if old is not None:
            old.cancel()
        self._timers[(namespace, name)] = self.runtime.scheduler.later(delay, lambda: self.fire(namespace, name, due))

    def fire(self, namespace: str, name: str, due: float) -> None:
        """One activation."""
        self._timers.pop((namespace, name), None)
        cj = self.runtime.store.get(CRONJOBS, namespace, name)
        if cj is None:
            return
        spec = cj.get("spec") or {}
        status = deep_copy(cj.get("status") or {})
        active = self._active_jobs(cj)
        cj_rt = self.rt("batch", "CronJob")
        if spec.get("suspend"):
            status["lastScheduleTime"] = rfc3339(due)
            self.write_status(cj_rt, cj, status)
            self.schedule(namespace, name)
            return
        policy = spec.get("concurrencyPolicy", "Allow")
        if active and policy == "Forbid":
            self.event(
                cj,
                "CronJob",
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid",
            )
        else:
            if active and policy == "Replace":
                for job in active:
                    self.delete(self.rt("batch", "Job"), namespace, job["metadata"]["name"], Propagation.BACKGROUND)
                    self.event(cj, "CronJob", "SuccessfulDelete", f"Deleted job {job['metadata']['name']}")
                active = []
            created = self._create_job(cj, due)
            if created is not None:
                active.append(created)
        status["active"] = [self._ref(j) for j in active]
        status["lastScheduleTime"] = rfc3339(due)
        written = self.write_status(cj_rt, cj, status)
        if written is not None:
            self.schedule(namespace, name)

    def _create_job(self, cj: JSON, due: float) -> JSON | None:
        meta = cj["metadata"]
        template = deep_copy((cj.get("spec") or {}).get("jobTemplate") or {})
        template_meta = template.get("metadata") or {}
        annotations = dict(template_meta.get("annotations") or {})
        annotations[SCHEDULED] = rfc3339(due)
        job: JSON = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": f"{meta['name']}-{int(due // 60)}",
                "namespace": meta["namespace"],
                "labels": dict(template_meta.get("labels") or {}),
                "annotations": annotations,
                "ownerReferences": [owner_ref(cj)],
            },
            "spec": template.get("spec") or {},
        }
        try:
            created = self.runtime.api.create(self.rt("batch", "Job"), meta["namespace"], job, self.opts()).obj
        except ApiError as error:
            if error.code != 409:
                self.event(cj, "CronJob", "FailedCreate", f"Error creating job: {error.message}", warning=True)
            return None
        self.event(cj, "CronJob", "SuccessfulCreate", f"Created job {created['metadata']['name']}")
        return created

    @staticmethod
    def _ref(job: JSON) -> JSON:
        meta = job["metadata"]
        return {
            "kind": "Job",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta["uid"],
            "apiVersion": "batch/v1",
            "resourceVersion": meta.get("resourceVersion", ""),
        }

    def _jobs(self, cj: JSON) -> list[JSON]:
        uid = cj["metadata"]["uid"]
        bucket = self.runtime.store.bucket(JOBS)
        return [j for j in bucket.objects(cj["metadata"]["namespace"]) if controller_uid(j) == uid]

    def _active_jobs(self, cj: JSON) -> list[JSON]:
        return [j for j in self._jobs(cj) if not has_condition(j, "Complete") and not has_condition(j, "Failed")]

    def track(self, namespace: str, name: str) -> None:
        """Update `status.active`, `lastSuccessfulTime` and enforce the history limits."""
        cj = self.runtime.store.get(CRONJOBS, namespace, name)
        if cj is None:
            return
        spec = cj.get("spec") or {}
        status = deep_copy(cj.get("status") or {})
        jobs = self._jobs(cj)
        active = [j for j in jobs if not has_condition(j, "Complete") and not has_condition(j, "Failed")]
        status["active"] = [self._ref(j) for j in active]
        if not status["active"]:
            del status["active"]
        done = [j for j in jobs if has_condition(j, "Complete")]
        failed = [j for j in jobs if has_condition(j, "Failed")]
        times = [str(j["status"].get("completionTime")) for j in done if j["status"].get("completionTime")]
        if times:
            status["lastSuccessfulTime"] = max(times)
        self.write_status(self.rt("batch", "CronJob"), cj, status)
        for finished, limit in (
            (done, spec.get("successfulJobsHistoryLimit", 3)),
            (failed, spec.get("failedJobsHistoryLimit", 1)),
        ):
            ordered = sorted(finished, key=lambda j: str(j["metadata"].get("creationTimestamp", "")))
            for job in ordered[: max(0, len(ordered) - int(limit))]:
                self.delete(self.rt("batch", "Job"), namespace, job["metadata"]["name"], Propagation.BACKGROUND)
