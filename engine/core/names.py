"""The lazy names of one evaluation: a document's related objects and facts, computed on first read.

Where this sits: the evaluator (engine.core.evaluate) builds one `Names` per document and object; its `root`
context computes a related object (a lookup in the store) or a fact (an expression, a template, cases or a
filtered list) the first time an expression reads it, records the value in the trace and the read in the
evaluation's reads. A fact is computed by the root context itself (a `Computed` name: no call through `Names`);
a related object through `Names._produce`, as is every name when the memo keeps pure facts. What never changes for
a compiled document (which names exist, how each is made, its trace key, its pure facts) is worked out once per
document (`derived`), not per evaluation.

It decides nothing: no rule, no action. The store is only read.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any, TypeVar, cast

from engine.core.context import Computed, Context, located
from engine.core.store import ObjectStore, field_value
from engine.core.trace import Trace
from engine.errors import ExpressionError
from engine.expr import is_false
from engine.model import GVK, Obj
from engine.spec.checks import needs_cycle_check
from engine.spec.ruleset import (
    CasesFact,
    Document,
    ExprFact,
    GetLookup,
    ListFact,
    ListLookup,
    Related,
    ValueFact,
)

T = TypeVar("T")

Read = tuple[GVK, str | None, str | None, bool]
"""A lookup as made: kind, namespace (None: all), name (None: a list), whether its changes map back by triggers."""

_DERIVED: dict[tuple[str, int], tuple[object, Any]] = {}
"""What never changes for a compiled document or group, made once: keyed by (what, id(owner)) and checked by
identity, since a reloaded rule set may reuse an id; cleared when rule sets were reloaded many times."""


def derived(what: str, owner: T, make: Callable[[T], Any]) -> Any:
    """`make(owner)`, made once per `owner` (a compiled, frozen part of a rule set) and `what`."""
    cached = _DERIVED.get((what, id(owner)))
    if cached is None or cached[0] is not owner:
        if len(_DERIVED) > 4096:
            _DERIVED.clear()
        cached = _DERIVED[(what, id(owner))] = (owner, make(owner))
    return cached[1]


_RELATED, _GET, _FACT = 0, 1, 2

Producer = tuple[int, Any, str]
"""How a name is made, with `key` its name in the trace (`document.name`): (_GET, (kind, name's render, namespace's
render or None), key) | (_RELATED, Related, key) for a list | (_FACT, a function of the root context, key): an
expression's evaluate, or `_fact` of a fact of another form."""


def _tables(document: Document) -> tuple[dict[str, Producer], dict[str, Computed | bool], bool]:
    """How each name of a document is made; the names for its root context: facts as `Computed` (the context
    computes them itself: an expression's function, or `_fact` of the form), related objects True (looked up through
    `Names._produce`); and whether the context must catch cycles (engine.spec.checks.needs_cycle_check)."""
    producers = _producers(document)
    where = derived("where", document, _where)
    computed: dict[str, Computed | bool] = {
        name: (how, key, where[name]) if kind == _FACT else True for name, (kind, how, key) in producers.items()
    }
    return producers, computed, needs_cycle_check(document)


def _where(document: Document) -> dict[str, str]:
    """Where each fact is defined (`file:line`), for the message of an error computing it."""
    return {name: f"{fact.location.file}:{fact.location.line}" for name, fact in document.facts.items()}


def _resolved(document: Document) -> dict[str, bool]:
    """The names of a document for a root context that computes every one through `Names` (to keep pure facts)."""
    return dict.fromkeys(_producers(document), True)


def _producers(document: Document) -> dict[str, Producer]:
    out: dict[str, Producer] = {}
    for name, related in document.related.items():
        lookup = related.lookup
        if isinstance(lookup, GetLookup):
            namespace = lookup.namespace.render if lookup.namespace is not None else None
            out[name] = (_GET, (lookup.kind.gvk, lookup.name.render, namespace), f"{document.name}.{name}")
        else:
            out[name] = (_RELATED, related, f"{document.name}.{name}")
    for name, fact in document.facts.items():
        if name in out:
            continue  # a related object of the same name wins, as it always did
        form = fact.form
        how = form.expression.evaluate if isinstance(form, ExprFact) else functools.partial(_fact, form)
        out[name] = (_FACT, how, f"{document.name}.{name}")
    return out


