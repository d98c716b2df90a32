"""The read side of a snapshot: cached objects by kind, namespace and name.

The operator backs it with its informer caches (engine.kube), fixtures with the in-memory cluster
(engine.testing). Objects returned are shared and must never be mutated.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from engine.expr import field_names
from engine.model import GVK, Obj


class ObjectStore(Protocol):
    """Read-only access to cached objects."""

    def get(self, gvk: GVK, namespace: str, name: str) -> Obj | None:
        """The object, or None. `namespace` is "" for cluster-scoped kinds."""
        ...

    def list(self, gvk: GVK, namespace: str | None = None) -> Iterable[Obj]:
        """Objects of a kind, in one namespace or (None) in all."""
        ...

    def select(self, gvk: GVK, namespace: str | None, field: str, value: object) -> Iterable[Obj]:
        """Objects of a kind whose field (a dotted path: `spec.owner`) equals `value`, from an index when the
        store keeps one (an informer cache builds it on first use and maintains it)."""
        ...


def field_value(obj: Obj, field: str) -> object:
    """The value at a dotted path (None when a step is missing): what `select` compares. A name in double quotes
    may hold dots and slashes: `metadata.labels."app.kubernetes.io/name"`."""
    node: object = obj
    for part in field_names(field):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node
