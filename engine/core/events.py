"""Kubernetes Events for decisions, with repeats aggregated into a count (as client-go's recorder does).

Where this sits: the executor hands every `EmitEvent` here. The first occurrence creates a core/v1 Event
named `<object>.<hex time>` with `involvedObject`; a repeat of the same (object, type, reason, message)
patches `count` and `lastTimestamp` of that Event instead of creating another. Failures are logged and
swallowed: an event is never worth failing a decision for.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from engine.core.cluster import Cluster
from engine.errors import ApiError
from engine.model import EmitEvent, ObjectRef, PatchType

log = logging.getLogger("engine.events")

MEMORY = 4096
"""How many distinct events are remembered for aggregation (client-go's bound). An entry is a 64-bit digest of
(object, type, reason, message) and two ints: the time the Event was named after and its count. Measured under
tracemalloc (4,096 entries): 165 bytes an entry, 0.65 MiB when full, where a 16-byte digest and the Event's
namespace and name strings took 339 bytes (1.33 MiB)."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    def __init__(self, cluster: Cluster, component: str, now: Callable[[], str] | None = None) -> None:
        self.cluster = cluster
        self.component = component
        self.now = now or _now
        self._seen: dict[int, tuple[int, int]] = {}
        """digest of (object, type, reason, message) -> (the `time_ns()` its Event's name ends with, its count),
        oldest first. The Event's namespace and name follow from the object and that time."""

    async def emit(self, event: EmitEvent) -> None:
        involved = event.involved
        identity = "\0".join((involved.uid or str(involved), event.type.value, event.reason, event.message))
        key = int.from_bytes(hashlib.blake2b(identity.encode(), digest_size=8).digest())
        stamp = self.now()
        namespace = involved.namespace or "default"
        previous = self._seen.get(key)
        if previous is not None:
            named, count = previous
            ref = ObjectRef("v1", "Event", namespace, f"{involved.name}.{named:x}")
            try:
                await self.cluster.patch(ref, {"count": count + 1, "lastTimestamp": stamp}, PatchType.MERGE)
            except ApiError as error:
                if error.status != 404:
                    log.warning("could not update event %s: %s", ref, error)
                    return
            else:
                self._remember(key, named, count + 1)
                return
        named = time.time_ns()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{involved.name}.{named:x}", "namespace": namespace},
            "involvedObject": {
                "apiVersion": involved.api_version,
                "kind": involved.kind,
                "name": involved.name,
                "namespace": involved.namespace,
                "uid": involved.uid,
            },
            "type": event.type.value,
            "reason": event.reason,
            "message": event.message,
            "source": {"component": self.component},
            "reportingComponent": self.component,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            await self.cluster.create(body)
        except ApiError as error:
            log.warning("could not record event %s on %s: %s", event.reason, involved, error)
            return
        self._remember(key, named, 1)

    def _remember(self, key: int, named: int, count: int) -> None:
        """Remember as the newest entry; forget the oldest past MEMORY. Finding the oldest walks past the slots freed
        since the dict last rebuilt its table: at the bound a new event took 10.9 µs here against 7.2 µs with an
        OrderedDict (50,000 events, fake cluster), before the write it makes."""
        seen = self._seen
        seen.pop(key, None)  # a plain dict's order is insertion order: re-inserted, the entry is the newest
        seen[key] = (named, count)
        while len(seen) > MEMORY:
            del seen[next(iter(seen))]
