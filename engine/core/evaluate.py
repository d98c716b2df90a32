"""evaluate(ruleset, snapshot, clock) -> Evaluation: the pure heart of the engine.

Where this sits: the runtime (and the fixture runner) hands in one object, a read-only store of cached
objects and the bindings of dynamic kinds; this returns decisions (each with provenance and concrete
actions), a trace, and the lookups made (so the runtime knows which changes re-evaluate this object).
No I/O, no globals: time comes from `clock`. An expression that fails becomes an error decision naming
the rule and the expression; it never escapes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.core.context import Context
from engine.core.memo import FactMemo
from engine.core.plan import Plan, Planner, merge_patch, object_key
from engine.core.store import ObjectStore, field_value
from engine.core.targets import Binding, bindings_for
from engine.core.trace import GroupTrace, RuleStep, Trace
from engine.errors import ExpressionError
from engine.expr import is_false, rfc3339, use_clock
from engine.model import GVK, Decision, Obj, Provenance
from engine.spec.checks import pure_facts
from engine.spec.ruleset import (
    CasesFact,
    Document,
    ExprFact,
    FactForm,
    GetLookup,
    Group,
    ListFact,
    Match,
    Related,
    Rule,
    RuleSet,
    ValueFact,
)

Clock = Callable[[], datetime]
DATA_ERRORS = (ExpressionError, TypeError, ValueError, KeyError, AttributeError, IndexError)
"""What a rule's data can make fail. Besides ExpressionError, the others are a last line of defence: an object
shaped unlike what a rule expects (a `metadata` that is a list) fails that decision, never the worker."""


@dataclass(frozen=True, slots=True)
class Lookup:
    """A read the evaluation made: a get (name set) or a list (name None) of a kind in a namespace."""

    gvk: GVK
    namespace: str | None
    name: str | None
    triggered: bool = False
    """A list whose changes map back through declared triggers (so the runtime need not fan out)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One object to evaluate, the store to look related objects up in, and (optionally) the bindings."""

    object: Obj
    store: ObjectStore
    bindings: tuple[Binding, ...] | None = None
    memo: FactMemo | None = None
    """Where the values of facts that depend on the object alone survive between evaluations (optional)."""


@dataclass(slots=True)
class Evaluation:
    decisions: list[Decision] = field(default_factory=list)
    trace: Trace = field(default_factory=Trace)
    lookups: set[Lookup] = field(default_factory=set)

    @property
    def fired(self) -> list[str]:
        """Names of the rules that produced a decision (error decisions included)."""
        return [decision.provenance.rule for decision in self.decisions]

    @property
    def errors(self) -> list[Decision]:
        return [decision for decision in self.decisions if decision.error]


def evaluate(ruleset: RuleSet, snapshot: Snapshot, clock: Clock) -> Evaluation:
    """Evaluate every document that applies to the snapshot's object."""
    evaluation = Evaluation()
    bindings = snapshot.bindings
    if bindings is None:
        bindings = tuple(bindings_for(ruleset, GVK.of_object(snapshot.object), snapshot.store))
    with use_clock(clock):
        now = rfc3339(clock())
        for binding in bindings:
            _Session(ruleset.digest, binding, snapshot, evaluation, now).run()
    return evaluation


def report_error(
    ruleset: RuleSet, snapshot: Snapshot, provenance: Provenance, message: str, clock: Clock
) -> Decision | None:
    """The `onError` decision of the document that made `provenance`'s decision, for an error met executing it."""
    bindings = snapshot.bindings
    if bindings is None:
        bindings = tuple(bindings_for(ruleset, GVK.of_object(snapshot.object), snapshot.store))
    for binding in bindings:
        if binding.document.name == provenance.document and binding.document.on_error:
            with use_clock(clock):
                session = _Session(ruleset.digest, binding, snapshot, Evaluation(), rfc3339(clock()))
                return session.on_error(provenance, message)
    return None


