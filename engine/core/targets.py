"""Which documents evaluate which objects: static kinds, and kinds named by other objects (dynamic).

Where this sits: the runtime asks it which kinds to watch and which documents (with which bindings) apply
to an object of a kind; the fixture runner asks the same questions of its in-memory store. Pure: it reads
source objects from a store and renders the document's kind templates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from engine.core.context import Context
from engine.core.store import ObjectStore
from engine.errors import ExpressionError
from engine.expr import is_false
from engine.model import GVK, Obj
from engine.spec.ruleset import Document, DynamicKinds, KindRef, RuleSet


@dataclass(frozen=True, slots=True)
class Binding:
    """A document applying to a kind, with the source object bound to a name (dynamic kinds only)."""

    document: Document
    kind: KindRef
    name: str = ""
    source: Obj | None = None


def named_kind(dynamic: DynamicKinds, source: Obj) -> KindRef | None:
    """The kind a source object names (None when `where` is false or the kind is incomplete)."""
    root = Context(source)
    try:
        if dynamic.where is not None and is_false(dynamic.where.evaluate(root)):
            return None
        api_version = dynamic.api_version.render(root)
        kind = dynamic.kind.render(root)
        plural = dynamic.plural.render(root) if dynamic.plural is not None else ""
    except ExpressionError:
        return None
    if not isinstance(api_version, str) or not isinstance(kind, str) or not kind or api_version.endswith("/"):
        return None
    group, _, version = api_version.rpartition("/")
    if not version or (group and not group.strip()):
        return None
    return KindRef(GVK.of(api_version.lstrip("/"), kind), plural if isinstance(plural, str) else "")


def dynamic_bindings(document: Document, sources: Iterable[Obj]) -> dict[GVK, Binding]:
    """For a dynamic document: every kind named by a source, bound to the first source (by name) naming it."""
    assert document.target.dynamic is not None
    dynamic = document.target.dynamic
    out: dict[GVK, Binding] = {}
    for source in sorted(sources, key=lambda obj: str((obj.get("metadata") or {}).get("name", ""))):
        kind = named_kind(dynamic, source)
        if kind is not None and kind.gvk not in out:
            out[kind.gvk] = Binding(document, kind, dynamic.binding, source)
    return out


def bindings_for(ruleset: RuleSet, gvk: GVK, store: ObjectStore) -> list[Binding]:
    """Every document (with its binding) that evaluates objects of `gvk`, in rule-set order; each object of the
    kind is evaluated by those whose scope it is in (`in_scope`)."""
    out: list[Binding] = []
    for document in ruleset.documents:
        target = document.target
        if target.static is not None:
            if target.static.gvk == gvk:
                out.append(Binding(document, target.static))
        elif target.dynamic is not None:
            binding = dynamic_bindings(document, store.list(target.dynamic.source.gvk)).get(gvk)
            if binding is not None:
                out.append(binding)
    return out


def in_scope(document: Document, obj: Obj) -> bool:
    """Whether `obj` is in the document's scope: its `for.namespaces` and `for.labelSelector` (kinds aside)."""
    target = document.target
    if not target.namespaces and target.selector is None:
        return True
    meta = obj.get("metadata") or {}
    if target.namespaces and str(meta.get("namespace") or "") not in target.namespaces:
        return False
    return target.selector is None or target.selector.matches(meta.get("labels"))


def bindings_of(ruleset: RuleSet, obj: Obj, store: ObjectStore) -> list[Binding]:
    """Every document (with its binding) that evaluates `obj`: its kind's, within their scope."""
    return [binding for binding in bindings_for(ruleset, GVK.of_object(obj), store) if in_scope(binding.document, obj)]


def evaluated_kinds(ruleset: RuleSet, store: ObjectStore) -> set[GVK]:
    """The kinds the rule set evaluates: its static kinds, and those the stored sources of dynamic kinds name."""
    kinds: set[GVK] = set()
    for document in ruleset.documents:
        target = document.target
        if target.static is not None:
            kinds.add(target.static.gvk)
        elif target.dynamic is not None:
            kinds.update(dynamic_bindings(document, store.list(target.dynamic.source.gvk)))
    return kinds


def watched_kinds(ruleset: RuleSet, store: ObjectStore) -> dict[GVK, KindRef]:
    """Every kind the rule set reads: evaluated kinds (static and dynamic), sources, and related kinds."""
    kinds: dict[GVK, KindRef] = {}

    def add(ref: KindRef) -> None:
        if ref.gvk not in kinds or (ref.plural and not kinds[ref.gvk].plural):
            kinds[ref.gvk] = ref

    for document in ruleset.documents:
        target = document.target
        if target.static is not None:
            add(target.static)
        elif target.dynamic is not None:
            add(target.dynamic.source)
            for binding in dynamic_bindings(document, store.list(target.dynamic.source.gvk)).values():
                add(binding.kind)
        for related in document.related.values():
            add(related.lookup.kind)
    return kinds
