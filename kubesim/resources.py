"""Resource types and the registry that serves them: built-ins plus CRD-defined kinds.

A `ResourceType` is one served (group, version, resource): its names, scope, verbs, subresources and
its `Strategy`, the kind-specific hooks (defaulting, validation, status handling, field selectors,
Table printing, conversion to and from the storage version). The registry answers "what is served at
this path" and "which types share this storage". It holds no objects: `kubesim.store` does.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubesim import schemas
from kubesim.errors import FieldError
from kubesim.meta import JSON, get_path, join_api_version

if TYPE_CHECKING:
    from kubesim.schemas import Schema
    from kubesim.tables import Printer

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
NAMESPACE_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")
CREATE_ONLY = ("create",)


@dataclass(frozen=True)
class Subresource:
    """A subresource as discovery lists it."""

    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str = ""
    version: str = ""


class Strategy:
    """Kind-specific behaviour; this base is a plain stored object with no status subresource."""

    has_generation = False
    status_subresource = False
    # Fields beyond metadata.name/metadata.namespace usable in a field selector.
    field_labels: frozenset[str] = frozenset()
    # Whether the object has a schema-less body (custom kinds without schema get none).
    printer: Printer | None = None
    # `subdomain` (most kinds), `label` (namespaces) or `segment` (RBAC: any path segment).
    name_rule = "subdomain"
    # Pods and custom resources answer DELETE with the object; other kinds with a Success Status.
    return_deleted_object = False
    # batch/v1 Jobs orphan their Pods unless told otherwise (and warn about it).
    default_orphan = False
    # Custom resources must carry apiVersion/kind in the body; built-ins default them from the URL.
    requires_type_meta = False
    # Built-ins accept (and advertise) strategic merge patches; CRDs do not, so kubectl falls back to a
    # JSON merge patch for them.
    strategic_merge_patch = True

    def schema(self, rt: ResourceType) -> Schema | None:
        """The schema used for pruning, unknown-field detection, SMP and SSA."""
        return schemas.for_kind(rt.group, rt.version, rt.kind)

    def default(self, obj: JSON, old: JSON | None, now: float) -> None:
        """Fill in defaults, in place (create and update)."""

    def validate(self, obj: JSON, old: JSON | None) -> list[FieldError]:
        """Kind-specific validation; `old` is None on create."""
        return []

    def spec_changed(self, obj: JSON, old: JSON) -> bool:
        """Whether an update bumps `metadata.generation`."""
        return bool(obj.get("spec") != old.get("spec"))

    def field_value(self, obj: JSON, label: str) -> str | None:
        """The value of a supported field label (`status.phase`), as a string."""
        value = get_path(obj, tuple(label.split(".")))
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def to_storage(self, obj: JSON, rt: ResourceType) -> JSON:
        """Convert an object of this served version to the storage form (in place allowed)."""
        return obj

    def from_storage(self, obj: JSON, rt: ResourceType) -> JSON:
        """Convert a stored object to this served version; must not mutate `obj`."""
        if obj.get("apiVersion") == rt.api_version:
            return obj
        out = dict(obj)
        out["apiVersion"] = rt.api_version
        return out

    def on_create(self, obj: JSON, now: float) -> None:
        """Last changes to a new object before it is stored (status set by the server, say)."""

    def on_delete_marked(self, obj: JSON) -> None:
        """Changes when deletion is pending (finalizers hold the object): a Namespace turns Terminating."""

    def prune(self, obj: JSON, rt: ResourceType, old: JSON | None = None) -> list[str]:
        """Drop unknown fields in place (typed decoding drops them); returns their paths for fieldValidation.

        `old` is the stored object an update starts from: subtrees shared with it are already pruned.
        """
        return schemas.prune(obj, self.schema(rt), old=old)


@dataclass(frozen=True, eq=False)
class ResourceType:
    """One served resource at one group/version."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    strategy: Strategy = field(default_factory=Strategy)
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[Subresource, ...] = ()
    storage_group: str | None = None  # events.k8s.io events are stored with core events
    storage_plural: str | None = None
    preferred: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def api_version(self) -> str:
        """`batch/v1` or `v1`."""
        return join_api_version(self.group, self.version)

    @property
    def group_version(self) -> str:
        """Same as api_version (discovery calls it groupVersion)."""
        return self.api_version

    @functools.cached_property
    def storage_key(self) -> tuple[str, str]:
        """The (group, plural) under which objects are stored."""
        return (
            self.group if self.storage_group is None else self.storage_group,
            self.storage_plural or self.plural,
        )

    @property
    def list_kind(self) -> str:
        """`JobList`."""
        return self.kind + "List"

    def has_subresource(self, name: str) -> bool:
        """Whether `<plural>/<name>` is served."""
        return any(s.name == name for s in self.subresources)

    @property
    def storage_version_hash(self) -> str:
        """A stable opaque hash, as discovery reports."""
        digest = hashlib.sha256(f"{self.group}/{self.version}/{self.kind}".encode()).digest()
        return base64.b64encode(digest[:8]).decode()


