"""CustomResourceDefinitions and the custom resources they define.

`CrdStrategy` validates and defaults CRDs and sets their status synchronously (NamesAccepted and
Established, acceptedNames, storedVersions), so a CR applied right after its CRD is served at once.
`types_for_crd` turns a CRD into one `ResourceType` per served version, each with a
`CustomResourceStrategy` (structural pruning, defaulting and validation, status and scale
subresources, printer columns, selectable fields). Registering those types when CRDs change, and
deleting CRs with their CRD, is `kubesim.controllers.crds`'s work.
"""

from __future__ import annotations

import re
from typing import Any

from kubesim import errors, schemas, structural
from kubesim.errors import FieldError
from kubesim.meta import JSON, dumps, get_path, rfc3339
from kubesim.resources import ResourceType, Strategy, Subresource
from kubesim.schemas import Schema
from kubesim.tables import DEFAULT, crd_printer

CRD_GROUP = "apiextensions.k8s.io"
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(name: str) -> tuple[int, int, int, str]:
    """Kubernetes version ordering: GA > beta > alpha, higher numbers first (sort ascending on this key)."""
    match = _VERSION.match(name)
    if match is None:
        return (3, 0, 0, name)
    major, stage, minor = int(match.group(1)), match.group(2), int(match.group(3) or 0)
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -major, -minor, name)


def _condition(kind: str, reason: str, message: str, now: float, old: list[JSON]) -> JSON:
    previous = next((c for c in old if c.get("type") == kind and c.get("status") == "True"), None)
    stamp = previous["lastTransitionTime"] if previous else rfc3339(now)
    return {"type": kind, "status": "True", "lastTransitionTime": stamp, "reason": reason, "message": message}


class CrdStrategy(Strategy):
    """apiextensions.k8s.io/v1 CustomResourceDefinition."""

    has_generation = True
    status_subresource = True
    printer = DEFAULT

    def default(self, obj: JSON, old: JSON | None, now: float) -> None:
        spec = obj.setdefault("spec", {})
        names = spec.setdefault("names", {})
        if isinstance(names, dict) and names.get("kind"):
            names.setdefault("singular", str(names["kind"]).lower())
            names.setdefault("listKind", f"{names['kind']}List")
        spec.setdefault("conversion", {"strategy": "None"})
        if old is not None:
            self._set_status(obj, now, old.get("status") or {})

    def on_create(self, obj: JSON, now: float) -> None:
        meta = obj["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if CLEANUP_FINALIZER not in finalizers:
            finalizers.append(CLEANUP_FINALIZER)
        meta["finalizers"] = finalizers
        self._set_status(obj, now, {})

    @staticmethod
    def _set_status(obj: JSON, now: float, old_status: JSON) -> None:
        spec = obj.get("spec") or {}
        old_conditions = list(old_status.get("conditions") or [])
        stored = list(old_status.get("storedVersions") or [])
        for version in spec.get("versions") or []:
            if isinstance(version, dict) and version.get("storage") and version.get("name") not in stored:
                stored.append(version["name"])
        conditions = [
            _condition("NamesAccepted", "NoConflicts", "no conflicts found", now, old_conditions),
            _condition(
                "Established", "InitialNamesAccepted", "the initial names have been accepted", now, old_conditions
            ),
        ]
        if obj["metadata"].get("deletionTimestamp"):
            conditions.append(
                {
                    "type": "Terminating",
                    "status": "True",
                    "lastTransitionTime": rfc3339(now),
                    "reason": "InstanceDeletionInProgress",
                    "message": "CustomResource deletion is in progress",
                }
            )
        obj["status"] = {"acceptedNames": dict(spec.get("names") or {}), "conditions": conditions}
        obj["status"]["storedVersions"] = stored

    def validate(self, obj: JSON, old: JSON | None) -> list[FieldError]:
        spec = obj.get("spec") or {}
        problems: list[FieldError] = []
        group = spec.get("group")
        names = spec.get("names") or {}
        if not group:
            problems.append(errors.required("spec.group", ""))
        elif "." not in str(group):
            problems.append(errors.invalid("spec.group", group, "should be a domain with at least one dot"))
        for key in ("plural", "kind"):
            if not names.get(key):
                problems.append(errors.required(f"spec.names.{key}", ""))
        if group and names.get("plural") and obj["metadata"]["name"] != f"{names['plural']}.{group}":
            problems.append(
                errors.invalid("metadata.name", obj["metadata"]["name"], 'must be spec.names.plural+"."+spec.group')
            )
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            problems.append(errors.not_supported("spec.scope", spec.get("scope"), ["Cluster", "Namespaced"]))
        versions = spec.get("versions") or []
        if not versions:
            problems.append(
                errors.invalid("spec.versions", versions, "must have exactly one version marked as storage version")
            )
        elif sum(1 for v in versions if isinstance(v, dict) and v.get("storage")) != 1:
            problems.append(
                errors.invalid(
                    "spec.versions",
                    errors.Raw("[]apiextensions.CustomResourceDefinitionVersion{...}"),
                    "must have exactly one version marked as storage version",
                )
            )
        for index, version in enumerate(versions):
            if isinstance(version, dict) and not get_path(version, ("schema", "openAPIV3Schema")):
                problems.append(
                    errors.required(f"spec.versions[{index}].schema.openAPIV3Schema", "schemas are required")
                )
        if old is not None and (old.get("spec") or {}).get("scope") != spec.get("scope"):
            problems.append(errors.invalid("spec.scope", spec.get("scope"), "field is immutable"))
        return problems


def _jsonpath_to_field(path: str) -> str:
    return path.lstrip(".")


class CustomResourceStrategy(Strategy):
    """A custom resource at one served version of its CRD."""

    has_generation = True
    return_deleted_object = True
    requires_type_meta = True
    strategic_merge_patch = False

    def __init__(self, crd: JSON, version: JSON, trusted_after: int | None = None) -> None:
        self.crd_name = crd["metadata"]["name"]
        # Objects stored after this resourceVersion were pruned, defaulted and validated by this very
        # schema (None: not known, or versions with different schemas): their unchanged parts are skipped.
        self.trusted_after = trusted_after
        self.version = str(version["name"])
        self.raw_schema: JSON = get_path(version, ("schema", "openAPIV3Schema")) or {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
        }
        subresources = version.get("subresources") or {}
        self.status_subresource = "status" in subresources
        self.scale: JSON | None = subresources.get("scale")
        self.printer = crd_printer(version.get("additionalPrinterColumns") or [])
        self.selectable = {
            _jsonpath_to_field(str(f.get("jsonPath", ""))) for f in version.get("selectableFields") or []
        }
        self.field_labels = frozenset(self.selectable)
        self._schema = Schema(self.raw_schema)

    def schema(self, rt: ResourceType) -> Schema | None:
        return self._schema

    def _trusted(self, old: JSON | None) -> Any:
        """`old` when its unchanged parts need no second walk, else `structural.NO_OLD`."""
        if old is None or self.trusted_after is None:
            return structural.NO_OLD
        try:
            written = int(old["metadata"]["resourceVersion"])
        except (KeyError, TypeError, ValueError):
            return structural.NO_OLD
        return old if written > self.trusted_after else structural.NO_OLD

    def prune(self, obj: JSON, rt: ResourceType, old: JSON | None = None) -> list[str]:
        unknown = list(structural.prune(obj, self.raw_schema, old=self._trusted(old)))
        meta = obj.get("metadata")
        if isinstance(meta, dict):
            unknown += schemas.prune(meta, schemas.object_meta(), "metadata", old.get("metadata") if old else None)
        return unknown

    def default(self, obj: JSON, old: JSON | None, now: float) -> None:
        structural.default(obj, self.raw_schema, self._trusted(old))

    def validate(self, obj: JSON, old: JSON | None) -> list[FieldError]:
        return structural.validate(obj, self.raw_schema, old=self._trusted(old))

    def spec_changed(self, obj: JSON, old: JSON) -> bool:
        skip = ("metadata", "status") if self.status_subresource else ("metadata",)
        return {k: v for k, v in obj.items() if k not in skip} != {k: v for k, v in old.items() if k not in skip}

    def field_value(self, obj: JSON, label: str) -> str | None:
        value = get_path(obj, tuple(label.split(".")))
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dict | list):
            return dumps(value).decode()
        return str(value)


