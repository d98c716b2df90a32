"""The compiled rule set: frozen records with every expression, path and template already compiled.

Where this sits: the compiler (engine.spec.compiler) produces these; the evaluator (engine.core) and the
runtime read them. Nothing after the compiler sees a raw rule dict. The meaning of each field is documented in
docs/rules.md (the language reference).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TypeAlias

from engine.errors import Location
from engine.expr import Expression, FieldPath, Template
from engine.model import GVK, Propagation
from engine.spec.selectors import LabelSelector


class Match(enum.StrEnum):
    FIRST = "first"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class KindRef:
    """A kind named in a rule: apiVersion + kind, and the plural when the rule gives it."""

    gvk: GVK
    plural: str = ""


# --- what is evaluated -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DynamicKinds:
    """Kinds named by other objects: every `source` object for which `where` holds names one kind."""

    source: KindRef
    where: Expression | None
    api_version: Template
    kind: Template
    plural: Template | None
    binding: str


@dataclass(frozen=True, slots=True)
class Target:
    """What a document evaluates: one static kind, or the dynamic kinds; optionally scoped."""

    static: KindRef | None
    dynamic: DynamicKinds | None
    namespaces: tuple[str, ...] = ()
    """Only objects in these namespaces (none: every namespace)."""
    selector: LabelSelector | None = None
    """Only objects whose labels match (`for.labelSelector`; None: every object)."""
    optional_fields: tuple[tuple[str, ...], ...] = ()
    """Paths of the evaluated object that only some of its kinds have (not checked against CRD schemas)."""


# --- related objects ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GetLookup:
    kind: KindRef
    name: Template
    namespace: Template | None


@dataclass(frozen=True, slots=True)
class ListLookup:
    kind: KindRef
    namespace: Template | None
    all_namespaces: bool
    where: Expression | None
    order_by: Expression | None
    descending: bool
    first: bool
    match: tuple[tuple[str, Template], ...] = ()
    """Equality filters on dotted field paths; the first is answered by the store's index."""


@dataclass(frozen=True, slots=True)
class Trigger:
    """How a change of a listed object maps back to the evaluated object that must be re-evaluated."""

    name: Template
    namespace: Template | None
    when: Expression | None


@dataclass(frozen=True, slots=True)
class Related:
    name: str
    lookup: GetLookup | ListLookup
    trigger: Trigger | None
    drop: tuple[FieldPath, ...]
    location: Location


# --- facts -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExprFact:
    expression: Expression


@dataclass(frozen=True, slots=True)
class ValueFact:
    value: Template


@dataclass(frozen=True, slots=True)
class CasesFact:
    cases: tuple[tuple[Expression | None, Template], ...]


@dataclass(frozen=True, slots=True)
class ListFact:
    source: Expression
    where: Expression | None
    select: Template | None
    first: bool


FactForm: TypeAlias = ExprFact | ValueFact | CasesFact | ListFact


@dataclass(frozen=True, slots=True)
class Fact:
    name: str
    form: FactForm
    location: Location


# --- builders and transforms -------------------------------------------------------------------------


class TransformOp(enum.StrEnum):
    SET = "set"
    APPEND = "append"
    UPSERT = "upsert"
    MERGE = "merge"
    REMOVE = "remove"
    FOR_EACH = "forEach"


@dataclass(frozen=True, slots=True)
class Transform:
    op: TransformOp
    at: FieldPath | None
    value: Template | None
    key: str
    when: Expression | None
    each: Expression | None = None
    alias: str = "item"
    body: tuple[Transform, ...] = ()
    location: Location = field(default_factory=Location)


@dataclass(frozen=True, slots=True)
class Require:
    that: Expression
    message: Template


@dataclass(frozen=True, slots=True)
class Builder:
    name: str
    base: tuple[str, Template | None] | None
    lets: tuple[tuple[str, Expression], ...]
    object: Template
    transforms: tuple[Transform, ...]
    requires: tuple[Require, ...]
    location: Location


# --- actions -----------------------------------------------------------------------------------------


class ActionOp(enum.StrEnum):
    CREATE = "create"
    DELETE = "delete"
    PATCH = "patch"
    STATUS = "status"
    EVENT = "event"
    REQUEUE = "requeue"
    FOR_EACH = "forEach"


@dataclass(frozen=True, slots=True)
class CreateSpec:
    object: Template | None
    build: str
    args: Template | None
    existing: Expression | None
    replace_when: Expression | None
    replace_propagation: Propagation
    owner: Expression | None


@dataclass(frozen=True, slots=True)
class DeleteSpec:
    target: Expression
    propagation: Propagation


@dataclass(frozen=True, slots=True)
class PatchSpec:
    target: Expression
    merge: Template | None
    json: Template | None


@dataclass(frozen=True, slots=True)
class StatusSpec:
    target: Expression | None
    set: Template | None
    replace_conditions: Template | None
    set_conditions: Template | None
    remove_conditions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EventSpec:
    target: Expression | None
    type: str
    reason: Template
    message: Template
    when_changed: FieldPath | None


@dataclass(frozen=True, slots=True)
class RequeueSpec:
    after: float


@dataclass(frozen=True, slots=True)
class ForEachSpec:
    each: Expression
    alias: str
    body: tuple[ActionSpec, ...]


ActionBody: TypeAlias = CreateSpec | DeleteSpec | PatchSpec | StatusSpec | EventSpec | RequeueSpec | ForEachSpec


@dataclass(frozen=True, slots=True)
class ActionSpec:
    op: ActionOp
    body: ActionBody
    when: Expression | None
    location: Location


# --- rules, groups, documents ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    description: str
    location: Location
    when: Expression | None
    states: frozenset[str] | None
    then: tuple[ActionSpec, ...]
    to: str | None
    event: EventSpec | None
    event_always: bool
    lets: tuple[tuple[str, Template], ...] = ()


@dataclass(frozen=True, slots=True)
class StateMachine:
    field: FieldPath
    initial: str
    states: tuple[str, ...]
    data: dict[str, Template | None]
    on_enter: tuple[ActionSpec, ...]


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    description: str
    match: Match
    state: StateMachine | None
    rules: tuple[Rule, ...]
    location: Location


@dataclass(frozen=True, slots=True)
class Document:
    """One `Rules` document: what it evaluates, what it looks up, its facts, builders and groups."""

    name: str
    description: str
    file: str
    target: Target
    related: dict[str, Related]
    facts: dict[str, Fact]
    builders: dict[str, Builder]
    groups: tuple[Group, ...]
    location: Location
    on_error: tuple[ActionSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A compiled rule set: every document of one directory, and the digest of its content."""

    digest: str
    documents: tuple[Document, ...]
    files: tuple[str, ...]

    def rules(self) -> list[tuple[Document, Group, Rule]]:
        """Every rule with its group and document, in file order."""
        return [(doc, group, rule) for doc in self.documents for group in doc.groups for rule in group.rules]

    def for_kind(self, gvk: GVK) -> tuple[Document, ...]:
        """Documents evaluating a static kind."""
        return tuple(doc for doc in self.documents if doc.target.static is not None and doc.target.static.gvk == gvk)
