"""batch/v1 Job and CronJob: defaulting, validation and immutability as kube-apiserver 1.32 has them.

Jobs get their generated selector (`batch.kubernetes.io/controller-uid`) and the four template labels
`kubectl logs job/x` relies on, the 1.32 spec defaults, pod-template defaults, and the rules
`restartPolicy` in {OnFailure, Never}, immutable template and selector, names of at most 63 characters.
Running Jobs is the Job controller's work (`kubesim.controllers.jobs`), not this module's.
"""

from __future__ import annotations

from typing import Any

from kubesim import cron, errors
from kubesim.errors import FieldError, Raw
from kubesim.kinds.core import default_container
from kubesim.meta import JSON, get_path, parse_time
from kubesim.resources import Strategy
from kubesim.tables import AGE, Column, Printer, age, created, human_duration

CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
JOB_NAME = "batch.kubernetes.io/job-name"


def default_pod_template(template: Any) -> None:
    """Pod-template defaults (dnsPolicy, schedulerName, securityContext, grace period, containers)."""
    if not isinstance(template, dict):
        return
    spec = template.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    for container in spec.get("containers") or []:
        if isinstance(container, dict):
            default_container(container)


def format_selector(selector: Any) -> str:
    """metav1.FormatLabelSelector."""
    if not isinstance(selector, dict):
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, key, values = expr.get("operator"), expr.get("key"), ",".join(expr.get("values") or [])
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts) or "<none>"


def _condition(obj: JSON, kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True" for c in get_path(obj, ("status", "conditions")) or []
    )


def job_status_text(obj: JSON) -> str:
    """The STATUS column of `kubectl get jobs` (1.32)."""
    if _condition(obj, "Complete"):
        return "Complete"
    if _condition(obj, "Failed"):
        return "Failed"
    if obj["metadata"].get("deletionTimestamp"):
        return "Terminating"
    for kind in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if _condition(obj, kind):
            return kind
    return "Running"


def _containers(template: Any) -> list[JSON]:
    return list(get_path(template, ("spec", "containers")) or [])