class _Session:
    """Evaluation of one document for one object."""

    def __init__(self, digest: str, binding: Binding, snapshot: Snapshot, evaluation: Evaluation, now: str) -> None:
        self.digest = digest
        self.document: Document = binding.document
        self.object = snapshot.object
        self.store = snapshot.store
        self.evaluation = evaluation
        self.now = now
        meta = self.object.get("metadata") or {}
        self.namespace = str(meta.get("namespace") or "")
        values: dict[str, Any] = {"object": self.object}
        if binding.name:
            values[binding.name] = binding.source
        self.root = Context(values, _names(self.document), resolve=self._produce)
        self.planner = Planner(self.document, self.object, now)
        self.pure: frozenset[str] = frozenset()
        self.kept: dict[str, Any] = {}
        uid, version = str(meta.get("uid") or ""), str(meta.get("resourceVersion") or "")
        if snapshot.memo is not None and uid and version:
            self.pure = _pure(self.document)
            source = (binding.source or {}).get("metadata") or {}
            versions = (
                digest,
                self.document.name,
                version,
                str(source.get("uid") or ""),
                str(source.get("resourceVersion") or ""),
            )
            self.kept = snapshot.memo.values(uid, self.document.name, versions)

    # --- lazy names -------------------------------------------------------------------------------------

    def _produce(self, name: str) -> Any:
        """The value of a related object or a fact, computed on its first read (and traced)."""
        related = self.document.related.get(name)
        if related is not None:
            value = self._lookup(related)
            self.evaluation.trace.related[f"{self.document.name}.{name}"] = _summary(value)
            return value
        kept = name in self.pure
        if kept and name in self.kept:
            value = self.kept[name]
        else:
            form = self.document.facts[name].form
            value = form.expression.evaluate(self.root) if isinstance(form, ExprFact) else self._fact(form)
            if kept:
                self.kept[name] = value
        self.evaluation.trace.facts[f"{self.document.name}.{name}"] = value
        return value

    def _lookup(self, related: Related) -> Any:
        lookup = related.lookup
        gvk = lookup.kind.gvk
        if isinstance(lookup, GetLookup):
            name = lookup.name.render(self.root)
            namespace = lookup.namespace.render(self.root) if lookup.namespace is not None else self.namespace
            if not isinstance(name, str) or not name:
                return None
            namespace = str(namespace or "")
            self.evaluation.lookups.add(Lookup(gvk, namespace, name))
            return self.store.get(gvk, namespace, name)
        if lookup.all_namespaces:
            scope: str | None = None
        elif lookup.namespace is not None:
            scope = str(lookup.namespace.render(self.root) or "")
        else:
            scope = self.namespace
        self.evaluation.lookups.add(Lookup(gvk, scope, None, related.trigger is not None))
        if lookup.match:
            wanted = [(path, value.render(self.root)) for path, value in lookup.match]
            (path, value), rest = wanted[0], wanted[1:]
            items = list(self.store.select(gvk, scope, path, value))
            if rest:
                items = [item for item in items if all(field_value(item, p) == v for p, v in rest)]
        else:
            items = list(self.store.list(gvk, scope))
        if lookup.where is not None:
            where = lookup.where
            items = [item for item in items if not is_false(where.evaluate(self.root.child({"item": item})))]
        if lookup.order_by is not None:
            order = lookup.order_by
            keyed = [(order.evaluate(item), index, item) for index, item in enumerate(items)]
            keyed.sort(key=lambda entry: (entry[0] is None, _sort_key(entry[0]), entry[1]), reverse=lookup.descending)
            items = [item for _, _, item in keyed]
        if lookup.first:
            return items[0] if items else None
        return items

    def _fact(self, form: FactForm) -> Any:
        if isinstance(form, ExprFact):
            return form.expression.evaluate(self.root)
        if isinstance(form, ValueFact):
            return form.value.render(self.root)
        if isinstance(form, CasesFact):
            for when, value in form.cases:
                if when is None or not is_false(when.evaluate(self.root)):
                    return value.render(self.root)
            return None
        assert isinstance(form, ListFact)
        items = form.source.evaluate(self.root)
        out = []
        for item in items if isinstance(items, list) else []:
            scope = self.root.child({"item": item})
            if form.where is not None and is_false(form.where.evaluate(scope)):
                continue
            out.append(form.select.render(scope) if form.select is not None else item)
            if form.first:
                break
        if form.first:
            return out[0] if out else None
        return out

    # --- groups and rules ---------------------------------------------------------------------------------

    def run(self) -> None:
        for group in self.document.groups:
            state = None
            if group.state is not None:
                raw = group.state.field.first(self.object)
                state = str(raw) if raw not in (None, "") else group.state.initial
            traced = GroupTrace(self.document.name, group.name, group.match.value, state)
            self.evaluation.trace.groups.append(traced)
            steps = traced.steps
            for rule, skipped in _group_plan(group, state):
                if skipped is not None:  # not for this state: the trace says so (a shared, unchanging step)
                    steps.append(skipped)
                    continue
                step = RuleStep(rule.name, rule.location.line, condition=rule.when.source if rule.when else "")
                steps.append(step)
                try:
                    value = rule.when.evaluate(self.root) if rule.when is not None else True
                except ExpressionError as error:
                    step.error = str(error)
                    self._error(group, rule, f"condition failed: {error}")
                    if group.match is Match.FIRST:
                        break
                    continue
                step.value = value
                step.matched = not is_false(value)
                if not step.matched:
                    continue
                if traced.winner is None:
                    traced.winner = rule.name
                self._fire(group, rule, state)
                if group.match is Match.FIRST:
                    break

    def _provenance(self, group: Group, rule: Rule) -> Provenance:
        location = rule.location
        return Provenance(self.document.name, group.name, rule.name, location.file, location.line, self.digest)

    def _error(self, group: Group, rule: Rule, message: str) -> None:
        provenance = self._provenance(group, rule)
        self.evaluation.decisions.append(Decision(provenance, error=message))
        if self.document.on_error:
            self.evaluation.decisions.append(self.on_error(provenance, message))

    def on_error(self, provenance: Provenance, message: str) -> Decision:
        """The decision of the document's `onError` actions for an error (of evaluation or of execution)."""
        error = {"message": message, "rule": provenance.rule}
        context = self.root.child({"error": error, "rule": {"name": provenance.rule, "group": provenance.group}})
        plan = Plan()
        reporting = Provenance(
            provenance.document,
            provenance.group,
            f"{provenance.rule}:onError",
            provenance.file,
            provenance.line,
            provenance.digest,
        )
        try:
            self.planner.plan(self.document.on_error, context, plan)
            return Decision(reporting, self.planner.finish(plan))
        except DATA_ERRORS as failure:
            return Decision(reporting, error=f"onError failed: {_text(failure)}")

    def _fire(self, group: Group, rule: Rule, state: str | None) -> None:
        rule_info = {"name": rule.name, "group": group.name, "document": self.document.name, "file": rule.location.file}
        context = self.root.child({"rule": rule_info})
        plan = Plan()
        transition = None
        try:
            for name, value in rule.lets:
                context[name] = value.render(context)
            self.planner.plan(rule.then, context, plan)
            machine = group.state
            if machine is not None and rule.to is not None and rule.to != state:
                transition = (state or "", rule.to)
                moving = context.child({"transition": {"from": state, "to": rule.to}})
                data = machine.data.get(rule.to)
                entered = data.render(moving) if data is not None else None
                entering = moving.child({"entered": entered})
                self._write_state(machine.field.names or (), rule.to, plan)
                self.planner.plan(machine.on_enter, entering, plan)
                if rule.event is not None:
                    self.planner.event(rule.event, entering, plan)
            elif rule.event is not None and rule.event_always:
                self.planner.event(rule.event, context, plan)
            actions = self.planner.finish(plan)
        except DATA_ERRORS as error:
            self._error(group, rule, _text(error))
            return
        self.evaluation.decisions.append(
            Decision(self._provenance(group, rule), actions, requeue_after=plan.requeue_after, transition=transition)
        )

    def _write_state(self, fields: tuple[str, ...], value: str, plan: Plan) -> None:
        nested: Any = value
        for name in reversed(fields[1:]):
            nested = {name: nested}
        key = object_key(self.object)
        if fields and fields[0] == "status":
            base, pending = plan.status.get(key, (self.object, {}))
            plan.status[key] = (base, merge_patch(pending, nested))
        else:
            base, pending = plan.main_patches.get(key, (self.object, {}))
            plan.main_patches[key] = (base, merge_patch(pending, {fields[0]: nested} if fields else {}))


