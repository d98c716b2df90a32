"""Expectations: after its own writes, the runtime does not act on a cache older than those writes.

Where this sits: the reactor records what each decision wrote (engine.core.execute.Written) against the key
it evaluated; informer events mark writes as seen; before evaluating a key the reactor asks whether that
key still waits for one of its writes. A create, patch or status write is seen when the watch delivers the
resourceVersion the server answered (or the object goes away); a delete is seen when the object is gone or
terminating. A write not seen within `timeout` seconds is given up on (a relist can skip an event), so a
key never waits for ever. This is kube-controller-manager's "expectations" and kopf's consistency wait:
without it a stale cache after our own create makes the next evaluation create again.

The timeout does not run out while the watch that would show the write is down (`behind(kind)`: it is
listing, or backing off after a failed connection): that cache cannot show the write yet, and the watch
resumes from its last resourceVersion, so the event is still coming. Giving up then let keys act on caches
without their own writes (objects created a second time, steps taken again) after an API server restart
whose watches took longer than the timeout to come back. Such a write is given another `timeout` each time
its deadline finds the watch down; the event, when the watch delivers it, releases the key at once.

The watch event of a write often arrives before the write's response does, so a write is also seen when,
at the time it is registered, the cache already holds that version or a later one. "Later" compares
resourceVersions as integers when both are decimal (as every etcd-backed API server writes them), and
only equality otherwise: resourceVersions are opaque in general.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from engine.core.execute import Written
from engine.model import GVK, Obj, ObjectKey

Identity = tuple[GVK, str, str]
Lookup = Callable[[GVK, str, str], Obj | None]
Behind = Callable[[GVK], bool]
"""Whether the watch of a kind is down now, so its cache can lag the server without bound."""


@dataclass(slots=True, eq=False)
class _Expected:
    """One write awaited. Compared by identity: the lists below hold each item once, and finding it there
    must not compare every field (a generated __eq__ ran as Python code per element)."""

    owner: ObjectKey
    identity: Identity
    resource_version: str
    delete: bool
    deadline: float


class Expectations:
    def __init__(self, clock: Callable[[], float], timeout: float = 10.0, behind: Behind | None = None) -> None:
        self._clock = clock
        self.timeout = timeout
        self._behind = behind
        self._by_owner: defaultdict[ObjectKey, list[_Expected]] = defaultdict(list)
        self._by_identity: defaultdict[Identity, list[_Expected]] = defaultdict(list)

    def __len__(self) -> int:
        return sum(len(items) for items in self._by_owner.values())

    def expect(self, owner: ObjectKey, written: tuple[Written, ...], current: Lookup) -> None:
        """Remember the writes a decision for `owner` made (those the cache already shows are seen)."""
        deadline = self._clock() + self.timeout
        for write in written:
            ref = write.ref
            identity = (ref.gvk, ref.namespace, ref.name)
            if write.verb != "delete" and not write.resource_version:
                continue
            item = _Expected(owner, identity, write.resource_version, write.verb == "delete", deadline)
            if _seen(item, current(*identity)):
                continue
            self._by_owner[owner].append(item)
            self._by_identity[identity].append(item)

    def observe(self, gvk: GVK, namespace: str, name: str, obj: Obj | None) -> list[ObjectKey]:
        """A watch event for an object (None: deleted). Returns owners whose last expectation was just met."""
        items = self._by_identity.get((gvk, namespace, name))
        if not items:
            return []
        met = [item for item in items if obj is None or _seen(item, obj)]
        released = []
        for item in met:
            self._drop(item)
            if not self._by_owner.get(item.owner):
                released.append(item.owner)
        return released

    def waiting(self, owner: ObjectKey) -> float:
        """Seconds `owner` should still wait for its writes to be seen (0: evaluate now)."""
        items = self._by_owner.get(owner)
        if not items:
            return 0.0
        now = self._clock()
        for item in [item for item in items if item.deadline <= now]:
            if self._behind is not None and self._behind(item.identity[0]):
                item.deadline = now + self.timeout  # its event is still coming: see the module docstring
            else:
                self._drop(item)
        remaining = self._by_owner.get(owner)
        return max((item.deadline - now for item in remaining), default=0.0) if remaining else 0.0

    def forget(self, owner: ObjectKey) -> None:
        for item in list(self._by_owner.get(owner, ())):
            self._drop(item)

    def _drop(self, item: _Expected) -> None:
        owned = self._by_owner.get(item.owner)
        if owned is not None and item in owned:
            owned.remove(item)
            if not owned:
                del self._by_owner[item.owner]
        same = self._by_identity.get(item.identity)
        if same is not None and item in same:
            same.remove(item)
            if not same:
                del self._by_identity[item.identity]


def _seen(item: _Expected, obj: Obj | None) -> bool:
    """Whether the cached `obj` (None: not in the cache) shows the write `item` expects."""
    if obj is None:
        return item.delete
    meta = obj.get("metadata") or {}
    if item.delete:
        return bool(meta.get("deletionTimestamp"))
    version = str(meta.get("resourceVersion") or "")
    if version == item.resource_version:
        return True
    if version.isdecimal() and item.resource_version.isdecimal():
        return int(version) > int(item.resource_version)
    return False
