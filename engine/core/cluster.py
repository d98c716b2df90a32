"""The boundary the executor writes through: one protocol, two implementations.

`engine.kube.cluster.HttpCluster` talks to a real API server; `engine.testing` keeps objects in memory.
Errors are reported as `engine.errors.ApiError` (status code, reason, message, retry-after) so the
executor can map them to outcomes without knowing which implementation it talks to.
"""

from __future__ import annotations

from typing import Protocol

from engine.model import JSON, Obj, ObjectRef, PatchType, Propagation


class Cluster(Protocol):
    """Writes (and the rare read) the executor needs. Every method raises `ApiError` on failure."""

    async def create(self, obj: Obj) -> Obj:
        """Create `obj` (its namespace and name or generateName are in its metadata); return the stored object."""
        ...

    async def patch(self, ref: ObjectRef, patch: JSON, patch_type: PatchType, subresource: str = "") -> Obj:
        """Patch the object (or its subresource) and return the stored object."""
        ...

    async def delete(self, ref: ObjectRef, propagation: Propagation) -> None:
        """Delete the object; `ref.uid`, when set, is a precondition. NotFound raises `ApiError` (404)."""
        ...

    async def read(self, ref: ObjectRef) -> Obj | None:
        """Read one object from the server (not a cache); None when it does not exist."""
        ...
