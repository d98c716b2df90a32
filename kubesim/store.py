"""Storage: objects by resource, one cluster-wide resourceVersion, a bounded event history per resource.

This is kubesim's etcd plus watch cache. It stores committed objects (never mutated afterwards), stamps
`metadata.resourceVersion` from one monotonically increasing counter, keeps the last `history_size`
events of each resource (older resourceVersions are compacted: watching from them answers 410), and fans
events out to watchers and controller listeners. It knows no API semantics (defaulting, validation,
preconditions, finalizers): `kubesim.api` does those, then commits here. Single-threaded: it is only
touched from the simulator's event loop.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubesim.meta import JSON, dumps

StorageKey = tuple[str, str]  # (group, plural) of the stored resource


class EventType(enum.StrEnum):
    """Watch event types."""

    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    BOOKMARK = "BOOKMARK"
    ERROR = "ERROR"


@dataclass(slots=True)
class Event:
    """One committed change. `old` is the previous state (for selector transitions); encodings are cached."""

    type: EventType
    obj: JSON
    old: JSON | None
    rv: int
    encoded: dict[Any, bytes] = field(default_factory=dict)

    def line(self, key: Any, obj: JSON | None = None) -> bytes:
        """The watch line for this event, encoded once per view `key` and shared by every watcher."""
        data = self.encoded.get(key)
        if data is None:
            data = dumps({"type": self.type.value, "object": self.obj if obj is None else obj}) + b"\n"
            self.encoded[key] = data
        return data


class Watcher(Protocol):
    """Anything that receives the events of one resource."""

    def offer(self, event: Event) -> None:
        """Take one event (must not block)."""

    def close(self) -> None:
        """End the watch (server side)."""


class Bucket:
    """The objects of one resource, its event history and its watchers."""

    def __init__(self, key: StorageKey, history_size: int, floor: int) -> None:
        self.key = key
        self.by_ns: dict[str, dict[str, JSON]] = {}
        self.history: deque[Event] = deque()
        self.history_size = history_size
        # Every event with rv > floor is still in `history`; a watch from an older rv gets 410.
        self.floor = floor
        self.watchers: set[Watcher] = set()
        self._sorted: dict[str | None, list[tuple[str, str]]] = {}

    def get(self, namespace: str, name: str) -> JSON | None:
        """The stored object, or None."""
        names = self.by_ns.get(namespace)
        return None if names is None else names.get(name)

    def count(self) -> int:
        """How many objects are stored."""
        return sum(len(v) for v in self.by_ns.values())

    def keys(self, namespace: str | None) -> list[tuple[str, str]]:
        """(namespace, name) keys in etcd order, for one namespace or all."""
        cached = self._sorted.get(namespace)
        if cached is None:
            if namespace is None:
                cached = sorted((ns, n) for ns, names in self.by_ns.items() for n in names)
            else:
                cached = sorted((namespace, n) for n in self.by_ns.get(namespace, {}))
            self._sorted[namespace] = cached
        return cached

    def objects(self, namespace: str | None) -> Iterator[JSON]:
        """Objects in etcd order."""
        for ns, name in self.keys(namespace):
            yield self.by_ns[ns][name]

    def _set(self, namespace: str, name: str, obj: JSON) -> None:
        names = self.by_ns.setdefault(namespace, {})
        if name not in names:
            self._sorted.clear()
        names[name] = obj

    def _pop(self, namespace: str, name: str) -> None:
        names = self.by_ns.get(namespace)
        if names is not None and names.pop(name, None) is not None:
            self._sorted.clear()
            if not names:
                del self.by_ns[namespace]

    def record(self, event: Event) -> None:
        """Append to the history, compacting the oldest event when full, and fan out."""
        self.history.append(event)
        while len(self.history) > self.history_size:
            self.floor = self.history.popleft().rv
        for watcher in list(self.watchers):
            watcher.offer(event)

    def events_after(self, rv: int) -> list[Event] | None:
        """Events with resourceVersion > rv, or None when rv is older than the history (410)."""
        if rv < self.floor:
            return None
        if not self.history or self.history[-1].rv <= rv:
            return []
        if self.history[0].rv > rv:
            return list(self.history)
        out = [e for e in reversed(self.history) if e.rv > rv]
        out.reverse()
        return out


Listener = Callable[[StorageKey, Event], None]


class Store:
    """All buckets, the resourceVersion counter and the uid index."""

    def __init__(self, history_size: int = 10_000) -> None:
        self.rv = 1
        self.history_size = history_size
        self.buckets: dict[StorageKey, Bucket] = {}
        self.by_uid: dict[str, tuple[StorageKey, str, str]] = {}
        self.listeners: list[Listener] = []
        self.compacted = 0  # resourceVersion of the last global compaction

    def bucket(self, key: StorageKey) -> Bucket:
        """The bucket of a resource, created empty on first use."""
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = Bucket(key, self.history_size, self.compacted)
        return bucket

    def get(self, key: StorageKey, namespace: str, name: str) -> JSON | None:
        """A stored object, or None."""
        bucket = self.buckets.get(key)
        return None if bucket is None else bucket.get(namespace, name)

    def by_uid_get(self, uid: str) -> tuple[StorageKey, JSON] | None:
        """The stored object with this uid, with its storage key."""
        ref = self.by_uid.get(uid)
        if ref is None:
            return None
        obj = self.get(ref[0], ref[1], ref[2])
        return None if obj is None else (ref[0], obj)

    def _stamp(self, obj: JSON) -> int:
        self.rv += 1
        meta = obj["metadata"]
        meta["resourceVersion"] = str(self.rv)
        return self.rv

    def put(self, key: StorageKey, obj: JSON, old: JSON | None) -> JSON:
        """Commit a created (`old` None) or updated object; `obj` becomes owned by the store."""
        rv = self._stamp(obj)
        meta = obj["metadata"]
        namespace = meta.get("namespace", "")
        bucket = self.bucket(key)
        bucket._set(namespace, meta["name"], obj)
        uid = meta.get("uid")
        if uid:
            self.by_uid[uid] = (key, namespace, meta["name"])
        self._emit(bucket, Event(EventType.ADDED if old is None else EventType.MODIFIED, obj, old, rv))
        return obj

    def remove(self, key: StorageKey, obj: JSON) -> JSON:
        """Delete a stored object; the DELETED event carries the deletion's resourceVersion."""
        gone = dict(obj)
        gone["metadata"] = dict(obj["metadata"])
        rv = self._stamp(gone)
        meta = gone["metadata"]
        bucket = self.bucket(key)
        bucket._pop(meta.get("namespace", ""), meta["name"])
        self.by_uid.pop(meta.get("uid", ""), None)
        self._emit(bucket, Event(EventType.DELETED, gone, obj, rv))
        return gone

    def _emit(self, bucket: Bucket, event: Event) -> None:
        bucket.record(event)
        for listener in self.listeners:
            listener(bucket.key, event)

    def compact(self) -> int:
        """Forget every event of every resource: a watch from any older resourceVersion now gets 410."""
        for bucket in self.buckets.values():
            bucket.history.clear()
            bucket.floor = self.rv
        self.compacted = self.rv
        return self.rv

    def drop(self, key: StorageKey) -> None:
        """Forget a whole resource (its watchers are closed by the caller)."""
        self.buckets.pop(key, None)