def _job_cells(obj: JSON, now: float) -> list[Any]:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    succeeded = int(status.get("succeeded", 0))
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif int(spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    start = parse_time(status["startTime"]) if status.get("startTime") else None
    end = parse_time(status["completionTime"]) if status.get("completionTime") else None
    duration = "" if start is None else human_duration((end if end is not None else now) - start)
    containers = _containers(spec.get("template"))
    return [
        obj["metadata"]["name"],
        job_status_text(obj),
        completions,
        duration,
        created(obj, now),
        ",".join(str(c.get("name", "")) for c in containers),
        ",".join(str(c.get("image", "")) for c in containers),
        format_selector(spec.get("selector")),
    ]


JOB_PRINTER = Printer(
    (
        Column("Name", format="name"),
        Column("Status"),
        Column("Completions"),
        Column("Duration"),
        AGE,
        Column("Containers", priority=1),
        Column("Images", priority=1),
        Column("Selector", priority=1),
    ),
    _job_cells,
)


class JobStrategy(Strategy):
    """batch/v1 Job."""

    has_generation = True
    status_subresource = True
    default_orphan = True
    field_labels = frozenset({"status.successful"})
    printer = JOB_PRINTER

    def default(self, obj: JSON, old: JSON | None, now: float) -> None:
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        if spec.get("completions") is None and spec.get("parallelism") is None:
            spec["completions"] = 1
        spec.setdefault("parallelism", 1)
        if spec.get("backoffLimitPerIndex") is None:
            spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        spec.setdefault("podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")
        default_pod_template(spec.get("template"))
        if old is not None:
            meta = obj["metadata"]
            uid = old["metadata"].get("uid", "")
            if not spec.get("manualSelector") and "selector" not in spec and "selector" in old.get("spec", {}):
                spec["selector"] = old["spec"]["selector"]
            self._label_template(obj, uid, meta["name"])

    def on_create(self, obj: JSON, now: float) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        meta = obj["metadata"]
        if not spec.get("manualSelector"):
            spec["selector"] = {"matchLabels": {CONTROLLER_UID: meta["uid"]}}
        self._label_template(obj, meta["uid"], meta["name"])
        if not meta.get("labels"):
            labels = get_path(spec, ("template", "metadata", "labels"))
            if isinstance(labels, dict):
                meta["labels"] = dict(labels)

    @staticmethod
    def _label_template(obj: JSON, uid: str, name: str) -> None:
        spec = obj["spec"]
        template = spec.get("template")
        if spec.get("manualSelector") or not isinstance(template, dict):
            return
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        labels.update({CONTROLLER_UID: uid, JOB_NAME: name, "controller-uid": uid, "job-name": name})

    def validate(self, obj: JSON, old: JSON | None) -> list[FieldError]:
        problems: list[FieldError] = []
        name = obj["metadata"]["name"]
        if old is None and len(name) > 63:
            problems.append(errors.invalid("metadata.name", name, "must be no more than 63 characters"))
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [errors.required("spec", "")]
        for key in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
            value = spec.get(key)
            if isinstance(value, int) and value < 0:
                problems.append(errors.invalid(f"spec.{key}", value, "must be greater than or equal to 0"))
        template = spec.get("template")
        restart = get_path(template, ("spec", "restartPolicy"))
        if restart in (None, ""):
            problems.append(errors.required("spec.template.spec.restartPolicy", 'valid values: "OnFailure", "Never"'))
        elif restart not in ("OnFailure", "Never"):
            problems.append(errors.not_supported("spec.template.spec.restartPolicy", restart, ["OnFailure", "Never"]))
        containers = _containers(template)
        if not containers:
            problems.append(errors.required("spec.template.spec.containers", ""))
        for index, container in enumerate(containers):
            if not container.get("image"):
                problems.append(errors.required(f"spec.template.spec.containers[{index}].image", ""))
            if not container.get("name"):
                problems.append(errors.required(f"spec.template.spec.containers[{index}].name", ""))
        if old is not None:
            old_spec = old.get("spec", {})
            for key, rendered in (("template", "core.PodTemplateSpec{...}"), ("selector", "v1.LabelSelector{...}")):
                if spec.get(key) != old_spec.get(key):
                    problems.append(errors.invalid(f"spec.{key}", Raw(rendered), "field is immutable"))
            for key in ("completionMode", "podFailurePolicy", "backoffLimitPerIndex", "manualSelector"):
                if spec.get(key) != old_spec.get(key):
                    problems.append(errors.invalid(f"spec.{key}", spec.get(key), "field is immutable"))
        return problems


def _cronjob_cells(obj: JSON, now: float) -> list[Any]:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    template = get_path(spec, ("jobTemplate", "spec", "template"))
    containers = _containers(template)
    last = status.get("lastScheduleTime")
    return [
        obj["metadata"]["name"],
        spec.get("schedule", ""),
        spec.get("timeZone") or "<none>",
        "True" if spec.get("suspend") else "False",
        len(status.get("active") or []),
        age(last, now) if last else "<none>",
        created(obj, now),
        ",".join(str(c.get("name", "")) for c in containers),
        ",".join(str(c.get("image", "")) for c in containers),
        format_selector(get_path(spec, ("jobTemplate", "spec", "selector"))),
    ]


class CronJobStrategy(Strategy):
    """batch/v1 CronJob."""

    has_generation = True
    status_subresource = True
    printer = Printer(
        (
            Column("Name", format="name"),
            Column("Schedule"),
            Column("Timezone"),
            Column("Suspend", type="boolean"),
            Column("Active", type="integer"),
            Column("Last Schedule"),
            AGE,
            Column("Containers", priority=1),
            Column("Images", priority=1),
            Column("Selector", priority=1),
        ),
        _cronjob_cells,
    )

    def default(self, obj: JSON, old: JSON | None, now: float) -> None:
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        job_spec = get_path(spec, ("jobTemplate", "spec"))
        if isinstance(job_spec, dict):
            if job_spec.get("completions") is None and job_spec.get("parallelism") is None:
                job_spec["completions"] = 1
            job_spec.setdefault("parallelism", 1)
            job_spec.setdefault("backoffLimit", 6)
            job_spec.setdefault("completionMode", "NonIndexed")
            job_spec.setdefault("suspend", False)
            job_spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
            default_pod_template(job_spec.get("template"))

    def validate(self, obj: JSON, old: JSON | None) -> list[FieldError]:
        problems: list[FieldError] = []
        name = obj["metadata"]["name"]
        if old is None and len(name) > 52:
            problems.append(errors.invalid("metadata.name", name, "must be no more than 52 characters"))
        spec = obj.get("spec") or {}
        schedule = spec.get("schedule")
        if not schedule:
            problems.append(errors.required("spec.schedule", ""))
        else:
            try:
                cron.parse(str(schedule))
            except cron.CronError as error:
                problems.append(errors.invalid("spec.schedule", schedule, str(error)))
        zone = spec.get("timeZone")
        if zone and not cron.valid_zone(str(zone)):
            problems.append(errors.invalid("spec.timeZone", zone, "unknown time zone " + str(zone)))
        policy = spec.get("concurrencyPolicy")
        if policy not in ("Allow", "Forbid", "Replace"):
            problems.append(errors.not_supported("spec.concurrencyPolicy", policy, ["Allow", "Forbid", "Replace"]))
        restart = get_path(spec, ("jobTemplate", "spec", "template", "spec", "restartPolicy"))
        if restart not in ("OnFailure", "Never"):
            field = "spec.jobTemplate.spec.template.spec.restartPolicy"
            if restart in (None, ""):
                problems.append(errors.required(field, 'valid values: "OnFailure", "Never"'))
            else:
                problems.append(errors.not_supported(field, restart, ["OnFailure", "Never"]))
        return problems
