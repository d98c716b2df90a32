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
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

from engine.core.cluster import Cluster
from engine.errors import ApiError
from engine.model import EmitEvent, ObjectRef, PatchType

log = logging.getLogger("engine.events")

MEMORY = 4096
"""How many distinct events are remembered for aggregation (client-go's bound). An entry is a 16-byte digest of
(object, type, reason, message) and the Event's name: about 300 bytes by count of its objects, about 1.2 MiB
when full, where whole keys and object references took about four times as much (estimated the same way)."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    def __init__(self, cluster: Cluster, component: str, now: Callable[[], str] | None = None) -> None:
        self.cluster = cluster
        self.component = component
        self.now = now or _now
        self._seen: OrderedDict[bytes, tuple[str, str, int]] = OrderedDict()
        """digest of (object, type, reason, message) -> (namespace, name, count) of the Event recorded for it."""

    async def emit(self, event: EmitEvent) -> None:
        involved = event.involved
        identity = "\0".join((involved.uid or str(involved), event.type.value, event.reason, event.message))
        key = hashlib.blake2b(identity.encode(), digest_size=16).digest()
        stamp = self.now()
        namespace = involved.namespace or "default"
        previous = self._seen.get(key)
        if previous is not None:
            namespace, name, count = previous
            ref = ObjectRef("v1", "Event", namespace, name)
            try:
                await self.cluster.patch(ref, {"count": count + 1, "lastTimestamp": stamp}, PatchType.MERGE)
            except ApiError as error:
                if error.status != 404:
                    log.warning("could not update event %s: %s", ref, error)
                    return
            else:
                self._remember(key, namespace, name, count + 1)
                return
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{involved.name}.{time.time_ns():x}", "namespace": namespace},
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
            stored = await self.cluster.create(body)
        except ApiError as error:
            log.warning("could not record event %s on %s: %s", event.reason, involved, error)
            return
        meta = stored.get("metadata") or {}
        self._remember(key, str(meta.get("namespace") or namespace), str(meta.get("name") or ""), 1)

    def _remember(self, key: bytes, namespace: str, name: str, count: int) -> None:
        self._seen[key] = (namespace, name, count)
        self._seen.move_to_end(key)
        while len(self._seen) > MEMORY:
            self._seen.popitem(last=False)
