"""The CRD lifecycle: serve a CRD's kinds as soon as it is stored, delete its CRs when it goes.

Registration happens synchronously inside the store commit, so the request right after a CRD create
(kubectl applying a CRD and its CR from one file) already finds the new kind, as with a real server
whose CRD is Established. Deleting a CRD deletes its custom resources (their finalizers respected),
then drops the `customresourcecleanup` finalizer, then stops serving the kind. Always on.
"""

from __future__ import annotations

from kubesim.api import DeleteOptions, WriteOptions
from kubesim.errors import ApiError
from kubesim.kinds.crd import CLEANUP_FINALIZER, CRD_GROUP, types_for_crd
from kubesim.meta import JSON, deep_copy
from kubesim.runtime import Runtime
from kubesim.store import Event, EventType, StorageKey

CRDS: StorageKey = (CRD_GROUP, "customresourcedefinitions")


class CrdController:
    """Keeps the registry in step with stored CRDs."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._served: dict[str, list[tuple[str, str, str]]] = {}
        self._cleaning: set[str] = set()

    def start(self) -> None:
        """Subscribe to store events."""
        self.runtime.store.listeners.append(self.on_event)

    def on_event(self, key: StorageKey, event: Event) -> None:
        """React to CRD changes (and to CR deletions while a CRD is being cleaned up)."""
        if key == CRDS:
            crd = event.obj
            name = crd["metadata"]["name"]
            if event.type is EventType.DELETED:
                self._unregister(name)
            else:
                self._register(crd)
                if crd["metadata"].get("deletionTimestamp"):
                    self.runtime.scheduler.soon(lambda: self._cleanup(name))
        elif event.type is EventType.DELETED and self._cleaning:
            for name in list(self._cleaning):
                self.runtime.scheduler.soon(lambda name=name: self._cleanup(name))  # type: ignore[misc]

    def _register(self, crd: JSON) -> None:
        registry = self.runtime.registry
        name = crd["metadata"]["name"]
        try:
            types = types_for_crd(crd)
        except (KeyError, TypeError):
            return
        wanted = {(rt.group, rt.version, rt.plural) for rt in types}
        for group, version, plural in self._served.get(name, []):
            if (group, version, plural) not in wanted:
                registry.remove(group, version, plural)
        for rt in types:
            registry.add(rt)
        self._served[name] = sorted(wanted)

    def _unregister(self, name: str) -> None:
        runtime = self.runtime
        for group, version, plural in self._served.pop(name, []):
            runtime.registry.remove(group, version, plural)
            bucket = runtime.store.buckets.get((group, plural))
            if bucket is not None:
                for watcher in list(bucket.watchers):
                    watcher.close()
            runtime.store.drop((group, plural))
        self._cleaning.discard(name)

    def _cleanup(self, name: str) -> None:
        runtime = self.runtime
        crd = runtime.store.get(CRDS, "", name)
        if crd is None:
            self._cleaning.discard(name)
            return
        self._cleaning.add(name)
        group = crd["spec"]["group"]
        plural = crd["spec"]["names"]["plural"]
        rt = runtime.registry.preferred_for_storage((group, plural))
        bucket = runtime.store.buckets.get((group, plural))
        remaining = list(bucket.objects(None)) if bucket is not None else []
        if rt is not None:
            for obj in remaining:
                meta = obj["metadata"]
                if meta.get("deletionTimestamp"):
                    continue
                try:
                    runtime.api.delete(rt, meta.get("namespace", ""), meta["name"], DeleteOptions(), WriteOptions())
                except ApiError:
                    continue
        bucket = runtime.store.buckets.get((group, plural))
        if bucket is not None and bucket.count():
            return
        finalizers = [f for f in crd["metadata"].get("finalizers") or [] if f != CLEANUP_FINALIZER]
        crd_rt = runtime.registry.by_kind(CRD_GROUP, "v1", "CustomResourceDefinition")
        if crd_rt is None:
            return
        updated = deep_copy(crd)
        updated["metadata"]["finalizers"] = finalizers
        self._cleaning.discard(name)
        runtime.api.update(crd_rt, "", name, updated, WriteOptions(field_manager="apiextensions-apiserver"))

    def stop(self) -> None:
        """Nothing to cancel."""
