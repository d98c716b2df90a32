"""An in-memory cluster: the `Cluster` and `ObjectStore` the fixture runner executes decisions against.

Where this sits: `arcane rules test` evaluates rules over this store and applies their decisions to it, so
multi-step fixtures see the effects of earlier steps (created Jobs exist, status was written, owned objects
were garbage-collected). It keeps the API conventions that rules can observe: uid, resourceVersion,
generation (spec changes only), creationTimestamp from the fixture's clock, generateName, status written
only through the status subresource, 409 AlreadyExists / 404 NotFound / 409 Conflict on a failed uid
precondition, merge and JSON patches, and background garbage collection by ownerReferences. It learns
CRDs (stored as objects, or handed to `learn`): their scope (a cluster-scoped object loses its namespace)
and their structural schema, with which it prunes and defaults custom resources on every write, as the
API server does (engine.testing.structural). Every write is journalled, so a fixture step can see the
Events it recorded.

It is not an API server (no HTTP, no watches, no validation of values): kubesim is, for end-to-end tests.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonpatch

from engine.core.build import fresh
from engine.core.plan import merge_patch
from engine.core.store import field_value
from engine.errors import ApiError
from engine.model import GVK, JSON, Obj, ObjectRef, PatchType, Propagation
from engine.testing.structural import admit, crd_kinds

CLUSTER_SCOPED_BUILTINS = frozenset(
    {
        GVK("", "v1", "Namespace"),
        GVK("", "v1", "Node"),
        GVK("", "v1", "PersistentVolume"),
        GVK("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
        GVK("rbac.authorization.k8s.io", "v1", "ClusterRole"),
        GVK("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"),
        GVK("storage.k8s.io", "v1", "StorageClass"),
    }
)
CRD = GVK("apiextensions.k8s.io", "v1", "CustomResourceDefinition")

Key = tuple[GVK, str, str]


@dataclass(frozen=True, slots=True)
class Write:
    """One change in the journal: the verb (create, update, patch, patch-status, delete; garbage collection
    included) and the object after it (before it, for a delete)."""

    verb: str
    obj: Obj


class MemoryCluster:
    """Objects by kind, namespace and name; writes are synchronous and immediately visible."""

    def __init__(self, now: Callable[[], str], seed: str = "fixture") -> None:
        self.now = now
        self.seed = seed
        self.objects: dict[Key, dict[str, Any]] = {}
        self.revision = 0
        self.writes: list[tuple[str, str]] = []
        self.journal: list[Write] = []
        self._counter = itertools.count(1)
        self._cluster_scoped: set[GVK] = set(CLUSTER_SCOPED_BUILTINS)
        self._schemas: dict[GVK, Mapping[str, Any]] = {}

    # --- scope and schemas ----------------------------------------------------------------------------------

    def namespaced(self, gvk: GVK) -> bool:
        return gvk not in self._cluster_scoped

    def learn(self, crd: Obj) -> None:
        """Take in a CRD's scope and schemas without storing it (fixtures' `crds`)."""
        for declared in crd_kinds(crd):
            if declared.namespaced:
                self._cluster_scoped.discard(declared.gvk)
            else:
                self._cluster_scoped.add(declared.gvk)
            if declared.schema is not None:
                self._schemas[declared.gvk] = declared.schema

    def _learn_scope(self, obj: Obj) -> None:
        if GVK.of_object(obj) == CRD:
            self.learn(obj)

    def _admit(self, obj: dict[str, Any]) -> dict[str, Any]:
        """What the API server does to every written object: scope, then pruning and defaulting (CRDs only).
        `obj` may share parts with stored objects, so it is copied before anything inside it changes."""
        gvk = GVK.of_object(obj)
        schema = self._schemas.get(gvk)
        if schema is not None:
            obj = fresh(obj)
            admit(obj, schema)
        meta = dict(obj.get("metadata") or {})
        if not self.namespaced(gvk):
            meta.pop("namespace", None)
        return {**obj, "metadata": meta}

    def _key(self, gvk: GVK, namespace: str, name: str) -> Key:
        return (gvk, namespace if self.namespaced(gvk) else "", name)

    # --- ObjectStore ----------------------------------------------------------------------------------------

    def get(self, gvk: GVK, namespace: str, name: str) -> Obj | None:
        return self.objects.get(self._key(gvk, namespace, name))

    def list(self, gvk: GVK, namespace: str | None = None) -> Iterable[Obj]:
        scoped = namespace is not None and self.namespaced(gvk)
        return [obj for (kind, ns, _), obj in self.objects.items() if kind == gvk and (not scoped or ns == namespace)]

    def select(self, gvk: GVK, namespace: str | None, field: str, value: object) -> Iterable[Obj]:
        """As `list`, keeping objects whose field equals `value` (a scan: fixtures are small)."""
        return [obj for obj in self.list(gvk, namespace) if field_value(obj, field) == value]

    # --- direct world changes (fixture steps) ----------------------------------------------------------------

    def put(self, obj: Obj, *, keep_status: bool = False) -> dict[str, Any]:
        """Create or replace an object as a user would; returns the stored object. Its status is taken as given,
        or, with `keep_status` and no status given, kept from the object it replaces (as `kubectl apply`)."""
        stored = self._admit(fresh(dict(obj)))
        self._learn_scope(stored)
        gvk = GVK.of_object(stored)
        meta = stored["metadata"]
        key = self._key(gvk, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        old = self.objects.get(key)
        if keep_status and old is not None and "status" not in stored and "status" in old:
            stored["status"] = old["status"]
        self._stamp(stored, old, spec_changed=old is None or old.get("spec") != stored.get("spec"))
        self.objects[key] = stored
        self._record("create" if old is None else "update", stored)
        return stored

    def merge(self, ref: ObjectRef, patch: JSON) -> dict[str, Any]:
        """Merge-patch an object as another actor would, status included; raises ApiError 404 when absent."""
        key = self._key(ref.gvk, ref.namespace, ref.name)
        current = self.objects.get(key)
        if current is None:
            raise ApiError(404, "NotFound", f'{ref.kind.lower()}s "{ref.name}" not found')
        updated: dict[str, Any] = merge_patch(current, patch)
        updated["metadata"] = {**updated.get("metadata", {}), **_identity(current)}
        updated = self._admit(updated)
        self._stamp(updated, current, spec_changed=updated.get("spec") != current.get("spec"))
        self.objects[key] = updated
        self._record("patch", updated)
        return updated

    def remove(self, gvk: GVK, namespace: str, name: str) -> bool:
        """Delete as a user would (garbage collection included); False when there was nothing to delete."""
        key = self._key(gvk, namespace, name)
        if key not in self.objects:
            return False
        self._delete(key)
        return True

    # --- Cluster ----------------------------------------------------------------------------------------------

    async def create(self, obj: Obj) -> Obj:
        stored: dict[str, Any] = fresh(dict(obj))
        meta = stored.setdefault("metadata", {})
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                raise ApiError(422, "Invalid", "metadata.name: Required value: name or generateName is required")
            meta["name"] = prefix + self._suffix(prefix)
        gvk = GVK.of_object(stored)
        key = self._key(gvk, str(meta.get("namespace") or ""), meta["name"])
        if key in self.objects:
            raise ApiError(409, "AlreadyExists", f'{gvk.kind.lower()}s "{meta["name"]}" already exists')
        stored = self._admit(stored)
        self._learn_scope(stored)
        self._stamp(stored, None, spec_changed=True)
        self.objects[key] = stored
        self._record("create", stored)
        return stored

    async def patch(self, ref: ObjectRef, patch: JSON, patch_type: PatchType, subresource: str = "") -> Obj:
        key = self._key(ref.gvk, ref.namespace, ref.name)
        current = self.objects.get(key)
        if current is None:
            raise ApiError(404, "NotFound", f'{ref.kind.lower()}s "{ref.name}" not found')
        if patch_type is PatchType.JSON:
            try:
                patched = jsonpatch.apply_patch(current, patch)
            except jsonpatch.JsonPatchTestFailed as error:
                raise ApiError(
                    422, "Invalid", f"the server rejected our request due to an error in our request: {error}"
                ) from None
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
                raise ApiError(422, "Invalid", str(error)) from None
        else:
            patched = merge_patch(current, patch)
        # Stored objects are never changed in place, so the new one shares every untouched part with the old.
        if subresource == "status":
            updated = dict(current)
            updated["status"] = patched.get("status")
            if updated["status"] is None:
                updated.pop("status")
        else:
            updated = dict(patched)
            if "status" in current:
                updated["status"] = current["status"]
            else:
                updated.pop("status", None)
        updated["metadata"] = {**updated.get("metadata", {}), **_identity(current)}
        updated = self._admit(updated)
        self._stamp(updated, current, spec_changed=updated.get("spec") != current.get("spec"))
        self.objects[key] = updated
        self._record("patch-status" if subresource == "status" else "patch", updated)
        return updated

    async def delete(self, ref: ObjectRef, propagation: Propagation) -> None:
        key = self._key(ref.gvk, ref.namespace, ref.name)
        current = self.objects.get(key)
        if current is None:
            raise ApiError(404, "NotFound", f'{ref.kind.lower()}s "{ref.name}" not found')
        if ref.uid and current["metadata"].get("uid") != ref.uid:
            raise ApiError(
                409,
                "Conflict",
                f"Precondition failed: UID in precondition: {ref.uid}, UID in object meta: {current['metadata'].get('uid')}",
            )
        self._delete(key, orphan=propagation is Propagation.ORPHAN)

    async def read(self, ref: ObjectRef) -> Obj | None:
        found = self.get_sync(ref)
        return fresh(found) if found is not None else None

    def get_sync(self, ref: ObjectRef) -> Obj | None:
        return self.objects.get(self._key(ref.gvk, ref.namespace, ref.name))

    # --- internals ----------------------------------------------------------------------------------------------

    def _record(self, verb: str, obj: Obj) -> None:
        self.writes.append((verb, _ref_text(obj)))
        self.journal.append(Write(verb, obj))

    def _stamp(self, obj: dict[str, Any], old: Obj | None, *, spec_changed: bool) -> None:
        self.revision += 1
        meta = obj.setdefault("metadata", {})
        if old is None:
            meta.setdefault("uid", self._uid(obj))
            meta.setdefault("creationTimestamp", self.now())
            meta.setdefault("generation", 1)
        else:
            meta.update(_identity(old))
            generation = int((old.get("metadata") or {}).get("generation") or 1)
            meta["generation"] = generation + 1 if spec_changed else generation
        meta["resourceVersion"] = str(self.revision)

    def _uid(self, obj: Obj) -> str:
        meta = obj.get("metadata") or {}
        digest = hashlib.sha256(
            f"{self.seed}/{obj.get('kind')}/{meta.get('namespace')}/{meta.get('name')}/{next(self._counter)}".encode()
        )
        text = digest.hexdigest()
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:32]}"

    def _suffix(self, prefix: str) -> str:
        alphabet = "bcdfghjklmnpqrstvwxz2456789"
        digest = hashlib.sha256(f"{self.seed}/{prefix}/{next(self._counter)}".encode()).digest()
        return "".join(alphabet[b % len(alphabet)] for b in digest[:5])

    def _delete(self, key: Key, orphan: bool = False) -> None:
        removed = self.objects.pop(key, None)
        if removed is None:
            return
        self._record("delete", removed)
        uid = removed["metadata"].get("uid")
        alive = {obj["metadata"].get("uid") for obj in self.objects.values()}
        for other_key, other in list(self.objects.items()):
            refs = (other.get("metadata") or {}).get("ownerReferences") or []
            if not any(isinstance(r, dict) and r.get("uid") == uid for r in refs):
                continue
            remaining = [r for r in refs if isinstance(r, dict) and r.get("uid") != uid]
            if orphan or any(r.get("uid") in alive for r in remaining):
                kept = {**other, "metadata": {**other["metadata"], "ownerReferences": remaining}}
                self._stamp(kept, other, spec_changed=False)
                self.objects[other_key] = kept
                self._record("update", kept)
            elif other_key in self.objects:
                self._delete(other_key)  # every owner is gone: background garbage collection


def _identity(obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    return {k: meta[k] for k in ("uid", "creationTimestamp", "name", "namespace") if k in meta}


def _ref_text(obj: Obj) -> str:
    return str(ObjectRef.of_object(obj))
