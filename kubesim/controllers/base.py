"""Helpers shared by the controllers: typed access to resources, status writes, owner references, Events.

Controllers write through `kubesim.api` with their own field manager, exactly like clients, so every
change shows in watches, the event history and managedFields. Events are core/v1 Events as the
controllers of a real cluster record them (`kubectl describe` lists them).
"""

from __future__ import annotations

import secrets
from typing import Any

from kubesim.api import DeleteOptions, Propagation, WriteOptions
from kubesim.errors import ApiError
from kubesim.meta import JSON, deep_copy, rfc3339
from kubesim.resources import ResourceType
from kubesim.runtime import Runtime, log


class Base:
    """Access to the runtime for one controller (its field manager and Event source)."""

    manager = "kube-controller-manager"
    component = "kubesim"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def stop(self) -> None:
        """Nothing to cancel by default."""

    def rt(self, group: str, kind: str, version: str = "v1") -> ResourceType:
        """A built-in resource type."""
        rt = self.runtime.registry.by_kind(group, version, kind)
        assert rt is not None, kind
        return rt

    def opts(self, subresource: str = "") -> WriteOptions:
        """Write options of this controller."""
        return WriteOptions(field_manager=self.manager, subresource=subresource)

    def write_status(self, rt: ResourceType, obj: JSON, status: JSON) -> JSON | None:
        """Replace an object's status through the status subresource; None when it is gone or changed."""
        if obj.get("status") == status:
            return obj
        updated = dict(obj)
        updated["status"] = status
        try:
            meta = obj["metadata"]
            return self.runtime.api.update(
                rt, meta.get("namespace", ""), meta["name"], updated, self.opts("status")
            ).obj
        except ApiError as error:
            if error.code not in (404, 409):
                log.warning("kubesim %s: status write failed: %s", self.component, error)
            return None

    def update(self, rt: ResourceType, obj: JSON) -> JSON | None:
        """Replace an object (optimistic concurrency); None when it is gone or changed."""
        meta = obj["metadata"]
        try:
            return self.runtime.api.update(rt, meta.get("namespace", ""), meta["name"], obj, self.opts()).obj
        except ApiError as error:
            if error.code not in (404, 409):
                log.warning("kubesim %s: update failed: %s", self.component, error)
            return None

    def delete(self, rt: ResourceType, namespace: str, name: str, propagation: Propagation) -> None:
        """Delete an object, ignoring 404."""
        try:
            self.runtime.api.delete(rt, namespace, name, DeleteOptions(propagation), self.opts())
        except ApiError as error:
            if error.code != 404:
                log.warning("kubesim %s: delete failed: %s", self.component, error)

    def remove_finalizer(self, rt: ResourceType, obj: JSON, finalizer: str) -> JSON | None:
        """Drop one finalizer from an object."""
        finalizers = obj["metadata"].get("finalizers") or []
        if finalizer not in finalizers:
            return obj
        updated = deep_copy(obj)
        updated["metadata"]["finalizers"] = [f for f in finalizers if f != finalizer]
        return self.update(rt, updated)

    def event(self, obj: JSON, kind: str, reason: str, message: str, warning: bool = False) -> None:
        """Record a core/v1 Event about `obj`."""
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        now = rfc3339(self.runtime.clock.now())
        event: JSON = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": namespace},
            "involvedObject": {
                "kind": kind,
                "namespace": meta.get("namespace", ""),
                "name": meta["name"],
                "uid": meta.get("uid", ""),
                "apiVersion": obj.get("apiVersion", ""),
                "resourceVersion": meta.get("resourceVersion", ""),
            },
            "reason": reason,
            "message": message,
            "source": {"component": self.component},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": "Warning" if warning else "Normal",
            "reportingComponent": self.component,
            "reportingInstance": "",
        }
        try:
            self.runtime.api.create(self.rt("", "Event"), namespace, event, self.opts())
        except ApiError as error:
            log.debug("kubesim %s: event not recorded: %s", self.component, error)


def owner_ref(obj: JSON, controller: bool = True) -> JSON:
    """An ownerReference to `obj` (controller, blocking owner deletion)."""
    meta = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def controller_uid(obj: JSON) -> str | None:
    """The uid of the controlling owner, if any."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def condition(kind: str, reason: str, message: str, now: float, status: str = "True") -> JSON:
    """A Job-style condition."""
    stamp = rfc3339(now)
    return {
        "type": kind,
        "status": status,
        "lastProbeTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def has_condition(obj: JSON, kind: str) -> bool:
    """Whether a condition is True."""
    conditions: Any = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)
