"""Validation of object metadata, common to every kind (names, labels, annotations, finalizers, owners).

Kind-specific validation lives with each kind (`kubesim.kinds`) and CRD schemas in
`kubesim.structural`. Messages follow apimachinery's `ValidateObjectMeta`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubesim import errors
from kubesim.errors import FieldError
from kubesim.meta import (
    JSON,
    dns1123_label_error,
    dns1123_subdomain_error,
    is_dns1123_label,
    is_dns1123_subdomain,
    label_key_error,
    label_value_error,
)

if TYPE_CHECKING:
    from kubesim.resources import ResourceType

_MAX_ANNOTATIONS = 256 * 1024


def _name_errors(rule: str, name: str, field: str) -> list[FieldError]:
    if rule == "label" and not is_dns1123_label(name):
        return [errors.invalid(field, name, dns1123_label_error(name))]
    if rule == "subdomain" and not is_dns1123_subdomain(name):
        return [errors.invalid(field, name, dns1123_subdomain_error(name))]
    if rule == "segment":
        for bad in (".", ".."):
            if name == bad:
                return [errors.invalid(field, name, f"may not be '{bad}'")]
        for bad in ("/", "%"):
            if bad in name:
                return [errors.invalid(field, name, f"may not contain '{bad}'")]
    return []


def validate_metadata(rt: ResourceType, obj: JSON, old: JSON | None) -> list[FieldError]:
    """Problems with `metadata`, worded as the API server does."""
    meta: Any = obj.get("metadata")
    problems: list[FieldError] = []
    name = str(meta.get("name", ""))
    if old is None:
        problems += _name_errors(rt.strategy.name_rule, name, "metadata.name")
    labels = meta.get("labels")
    if labels is not None:
        if not isinstance(labels, dict):
            problems.append(errors.invalid("metadata.labels", labels, "must be a map of strings"))
        else:
            for key, value in labels.items():
                if (why := label_key_error(key)) is not None:
                    problems.append(errors.invalid("metadata.labels", key, why))
                if not isinstance(value, str):
                    problems.append(errors.invalid(f"metadata.labels.{key}", value, "must be a string"))
                elif (why := label_value_error(value)) is not None:
                    problems.append(errors.invalid("metadata.labels", value, why))
    annotations = meta.get("annotations")
    if annotations is not None:
        if not isinstance(annotations, dict):
            problems.append(errors.invalid("metadata.annotations", annotations, "must be a map of strings"))
        else:
            total = 0
            for key, value in annotations.items():
                if (why := label_key_error(key.lower())) is not None:
                    problems.append(errors.invalid("metadata.annotations", key, why))
                if not isinstance(value, str):
                    problems.append(errors.invalid(f"metadata.annotations.{key}", value, "must be a string"))
                else:
                    total += len(key) + len(value)
            if total > _MAX_ANNOTATIONS:
                problems.append(
                    FieldError(
                        errors.CauseType.TOO_LONG, "metadata.annotations", f"must have at most {_MAX_ANNOTATIONS} bytes"
                    )
                )
    finalizers = meta.get("finalizers")
    if finalizers is not None:
        if not isinstance(finalizers, list):
            problems.append(errors.invalid("metadata.finalizers", finalizers, "must be a list"))
        else:
            for index, finalizer in enumerate(finalizers):
                if not isinstance(finalizer, str) or label_key_error(finalizer) is not None:
                    problems.append(
                        errors.invalid(
                            f"metadata.finalizers[{index}]",
                            finalizer,
                            "name part must consist of alphanumeric characters",
                        )
                    )
    owners = meta.get("ownerReferences")
    if owners is not None:
        problems += _owner_errors(owners)
    return problems


def _owner_errors(owners: Any) -> list[FieldError]:
    if not isinstance(owners, list):
        return [errors.invalid("metadata.ownerReferences", owners, "must be a list")]
    problems: list[FieldError] = []
    controllers = 0
    for index, ref in enumerate(owners):
        field = f"metadata.ownerReferences[{index}]"
        if not isinstance(ref, dict):
            problems.append(errors.invalid(field, ref, "must be an object"))
            continue
        for key in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(key):
                label = {"apiVersion": "apiVersion", "kind": "kind", "name": "name", "uid": "uid"}[key]
                problems.append(errors.invalid(f"{field}.{label}", ref.get(key, ""), f"{label} must not be empty"))
        if ref.get("controller"):
            controllers += 1
    if controllers > 1:
        names = [str(r.get("name")) for r in owners if isinstance(r, dict) and r.get("controller")]
        problems.append(
            errors.invalid(
                "metadata.ownerReferences",
                owners,
                'Only one reference can have Controller set to true. Found "true" in references for '
                + " and ".join(names),
            )
        )
    return problems