class Registry:
    """Served resource types, indexed for routing and discovery."""

    def __init__(self) -> None:
        self._by_path: dict[tuple[str, str, str], ResourceType] = {}
        self._by_kind: dict[tuple[str, str, str], ResourceType] = {}
        self._order: list[ResourceType] = []
        self.generation = 0  # bumped on every change (discovery and OpenAPI caches key on it)

    def add(self, rt: ResourceType) -> None:
        """Serve a resource type (replacing any at the same group/version/plural)."""
        self.remove(rt.group, rt.version, rt.plural)
        self._by_path[(rt.group, rt.version, rt.plural)] = rt
        self._by_kind[(rt.group, rt.version, rt.kind)] = rt
        self._order.append(rt)
        self.generation += 1

    def add_all(self, types: Iterable[ResourceType]) -> None:
        """Serve several resource types."""
        for rt in types:
            self.add(rt)

    def remove(self, group: str, version: str, plural: str) -> ResourceType | None:
        """Stop serving a resource type."""
        rt = self._by_path.pop((group, version, plural), None)
        if rt is not None:
            self._by_kind.pop((rt.group, rt.version, rt.kind), None)
            self._order.remove(rt)
            self.generation += 1
        return rt

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The type served at a path segment."""
        return self._by_path.get((group, version, plural))

    def by_kind(self, group: str, version: str, kind: str) -> ResourceType | None:
        """The type of an apiVersion/kind."""
        return self._by_kind.get((group, version, kind))

    def by_api_version(self, api_version: str, kind: str) -> ResourceType | None:
        """The type of an object's apiVersion and kind."""
        group, _, version = api_version.rpartition("/")
        return self.by_kind(group, version, kind)

    def all(self) -> list[ResourceType]:
        """Every served type, in registration order."""
        return list(self._order)

    def group_versions(self) -> dict[str, list[str]]:
        """Group -> served versions (preferred first), groups in registration order; core is ``."""
        out: dict[str, list[str]] = {}
        for rt in self._order:
            versions = out.setdefault(rt.group, [])
            if rt.version not in versions:
                if rt.preferred:
                    versions.insert(0, rt.version)
                else:
                    versions.append(rt.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        """The types served at one group/version."""
        return [rt for rt in self._order if rt.group == group and rt.version == version]

    def sharing_storage(self, key: tuple[str, str]) -> list[ResourceType]:
        """Every served type stored under `key` (versions of a CRD; both Event APIs)."""
        return [rt for rt in self._order if rt.storage_key == key]

    def preferred_for_storage(self, key: tuple[str, str]) -> ResourceType | None:
        """The type whose form objects under `key` are stored in."""
        types = self.sharing_storage(key)
        for rt in types:
            if rt.group == key[0] and rt.extra.get("storage", True):
                return rt
        return types[0] if types else None


def object_kind(obj: JSON) -> tuple[str, str]:
    """(apiVersion, kind) of an object."""
    return str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
