"""The namespace controller: a Terminating namespace loses its contents, then its `kubernetes` finalizer.

While a namespace is Terminating, creates in it answer 403 (`kubesim.api`). This controller deletes
every namespaced object in it (finalizers respected) and, once nothing is left, finalizes the
namespace (spec.finalizers emptied through `/finalize`), which removes it.
"""

from __future__ import annotations

from kubesim.api import Propagation
from kubesim.controllers.base import Base
from kubesim.meta import deep_copy
from kubesim.runtime import Runtime
from kubesim.store import Event, EventType, StorageKey

NAMESPACES: StorageKey = ("", "namespaces")


class NamespaceController(Base):
    """Empties and finalizes Terminating namespaces."""

    component = "namespace-controller"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.terminating: set[str] = set()

    def start(self) -> None:
        """Subscribe to store events."""
        self.runtime.store.listeners.append(self.on_event)

    def on_event(self, key: StorageKey, event: Event) -> None:
        """Start on a Terminating namespace; re-check when something in it goes."""
        meta = event.obj["metadata"]
        if key == NAMESPACES:
            if event.type is EventType.DELETED:
                self.terminating.discard(meta["name"])
            elif meta.get("deletionTimestamp"):
                name = meta["name"]
                self.terminating.add(name)
                self.runtime.scheduler.soon(lambda: self.sync(name))
        elif event.type is EventType.DELETED and meta.get("namespace") in self.terminating:
            namespace = meta["namespace"]
            self.runtime.scheduler.soon(lambda: self.sync(namespace))

    def sync(self, name: str) -> None:
        """Delete what remains in the namespace, or finalize it when empty."""
        runtime = self.runtime
        remaining = 0
        for key, bucket in list(runtime.store.buckets.items()):
            if key == NAMESPACES or name not in bucket.by_ns:
                continue
            rt = runtime.registry.preferred_for_storage(key)
            for obj in list(bucket.by_ns.get(name, {}).values()):
                remaining += 1
                if rt is not None and not obj["metadata"].get("deletionTimestamp"):
                    self.delete(rt, name, obj["metadata"]["name"], Propagation.BACKGROUND)
        if remaining:
            return
        namespace = runtime.store.get(NAMESPACES, "", name)
        if namespace is None or not namespace["metadata"].get("deletionTimestamp"):
            return
        if not (namespace.get("spec") or {}).get("finalizers"):
            return
        finalized = deep_copy(namespace)
        finalized["spec"]["finalizers"] = []
        meta = namespace["metadata"]
        runtime.api.update(self.rt("", "Namespace"), "", meta["name"], finalized, self.opts("finalize"))
