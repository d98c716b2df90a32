"""Closed sets and frozen records shared by every layer of the engine.

Where this sits: the bottom layer. The compiler produces a `RuleSet` (engine.spec), the evaluator turns a
snapshot into `Decision`s made of `Action`s (engine.core), the executor performs the actions against a
`Cluster` (engine.core.cluster; engine.kube over HTTP, engine.testing in memory). This module only
defines the vocabulary; it does no I/O and knows nothing of any particular rule set.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeAlias

JSON: TypeAlias = Any
"""A value decoded from JSON/YAML: dict, list, str, int, float, bool or None."""

Obj: TypeAlias = Mapping[str, Any]
"""A Kubernetes object as raw JSON (never a typed client model)."""


class GVK(NamedTuple):
    """A group/version/kind. The core group is the empty string.

    A named tuple rather than a frozen dataclass: GVKs key the caches, the expectations and the dependency
    index, and a tuple's hash and equality run in C where the dataclass's ran generated Python (1 % of an
    evaluation's instructions, measured with bench/engine_instructions.py). Like any tuple, it compares equal
    to a plain tuple of the same three strings.
    """

    group: str
    version: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @classmethod
    def of(cls, api_version: str, kind: str) -> GVK:
        """The GVK of an apiVersion and a kind: one shared instance per pair (see `_gvk_of`)."""
        if cls is GVK:
            return _gvk_of(api_version, kind)
        group, _, version = api_version.rpartition("/")
        return cls(group, version, kind)

    @classmethod
    def of_object(cls, obj: Obj) -> GVK:
        return cls.of(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))

    def __str__(self) -> str:
        return f"{self.api_version}/{self.kind}"


@functools.lru_cache(maxsize=1024)
def _gvk_of(api_version: str, kind: str) -> GVK:
    """Object references name their kind as text, and the executor, the expectations and the caches turn it
    into a GVK for every write: one shared instance per pair, so the text is split and the tuple made once."""
    group, _, version = api_version.rpartition("/")
    return GVK(group, version, kind)


@dataclass(frozen=True, slots=True)
class ResourceType:
    """A GVK resolved to its REST resource (plural) and scope, as discovery or a rule declares it."""

    gvk: GVK
    plural: str
    namespaced: bool = True


class ObjectKey(NamedTuple):
    """What the work queue holds: one evaluated object, by kind and name. Namespace is "" when cluster-scoped.

    A named tuple, not a frozen dataclass: the queue, the dependency index and the expectations make, hash and
    compare keys on every watch event, and a tuple does all three in C (a frozen dataclass's generated
    __init__, __hash__ and __eq__ run as Python code)."""

    gvk: GVK
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.gvk.kind}/{where}"


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """A reference to one object for a write. `uid`, when set, is a precondition (the object we mean)."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str = ""

    @property
    def gvk(self) -> GVK:
        return GVK.of(self.api_version, self.kind)

    @classmethod
    def of_object(cls, obj: Obj) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return cls(
            api_version=str(obj.get("apiVersion", "")),
            kind=str(obj.get("kind", "")),
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name") or ""),
            uid=str(meta.get("uid") or ""),
        )

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind}/{where}"


class Propagation(enum.StrEnum):
    """Deletion propagation policy (Kubernetes DeleteOptions.propagationPolicy)."""

    BACKGROUND = "Background"
    FOREGROUND = "Foreground"
    ORPHAN = "Orphan"


class PatchType(enum.StrEnum):
    """Patch content types the engine emits."""

    MERGE = "application/merge-patch+json"
    JSON = "application/json-patch+json"


class EventType(enum.StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


# --- actions: what a decision asks the executor to do -------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateObject:
    """Create `obj` (name or generateName set). On 409 AlreadyExists the executor adopts the existing object
    only when it is owned by `owner_uid` (or carries every label of `adopt_labels`); otherwise it reports
    a conflict with a foreign object."""

    obj: Obj
    owner_uid: str = ""
    adopt_labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeleteObject:
    """Delete one object; NotFound counts as done. `ref.uid` is sent as a precondition when set."""

    ref: ObjectRef
    propagation: Propagation = Propagation.BACKGROUND


@dataclass(frozen=True, slots=True)
class PatchObject:
    """Patch one object, or its `status` subresource. A JSON patch may start with `test` operations."""

    ref: ObjectRef
    patch: JSON
    patch_type: PatchType = PatchType.MERGE
    subresource: str = ""


@dataclass(frozen=True, slots=True)
class EmitEvent:
    """Record a Kubernetes Event about `involved`. Repeats are aggregated by the executor (count)."""

    involved: ObjectRef
    type: EventType
    reason: str
    message: str
    on_change: bool = False
    """Emitted because the decision changes a field (`whenChanged`): moot when the runtime finds that change already
    made (a status the server pruned, written before)."""


Action: TypeAlias = CreateObject | DeleteObject | PatchObject | EmitEvent


# --- decisions: what an evaluation concluded -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a decision comes from: the rule (document, group, name, file and line) and the rule-set digest."""

    document: str
    group: str
    rule: str
    file: str
    line: int
    digest: str

    def __str__(self) -> str:
        return f"{self.rule} ({self.file}:{self.line})"


@dataclass(frozen=True, slots=True)
class Decision:
    """What one rule decided for one object: actions in order, or an error; optionally a requeue and a transition."""

    provenance: Provenance
    actions: tuple[Action, ...] = ()
    error: str = ""
    requeue_after: float | None = None
    transition: tuple[str, str] | None = None
