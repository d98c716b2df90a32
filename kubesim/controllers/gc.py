"""The garbage collector: dependents follow their owners, by ownerReference uid.

Background: when an owner is gone, dependents whose owners are all gone are deleted (a dependent with
a surviving owner only loses the dangling reference). Foreground: an owner marked with the
`foregroundDeletion` finalizer has its dependents deleted first, and loses the finalizer once no
dependent with `blockOwnerDeletion` remains. Orphan: the `orphan` finalizer strips the references
from the dependents, then goes. Dependents created with an owner uid that does not exist are deleted.
"""

from __future__ import annotations

from kubesim.api import Propagation
from kubesim.controllers.base import Base
from kubesim.meta import JSON, deep_copy
from kubesim.resources import ResourceType
from kubesim.runtime import Runtime
from kubesim.store import Event, EventType, StorageKey

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
Ref = tuple[StorageKey, str, str]


class GarbageCollector(Base):
    """Owner graph by uid, kept from store events."""

    component = "garbage-collector"
    manager = "kube-controller-manager"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.dependents: dict[str, set[Ref]] = {}

    def start(self) -> None:
        """Subscribe to every store event."""
        self.runtime.store.listeners.append(self.on_event)

    def _type(self, key: StorageKey) -> ResourceType | None:
        return self.runtime.registry.preferred_for_storage(key)

    def on_event(self, key: StorageKey, event: Event) -> None:
        """Maintain the graph and react to deletions."""
        _obj, meta = event.obj, event.obj["metadata"]
        ref: Ref = (key, meta.get("namespace", ""), meta["name"])
        old_owners = {str(r.get("uid")) for r in ((event.old or {}).get("metadata", {}).get("ownerReferences") or [])}
        owners = {str(r.get("uid")) for r in meta.get("ownerReferences") or []}
        if event.type is EventType.DELETED:
            owners = set()
        for uid in old_owners - owners:
            self.dependents.get(uid, set()).discard(ref)
        for uid in owners - old_owners:
            self.dependents.setdefault(uid, set()).add(ref)
        scheduler = self.runtime.scheduler
        uid = str(meta.get("uid", ""))
        if event.type is EventType.DELETED:
            if uid in self.dependents:
                scheduler.soon(lambda: self._owner_gone(uid))
            for owner in old_owners:
                scheduler.soon(lambda owner=owner: self._check_foreground(owner))  # type: ignore[misc]
            return
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp") and FOREGROUND in finalizers:
            scheduler.soon(lambda: self._foreground(key, ref[1], ref[2]))
        if meta.get("deletionTimestamp") and ORPHAN in finalizers:
            scheduler.soon(lambda: self._orphan(key, ref[1], ref[2]))
        if owners - old_owners:
            scheduler.soon(lambda: self._check_dangling(ref))

    def _get(self, ref: Ref) -> JSON | None:
        return self.runtime.store.get(*ref)

    def _owner_exists(self, owner: JSON) -> bool:
        found = self.runtime.store.by_uid_get(str(owner.get("uid")))
        return found is not None and found[1]["metadata"]["name"] == owner.get("name")

    def _owner_gone(self, uid: str) -> None:
        for ref in list(self.dependents.get(uid, ())):
            obj = self._get(ref)
            if obj is None:
                continue
            owners = obj["metadata"].get("ownerReferences") or []
            alive = [o for o in owners if str(o.get("uid")) != uid and self._owner_exists(o)]
            rt = self._type(ref[0])
            if rt is None:
                continue
            if alive:
                updated = deep_copy(obj)
                updated["metadata"]["ownerReferences"] = [o for o in owners if str(o.get("uid")) != uid]
                self.update(rt, updated)
            elif not obj["metadata"].get("deletionTimestamp"):
                self.delete(rt, ref[1], ref[2], Propagation.BACKGROUND)

    def _check_dangling(self, ref: Ref) -> None:
        obj = self._get(ref)
        if obj is None:
            return
        owners = obj["metadata"].get("ownerReferences") or []
        if owners and not any(self._owner_exists(o) for o in owners):
            rt = self._type(ref[0])
            if rt is not None and not obj["metadata"].get("deletionTimestamp"):
                self.delete(rt, ref[1], ref[2], Propagation.BACKGROUND)

    def _foreground(self, key: StorageKey, namespace: str, name: str) -> None:
        owner = self.runtime.store.get(key, namespace, name)
        if owner is None:
            return
        uid = owner["metadata"]["uid"]
        for ref in list(self.dependents.get(uid, ())):
            obj = self._get(ref)
            rt = self._type(ref[0])
            if obj is not None and rt is not None and not obj["metadata"].get("deletionTimestamp"):
                self.delete(rt, ref[1], ref[2], Propagation.FOREGROUND)
        self._check_foreground(uid)

    def _check_foreground(self, uid: str) -> None:
        found = self.runtime.store.by_uid_get(uid)
        if found is None:
            return
        key, owner = found
        if FOREGROUND not in (owner["metadata"].get("finalizers") or []):
            return
        for ref in self.dependents.get(uid, ()):
            obj = self._get(ref)
            if obj is None:
                continue
            for owner_ref in obj["metadata"].get("ownerReferences") or []:
                if str(owner_ref.get("uid")) == uid and owner_ref.get("blockOwnerDeletion"):
                    return
        rt = self._type(key)
        if rt is not None:
            self.remove_finalizer(rt, owner, FOREGROUND)

    def _orphan(self, key: StorageKey, namespace: str, name: str) -> None:
        owner = self.runtime.store.get(key, namespace, name)
        if owner is None:
            return
        uid = owner["metadata"]["uid"]
        for ref in list(self.dependents.get(uid, ())):
            obj = self._get(ref)
            rt = self._type(ref[0])
            if obj is None or rt is None:
                continue
            updated = deep_copy(obj)
            updated["metadata"]["ownerReferences"] = [
                o for o in obj["metadata"].get("ownerReferences") or [] if str(o.get("uid")) != uid
            ]
            if not updated["metadata"]["ownerReferences"]:
                del updated["metadata"]["ownerReferences"]
            self.update(rt, updated)
        owner_rt = self._type(key)
        if owner_rt is not None:
            self.remove_finalizer(owner_rt, owner, ORPHAN)
