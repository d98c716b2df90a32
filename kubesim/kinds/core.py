"""Core built-in kinds: Namespace, Secret, ConfigMap, ServiceAccount, Pod, Event (both APIs), Lease, RBAC.

Each strategy carries the kind's defaulting, validation, field labels and Table printer as
kube-apiserver has them. Job and CronJob live in `kubesim.kinds.batch`; CRDs in `kubesim.kinds.crd`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from kubesim import errors
from kubesim.errors import FieldError
from kubesim.meta import JSON, get_path
from kubesim.resources import ResourceType, Strategy
from kubesim.tables import AGE, DEFAULT, NAME_AGE, Column, Printer, age, created, simple

_SECRET_KEY = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def _key_errors(field: str, data: Any) -> list[FieldError]:
    problems: list[FieldError] = []
    if isinstance(data, dict):
        for key in data:
            if not key or not set(key) <= _SECRET_KEY or key in (".", ".."):
                problems.append(
                    errors.invalid(
                        field,
                        key,
                        "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name', "
                        " or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                    )
                )
    return problems


def _immutable(obj: JSON, old: JSON | None, fields: tuple[str, ...]) -> list[FieldError]:
    if old is None or not old.get("immutable"):
        return []
    problems = [
        errors.forbidden(f, "field is immutable when `immutable` is set") for f in fields if obj.get(f) != old.get(f)
    ]
    if not obj.get("immutable"):
        problems.append(errors.forbidden("immutable", "field is immutable when `immutable` is set"))
    return problems


class NamespaceStrategy(Strategy):
    """Namespaces: DNS-1123 label names, phase Active/Terminating, the `kubernetes` spec finalizer."""

    name_rule = "label"
    status_subresource = True
    field_labels = frozenset({"status.phase"})
    printer = simple((Column("Status"), AGE), lambda o, now: [get_path(o, ("status", "phase")), created(o, now)])

    def default(self, obj: JSON, old: JSON | None, now: float) -> None:
        labels = obj["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        if old is not None:
            obj["spec"] = old.get("spec", {})  # spec.finalizers change only through /finalize

    def on_create(self, obj: JSON, now: float) -> None:
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}

    def on_delete_marked(self, obj: JSON) -> None:
        obj["status"] = {"phase": "Terminating"}


class SecretStrategy(Strategy):
    """Secrets: `stringData` merged into base64 `data` and never returned; type Opaque; immutable."""

    field_labels = frozenset({"type"})
    printer = simple(
        (Column("Type"), Column("Data", type="integer"), AGE),
        lambda o, now: [o.get("type", ""), len(o.get("data") or {}), created(o, now)],
    )

    def default(self, obj: JSON, old: JSON | None, now: float) -> None:
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict):
            data = dict(obj.get("data") or {})
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()
            obj["data"] = data
        if not obj.get("type"):
            obj["type"] = "Opaque"

    def validate(self, obj: JSON, old: JSON | None) -> list[FieldError]:
        problems = _key_errors("data", obj.get("data"))
        for key, value in (obj.get("data") or {}).items():
            try:
                base64.b64decode(str(value), validate=True)
            except (binascii.Error, ValueError):
                problems.append(errors.invalid(f"data[{key}]", "<secret contents redacted>", "illegal base64 data"))
        if old is not None and obj.get("type") != old.get("type"):
            problems.append(errors.invalid("type", obj.get("type"), "field is immutable"))
        return problems + _immutable(obj, old, ("data",))


class ConfigMapStrategy(Strategy):
    """ConfigMaps: key validation and `immutable`."""

    printer = simple(
        (Column("Data", type="integer"), AGE),
        lambda o, now: [len(o.get("data") or {}) + len(o.get("binaryData") or {}), created(o, now)],
    )

    def validate(self, obj: JSON, old: JSON | None) -> list[FieldError]:
        problems = _key_errors("data", obj.get("data")) + _key_errors("binaryData", obj.get("binaryData"))
        return problems + _immutable(obj, old, ("data", "binaryData"))


class ServiceAccountStrategy(Strategy):
    """ServiceAccounts."""

    printer = simple(
        (Column("Secrets", type="integer"), AGE), lambda o, now: [len(o.get("secrets") or []), created(o, now)]
    )


def _pod_cells(obj: JSON, now: float) -> list[Any]:
    statuses = get_path(obj, ("status", "containerStatuses")) or []
    containers = get_path(obj, ("spec", "containers")) or []
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(int(s.get("restartCount", 0)) for s in statuses)
    phase = get_path(obj, ("status", "phase")) or "Pending"
    reason = get_path(obj, ("status", "reason")) or phase
    for status in statuses:
        state = status.get("state", {})
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state:
            reason = state["terminated"].get("reason") or reason
    if obj["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    ip = get_path(obj, ("status", "podIP")) or "<none>"
    node = get_path(obj, ("spec", "nodeName")) or "<none>"
    return [
        obj["metadata"]["name"],
        f"{ready}/{len(containers)}",
        reason,
        restarts,
        created(obj, now),
        ip,
        node,
        "<none>",
        "<none>",
    ]


class PodStrategy(Strategy):
    """Pods: status subresource, pod field labels, the Pod printer; DELETE answers with the object."""

    status_subresource = True
    return_deleted_object = True
    field_labels = frozenset(
        {
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        }
    )
    printer = Printer(
        (
            Column("Name", format="name"),
            Column("Ready"),
            Column("Status"),
            Column("Restarts", type="string"),
            AGE,
            Column("IP", priority=1),
            Column("Node", priority=1),
            Column("Nominated Node", priority=1),
            Column("Readiness Gates", priority=1),
        ),
        _pod_cells,
    )

    def default(self, obj: JSON, old: JSON | None, now: float) -> None:
        spec = obj.setdefault("spec", {})
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("securityContext", {})
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        for container in spec.get("containers") or []:
            default_container(container)
        if old is None:
            obj.setdefault("status", {"phase": "Pending", "qosClass": "BestEffort"})

    def validate(self, obj: JSON, old: JSON | None) -> list[FieldError]:
        containers = get_path(obj, ("spec", "containers"))
        if not containers:
            return [errors.required("spec.containers", "")]
        problems = []
        for index, container in enumerate(containers):
            if not container.get("name"):
                problems.append(errors.required(f"spec.containers[{index}].name", ""))
            if not container.get("image"):
                problems.append(errors.required(f"spec.containers[{index}].image", ""))
        return problems

    def spec_changed(self, obj: JSON, old: JSON) -> bool:
        return False


def default_container(container: JSON) -> None:
    """Container defaults (terminationMessage*, imagePullPolicy by tag)."""
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    image = str(container.get("image", ""))
    tag = image.rsplit("/", 1)[-1]
    latest = "@" not in image and (":" not in tag or tag.endswith(":latest"))
    container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    container.setdefault("resources", {})


def _event_cells(obj: JSON, now: float) -> list[Any]:
    involved = obj.get("involvedObject") or {}
    last = obj.get("lastTimestamp") or obj.get("eventTime") or obj["metadata"].get("creationTimestamp")
    first = obj.get("firstTimestamp") or obj.get("eventTime") or obj["metadata"].get("creationTimestamp")
    source = obj.get("source") or {}
    source_text = source.get("component", "") + (", " + source["host"] if source.get("host") else "")
    return [
        age(last, now),
        obj.get("type", ""),
        obj.get("reason", ""),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        involved.get("fieldPath", ""),
        source_text or obj.get("reportingComponent", ""),
        str(obj.get("message", "")).strip(),
        age(first, now),
        int(obj.get("count") or 1),
        obj["metadata"]["name"],
    ]


_EVENT_PRINTER = Printer(
    (
        Column("Last Seen"),
        Column("Type"),
        Column("Reason"),
        Column("Object"),
        Column("Subobject", priority=1),
        Column("Source", priority=1),
        Column("Message"),
        Column("First Seen", priority=1),
        Column("Count", type="integer", priority=1),
        Column("Name", priority=1),
    ),
    _event_cells,
)
_INVOLVED = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")


class EventStrategy(Strategy):
    """core/v1 Events (the storage form of both Event APIs)."""

    field_labels = frozenset(
        {f"involvedObject.{k}" for k in _INVOLVED} | {"reason", "reportingComponent", "source", "type"}
    )
    printer = _EVENT_PRINTER

    def field_value(self, obj: JSON, label: str) -> str | None:
        if label == "source":
            return str(get_path(obj, ("source", "component")) or "")
        return super().field_value(obj, label)


_NEW_TO_OLD = {"regarding": "involvedObject", "related": "related", "note": "message", "type": "type"}


def _events_v1_to_core(obj: JSON) -> JSON:
    """An events.k8s.io/v1 Event in the core/v1 form (`regarding` → `involvedObject`, `note` → `message`)."""
    out: JSON = {"apiVersion": "v1", "kind": "Event", "metadata": obj.get("metadata", {})}
    for new, old in _NEW_TO_OLD.items():
        if new in obj:
            out[old] = obj[new]
    for key in ("reason", "action", "eventTime", "reportingController", "reportingInstance", "series"):
        if key in obj:
            out[{"reportingController": "reportingComponent"}.get(key, key)] = obj[key]
    if "deprecatedSource" in obj:
        out["source"] = obj["deprecatedSource"]
    for key, old in (("deprecatedFirstTimestamp", "firstTimestamp"), ("deprecatedLastTimestamp", "lastTimestamp")):
        if key in obj:
            out[old] = obj[key]
    if "deprecatedCount" in obj:
        out["count"] = obj["deprecatedCount"]
    return out


def _events_v1_cells(obj: JSON, now: float) -> list[Any]:
    # kube-apiserver prints both Event APIs from the same internal type: the core columns, filled from
    # `regarding` and `note` once converted.
    return _event_cells(_events_v1_to_core(obj), now)


class EventsV1Strategy(EventStrategy):
    """events.k8s.io/v1 Events, converted to and from the core/v1 storage form."""

    field_labels = EventStrategy.field_labels | {f"regarding.{k}" for k in _INVOLVED}
    printer = Printer(_EVENT_PRINTER.columns, _events_v1_cells)

    def field_value(self, obj: JSON, label: str) -> str | None:
        if label.startswith("regarding."):
            label = "involvedObject." + label.split(".", 1)[1]
        return super().field_value(obj, label)

    def to_storage(self, obj: JSON, rt: ResourceType) -> JSON:
        return _events_v1_to_core(obj)

    def from_storage(self, obj: JSON, rt: ResourceType) -> JSON:
        out: JSON = {"apiVersion": rt.api_version, "kind": "Event", "metadata": obj.get("metadata", {})}
        for new, old in _NEW_TO_OLD.items():
            if old in obj:
                out[new] = obj[old]
        for key in ("reason", "action", "eventTime", "series"):
            if key in obj:
                out[key] = obj[key]
        if "reportingComponent" in obj:
            out["reportingController"] = obj["reportingComponent"]
        if "reportingInstance" in obj:
            out["reportingInstance"] = obj["reportingInstance"]
        if "source" in obj:
            out["deprecatedSource"] = obj["source"]
        for key, old in (("deprecatedFirstTimestamp", "firstTimestamp"), ("deprecatedLastTimestamp", "lastTimestamp")):
            if obj.get(old):
                out[key] = obj[old]
        if "count" in obj:
            out["deprecatedCount"] = obj["count"]
        return out

    def schema(self, rt: ResourceType) -> Any:
        return None


class LeaseStrategy(Strategy):
    """coordination.k8s.io/v1 Leases."""

    printer = simple(
        (Column("Holder"), AGE), lambda o, now: [get_path(o, ("spec", "holderIdentity")) or "", created(o, now)]
    )


class RbacStrategy(Strategy):
    """RBAC objects: stored, never enforced; names may be any path segment (`system:controller:x`)."""

    name_rule = "segment"
    printer = DEFAULT


def _binding_cells(obj: JSON, now: float) -> list[Any]:
    subjects = obj.get("subjects") or []
    ref = obj.get("roleRef") or {}

    def names(kind: str) -> str:
        found = [
            (f"{s.get('namespace')}/{s.get('name')}" if kind == "ServiceAccount" else str(s.get("name")))
            for s in subjects
            if s.get("kind") == kind
        ]
        return ", ".join(found)

    return [
        obj["metadata"]["name"],
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        created(obj, now),
        names("User"),
        names("Group"),
        names("ServiceAccount"),
    ]


class RoleBindingStrategy(RbacStrategy):
    """RoleBindings and ClusterRoleBindings."""

    printer = Printer(
        (
            Column("Name", format="name"),
            Column("Role"),
            AGE,
            Column("Users", priority=1),
            Column("Groups", priority=1),
            Column("ServiceAccounts", priority=1),
        ),
        _binding_cells,
    )


class ReviewStrategy(Strategy):
    """SelfSubjectAccessReview and friends: created, answered `allowed`, never stored."""

    name_rule = "none"
    printer = NAME_AGE

    def schema(self, rt: ResourceType) -> Any:
        return None
