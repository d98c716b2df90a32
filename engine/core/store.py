"""The read side of a snapshot: cached objects by kind, namespace and name.

The operator backs it with its informer caches (engine.kube), fixtures with the in-memory cluster
(engine.testing). Objects returned are shared and must never be mutated.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from engine.model import GVK, Obj


class ObjectStore(Protocol):
    """Read-only access to cached objects."""

    def get(self, gvk: GVK, namespace: str, name: str) -> Obj | None:
        """The object, or None. `namespace` is "" for cluster-scoped kinds."""
        ...

    def list(self, gvk: GVK, namespace: str | None = None) -> Iterable[Obj]:
        """Objects of a kind, in one namespace or (None) in all."""
        ...