def types_for_crd(crd: JSON) -> list[ResourceType]:
    """One ResourceType per served version of a CRD."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = str(spec.get("group", ""))
    served = [v for v in spec.get("versions") or [] if isinstance(v, dict) and v.get("served", True)]
    ordered = sorted(served, key=lambda v: version_priority(str(v.get("name", ""))))
    every = [get_path(v, ("schema", "openAPIV3Schema")) for v in spec.get("versions") or [] if isinstance(v, dict)]
    written = str(crd["metadata"].get("resourceVersion") or "")
    one_schema = all(s == every[0] for s in every)
    trusted_after = int(written) if written.isdigit() and one_schema else None
    out: list[ResourceType] = []
    for index, version in enumerate(ordered):
        strategy = CustomResourceStrategy(crd, version, trusted_after)
        subresources: list[Subresource] = []
        if strategy.status_subresource:
            subresources.append(Subresource("status", str(names["kind"]), ("get", "patch", "update")))
        if strategy.scale is not None:
            subresources.append(Subresource("scale", "Scale", ("get", "patch", "update"), "autoscaling", "v1"))
        out.append(
            ResourceType(
                group=group,
                version=str(version["name"]),
                kind=str(names["kind"]),
                plural=str(names["plural"]),
                singular=str(names.get("singular") or str(names["kind"]).lower()),
                namespaced=spec.get("scope") == "Namespaced",
                strategy=strategy,
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=tuple(subresources),
                preferred=index == 0,
                extra={"storage": bool(version.get("storage")), "crd": crd["metadata"]["name"]},
            )
        )
    return out


def scale_of(obj: JSON, scale: JSON, rt: ResourceType) -> JSON:
    """The autoscaling/v1 Scale view of a custom resource."""

    def at(path: Any) -> Any:
        return get_path(obj, tuple(str(path or "").lstrip(".").split("."))) if path else None

    meta = obj["metadata"]
    out: JSON = {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta
        },
        "spec": {"replicas": at(scale.get("specReplicasPath")) or 0},
        "status": {"replicas": at(scale.get("statusReplicasPath")) or 0},
    }
    selector = at(scale.get("labelSelectorPath"))
    if selector:
        out["status"]["selector"] = selector
    return out