def _text(error: Exception) -> str:
    return str(error) if isinstance(error, ExpressionError) else f"{type(error).__name__}: {error}"


_DERIVED: dict[tuple[str, int], tuple[object, Any]] = {}
"""What never changes for a compiled document or group, made once: keyed by (what, id(owner)) and checked by
identity, since a reloaded rule set may reuse an id; cleared when rule sets were reloaded many times."""


def _derived(what: str, owner: object, make: Callable[[], Any]) -> Any:
    cached = _DERIVED.get((what, id(owner)))
    if cached is None or cached[0] is not owner:
        if len(_DERIVED) > 4096:
            _DERIVED.clear()
        cached = _DERIVED[(what, id(owner))] = (owner, make())
    return cached[1]


def _group_plan(group: Group, state: str | None) -> list[tuple[Rule, RuleStep | None]]:
    """The group's rules for one state, each with the trace step of a rule skipped for its state (or None when the
    rule applies): made once per group and state, so an evaluation does not rebuild what never changes."""
    plans: dict[str | None, list[tuple[Rule, RuleStep | None]]] = _derived("plans", group, dict)
    plan = plans.get(state)
    if plan is None:
        plan = [
            (
                rule,
                RuleStep(rule.name, rule.location.line, True, rule.when.source if rule.when else "")
                if rule.states is not None and state not in rule.states
                else None,
            )
            for rule in group.rules
        ]
        if len(plans) < 64:  # states an object may hold that the machine does not know: not remembered
            plans[state] = plan
    return plan


def _pure(document: Document) -> frozenset[str]:
    """The document's facts that depend on the evaluated object alone."""
    pure: frozenset[str] = _derived("pure", document, lambda: pure_facts(document))
    return pure


def _names(document: Document) -> dict[str, bool]:
    """The lazily computed names of a document (related objects and facts)."""
    names: dict[str, bool] = _derived(
        "names", document, lambda: dict.fromkeys([*document.related, *document.facts], True)
    )
    return names


def _summary(value: Any) -> Any:
    """A short description of a looked-up value for traces: kind/namespace/name, or a count."""
    if isinstance(value, dict):
        meta = value.get("metadata") or {}
        where = f"{meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else meta.get("name")
        return f"{value.get('kind')}/{where}"
    if isinstance(value, list):
        return [_summary(item) for item in value[:5]] + (["..."] if len(value) > 5 else [])
    return value


def _sort_key(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return (0, "")
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value))