class Names:
    """The lazily computed names of one document for one object; `root` is the context every expression reads."""

    def __init__(
        self,
        document: Document,
        obj: Obj,
        store: ObjectStore,
        *,
        trace: Trace,
        reads: list[Read],
        values: dict[str, Any],
        kept: dict[str, Any] | None = None,
        pure: frozenset[str] = frozenset(),
    ) -> None:
        """`values` are the names given (the object, the bound source); `kept`, when given, the memo's fact values
        for this version of the object: the `pure` facts (engine.spec.checks.pure_facts) are read from it and
        stored in it."""
        self.document = document
        self.object = obj
        self.store = store
        meta = obj.get("metadata") or {}
        self.namespace = str(meta.get("namespace") or "")
        self._producers: dict[str, Producer]
        names: dict[str, Any]
        self._producers, names, cycles = derived("names", document, _tables)
        self._facts = trace.facts
        self._looked_up = trace._looked_up  # recorded raw, summarised when the trace is read
        self._reads = reads
        self._pure: frozenset[str] = frozenset()
        self._selected: dict[tuple[GVK, str | None, str, Any], list[Obj]] = {}
        self._kept: dict[str, Any] = {}
        resolve = self._produce
        if kept is not None:
            self._pure = pure
            self._kept = kept
            resolve = self._produce_kept
            names = derived("resolved", document, _resolved)
        # The root calls back into this object to compute names: held weakly here, the pair is no reference cycle,
        # so an evaluation's objects are freed as soon as it ends, not by the cyclic garbage collector (whose passes
        # would otherwise come every few evaluations, each one a pause of its own).
        root = Context(values, names, resolve=resolve, record=trace.facts, cycles=cycles)
        self._root: Callable[[], Context | None] = weakref.ref(root)
        self._made: list[Context] = [root]

    def root(self) -> Context:
        """The context every expression of the document reads, handed over once: the caller keeps it alive (and
        this object with it)."""
        root = self._made.pop() if self._made else self._root()
        assert root is not None
        return root

    def _produce(self, name: str) -> Any:
        """The value of a related object or a fact, computed on its first read (and traced)."""
        kind, how, key = self._producers[name]
        if kind == _FACT:
            try:
                value = self._facts[key] = how(self._root())
            except ExpressionError as error:
                raise located(error, key, derived("where", self.document, _where)[name]) from None
            return value
        value = self._get(*how) if kind == _GET else self._lookup(how)
        self._looked_up[key] = value
        return value

    def _produce_kept(self, name: str) -> Any:
        """`_produce`, with the values of pure facts taken from (or put in) the memo."""
        if name not in self._pure:
            return self._produce(name)
        kept = self._kept
        if name in kept:
            value = kept[name]
            self._facts[self._producers[name][2]] = value
            return value
        value = kept[name] = self._produce(name)
        return value

    def _get(self, gvk: GVK, name_of: Callable[[Any], Any], namespace_of: Callable[[Any], Any] | None) -> Any:
        """A get lookup: the object of that name, or None (no name: no read)."""
        root = self._root()
        name = name_of(root)
        namespace = namespace_of(root) if namespace_of is not None else self.namespace
        if not isinstance(name, str) or not name:
            return None
        namespace = str(namespace or "")
        self._reads.append((gvk, namespace, name, False))
        return self.store.get(gvk, namespace, name)

    def _lookup(self, related: Related) -> Any:
        """A list lookup: the objects of a kind that match, filtered, ordered, or the first of them."""
        lookup = related.lookup
        root = cast(Context, self._root())
        assert isinstance(lookup, ListLookup)
        gvk = lookup.kind.gvk
        if lookup.all_namespaces:
            scope: str | None = None
        elif lookup.namespace is not None:
            scope = str(lookup.namespace.render(root) or "")
        else:
            scope = self.namespace
        self._reads.append((gvk, scope, None, related.trigger is not None))
        items: list[Obj]
        shared: list[Obj] | None = None
        if lookup.match:
            (path, template), *rest = lookup.match
            items = shared = self._select(gvk, scope, path, template.render(root))
            if rest:
                wanted = [(p, value.render(root)) for p, value in rest]
                items = [item for item in items if all(field_value(item, p) == v for p, v in wanted)]
        else:
            items = list(self.store.list(gvk, scope))
        if lookup.where is not None and items:
            where = lookup.where.evaluate
            # One scope for every item: a condition's value is only tested, never kept, so nothing can hold the
            # scope past its item (lazy names are computed in the root, not here).
            scope_of_item = root.child({})
            kept = []
            for item in items:
                scope_of_item["item"] = item
                if not is_false(where(scope_of_item)):
                    kept.append(item)
            items = kept
        if lookup.order_by is not None and len(items) == 1:
            lookup.order_by.evaluate(items[0])  # nothing to order, but an error in the key is still an error
        elif lookup.order_by is not None and items:
            order = lookup.order_by
            keyed = [(order.evaluate(item), index, item) for index, item in enumerate(items)]
            keyed.sort(key=lambda entry: (entry[0] is None, _sort_key(entry[0]), entry[1]), reverse=lookup.descending)
            items = [item for _, _, item in keyed]
        if lookup.first:
            return items[0] if items else None
        return list(items) if items is shared else items

    def _select(self, gvk: GVK, scope: str | None, path: str, value: Any) -> list[Obj]:
        """The store's objects whose field at `path` equals `value`, asked once per evaluation: lookups that filter
        the same objects differently (this one's active request, its stale ones) share one answer (never mutated:
        each lookup filters it into a list of its own)."""
        try:
            key = (gvk, scope, path, value)
            found = self._selected.get(key)
        except TypeError:  # a value that cannot be a key (a list, an object): asked each time
            return list(self.store.select(gvk, scope, path, value))
        if found is None:
            found = self._selected[key] = list(self.store.select(gvk, scope, path, value))
        return found


def _fact(form: ValueFact | CasesFact | ListFact, root: Context) -> Any:
    """The value of a fact that is not one expression (a template, cases, a filtered list), read from `root`."""
    if isinstance(form, ValueFact):
        return form.value.render(root)
    if isinstance(form, CasesFact):
        for when, value in form.cases:
            if when is None or not is_false(when.evaluate(root)):
                return value.render(root)
        return None
    items = form.source.evaluate(root)
    out = []
    where, select = form.where, form.select
    shared = root.child({}) if select is None else None  # a condition's value is only tested, never kept
    for item in items if isinstance(items, list) else []:
        if shared is not None:
            scope = shared
            scope["item"] = item
        else:
            scope = root.child({"item": item})  # one per item: a `select` may keep it (`{{ @ }}`)
        if where is not None and is_false(where.evaluate(scope)):
            continue
        out.append(select.render(scope) if select is not None else item)
        if form.first:
            break
    if form.first:
        return out[0] if out else None
    return out


def _sort_key(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return (0, "")
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value))
