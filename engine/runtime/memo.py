"""No write loops on pruned status: remember what the server made of our last status write.

Where this sits: the reactor wraps its cluster in `RecordingCluster`, which records, for every status patch,
the patch sent and the status the server answered. A CRD schema may prune fields we write (a plugin's
condition without `reason`, say); the cache then never equals what the rules want, and a naive writer
would patch again on every evaluation. Before executing a status patch the reactor asks `already_applied`:
the same patch was sent before and the object's status is still what the server answered then, so
sending it again cannot change anything.

Only writes the server did not take whole are remembered: when the answer shows every field of the patch, the
cache will too and the rules will not ask again, so an entry would be memory spent on nothing (10,000 streams
each written once would otherwise keep 10,000 entries, which showed as RSS growth in the churn soak).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import orjson

from engine.core.cluster import Cluster
from engine.model import GVK, JSON, Obj, ObjectRef, PatchObject, PatchType, Propagation

MEMORY = 50_000


def _digest(value: object) -> bytes:
    return hashlib.blake2b(orjson.dumps(value, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()


def _comparable(patch: JSON, status: object) -> JSON:
    """`patch` without the `lastTransitionTime` of the conditions whose stored form has none (the CRD prunes it).
    The planner keeps a condition's time from the stored condition, so where there is none it takes the clock's,
    and the patch differs from the last one every second while the server keeps answering the same status."""
    stored = status.get("conditions") if isinstance(status, dict) else None
    ours = patch.get("status") if isinstance(patch, dict) else None
    if not isinstance(ours, dict) or not isinstance(stored, list):
        return patch
    conditions = ours.get("conditions")
    if not isinstance(conditions, list):
        return patch
    timeless = {c.get("type") for c in stored if isinstance(c, dict) and "lastTransitionTime" not in c}
    if not timeless:
        return patch
    kept = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"}
        if isinstance(c, dict) and c.get("type") in timeless
        else c
        for c in conditions
    ]
    return {**patch, "status": {**ours, "conditions": kept}}


def _shows(stored: object, patch: object) -> bool:
    """Whether `stored` is what applying the JSON merge patch `patch` leaves (for the fields the patch names)."""
    if not isinstance(patch, dict):
        return stored == patch
    if not isinstance(stored, dict):
        return False
    for key, value in patch.items():
        if value is None:
            if key in stored:
                return False
        elif key not in stored or not _shows(stored[key], value):
            return False
    return True


class StatusMemo:
    def __init__(self) -> None:
        self._last: OrderedDict[tuple[str, str, str, str], tuple[bytes, bytes]] = OrderedDict()

    @staticmethod
    def _key(ref: ObjectRef) -> tuple[str, str, str, str]:
        return (ref.api_version, ref.kind, ref.namespace, ref.name)

    def __len__(self) -> int:
        return len(self._last)

    def record(self, ref: ObjectRef, patch: JSON, stored: Obj) -> None:
        key = self._key(ref)
        status = stored.get("status")
        if isinstance(patch, dict) and _shows(status, patch.get("status")):
            self._last.pop(key, None)  # taken whole: nothing to remember (and an older entry is out of date)
            return
        self._last[key] = (_digest(_comparable(patch, status)), _digest(status))
        self._last.move_to_end(key)
        while len(self._last) > MEMORY:
            self._last.popitem(last=False)

    def forget(self, gvk: GVK, namespace: str, name: str) -> None:
        """The object is gone: its last write no longer matters (and its name may never come back)."""
        self._last.pop((gvk.api_version, gvk.kind, namespace, name), None)

    def already_applied(self, action: PatchObject, current: Obj) -> bool:
        last = self._last.get(self._key(action.ref))
        if last is None:
            return False
        status = current.get("status")
        return last == (_digest(_comparable(action.patch, status)), _digest(status))


class RecordingCluster:
    """A `Cluster` that records the server's answers to status patches in a `StatusMemo`."""

    def __init__(self, inner: Cluster, memo: StatusMemo) -> None:
        self.inner = inner
        self.memo = memo

    async def create(self, obj: Obj) -> Obj:
        return await self.inner.create(obj)

    async def patch(self, ref: ObjectRef, patch: JSON, patch_type: PatchType, subresource: str = "") -> Obj:
        stored = await self.inner.patch(ref, patch, patch_type, subresource)
        if subresource == "status":
            self.memo.record(ref, patch, stored)
        return stored

    async def delete(self, ref: ObjectRef, propagation: Propagation) -> None:
        await self.inner.delete(ref, propagation)

    async def read(self, ref: ObjectRef) -> Obj | None:
        return await self.inner.read(ref)
