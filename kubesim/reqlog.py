"""The request log: one record per HTTP request kubesim answered, for tests and benchmarks to assert on.

Records carry the Kubernetes view of the request (verb, group, resource, namespace, name), its
outcome (status, duration) and the fault injected into it, if any. Appended on the simulator's loop,
read from any thread (a lock guards the bounded deque). Nothing here changes how requests are served.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class RequestRecord:
    """One request as served."""

    timestamp: float
    method: str
    verb: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    status: int = 0
    duration: float = 0.0
    user_agent: str = ""
    fault: str = ""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


class RequestLog:
    """A bounded, thread-safe list of `RequestRecord`s, oldest first."""

    def __init__(self, maxlen: int = 100_000) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def append(self, record: RequestRecord) -> None:
        """Add a record (the simulator does this)."""
        with self._lock:
            self._records.append(record)

    def records(self) -> list[RequestRecord]:
        """A snapshot of every record."""
        with self._lock:
            return list(self._records)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.records())

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._records.clear()

    def filter(
        self,
        *,
        verb: str | None = None,
        resource: str | None = None,
        group: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        status: int | None = None,
        faulted: bool | None = None,
    ) -> list[RequestRecord]:
        """Records matching every given criterion."""
        out = []
        for record in self.records():
            if verb is not None and record.verb != verb:
                continue
            if resource is not None and record.resource != resource:
                continue
            if group is not None and record.group != group:
                continue
            if namespace is not None and record.namespace != namespace:
                continue
            if name is not None and record.name != name:
                continue
            if status is not None and record.status != status:
                continue
            if faulted is not None and bool(record.fault) != faulted:
                continue
            out.append(record)
        return out

    def verbs(self) -> set[tuple[str, str, str]]:
        """Every (group, resource[/subresource], verb) used by a resource request: RBAC coverage checks."""
        out: set[tuple[str, str, str]] = set()
        for record in self.records():
            if record.resource:
                resource = f"{record.resource}/{record.subresource}" if record.subresource else record.resource
                out.add((record.group, resource, record.verb))
        return out
