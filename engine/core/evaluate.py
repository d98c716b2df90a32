"""evaluate(ruleset, snapshot, clock) -> Evaluation: the pure heart of the engine.

Where this sits: the runtime (and the fixture runner) hands in one object, a read-only store of cached
objects and the bindings of dynamic kinds; this returns decisions (each with provenance and concrete
actions), a trace, and the lookups made (so the runtime knows which changes re-evaluate this object).
No I/O, no globals: time comes from `clock`. An expression that fails becomes an error decision naming
the rule and the expression; it never escapes.

The lazy names (related objects, facts) are engine.core.names; what never changes of a group (its rules per state)
is engine.core.groups; this module runs the groups' rules and plans the decisions of those that fire, recording
compact data for the trace (made into its explanatory objects when read: engine.core.trace).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.core.context import Context
from engine.core.groups import GroupPlan
from engine.core.memo import FactMemo
from engine.core.names import Names, Read, derived
from engine.core.plan import Plan, Planner
from engine.core.store import ObjectStore
from engine.core.targets import Binding, bindings_for, in_scope
from engine.core.trace import Failed, GroupRecord, Trace
from engine.errors import ExpressionError
from engine.expr import is_false, rfc3339, use_clock
from engine.model import GVK, Decision, Obj, Provenance
from engine.spec.checks import pure_facts
from engine.spec.ruleset import Document, Group, Rule, RuleSet

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
    reads: list[Read] = field(default_factory=list, repr=False)
    """The lookups in the order they were made, as tuples (cheap to record); `lookups` is their set."""
    _lookups: set[Lookup] = field(default_factory=set, init=False, repr=False, compare=False)
    _counted: int = field(default=0, init=False, repr=False, compare=False)

    @property
    def lookups(self) -> set[Lookup]:
        """Every read the evaluation made (made into `Lookup`s when first asked for)."""
        if self._counted != len(self.reads):
            self._lookups.update(Lookup(*read) for read in self.reads[self._counted :])
            self._counted = len(self.reads)
        return self._lookups

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
            if in_scope(binding.document, snapshot.object):
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
        self.evaluation = evaluation
        self.now = now
        values: dict[str, Any] = {"object": self.object}
        if binding.name:
            values[binding.name] = binding.source
        kept = None
        memo = snapshot.memo
        pure: frozenset[str] = derived("pure", self.document, pure_facts) if memo is not None else frozenset()
        if memo is not None and pure:  # no memo entry for nothing to keep
            meta = self.object.get("metadata") or {}
            uid, version = str(meta.get("uid") or ""), str(meta.get("resourceVersion") or "")
            if uid and version:
                source = (binding.source or {}).get("metadata") or {}
                versions = (
                    digest,
                    self.document.name,
                    version,
                    str(source.get("uid") or ""),
                    str(source.get("resourceVersion") or ""),
                )
                kept = memo.values(uid, self.document.name, versions)
        names = Names(
            self.document,
            self.object,
            snapshot.store,
            trace=evaluation.trace,
            reads=evaluation.reads,
            values=values,
            kept=kept,
            pure=pure,
        )
        self.root: Context = names.root()
        self.planner = Planner(self.document, self.object, now)
        self.kept = kept

    # --- groups and rules ---------------------------------------------------------------------------------

    def run(self) -> None:
        document, root, trace = self.document, self.root, self.evaluation.trace
        kept = self.kept  # what the memo holds before the rules run, and the decisions before this document's
        kept_before = len(kept) if kept is not None else 0
        decided_before = len(self.evaluation.decisions)
        for group in document.groups:
            plan = GroupPlan.of(group)
            state = plan.state(self.object)
            applicable, steps = plan.rules(state)
            first = plan.first
            outcomes: list[Any] = []
            stopped = False
            for rule, when in applicable:
                if when is None:
                    value: Any = True
                else:
                    try:
                        value = when(root)
                    except ExpressionError as error:
                        outcomes.append(Failed(str(error)))
                        where = rule.location  # an expression that fails on data is a rule to fix: say where
                        self._error(group, rule, f"condition failed ({where.file}:{where.line}): {error}")
                        if first:
                            stopped = True
                            break
                        continue
                outcomes.append(value)
                if value is not True and (value is False or value is None or is_false(value)):
                    continue
                self._fire(group, rule, state)
                if first:
                    stopped = True
                    break
            trace.record(GroupRecord(document.name, group.name, plan.match, state, steps, outcomes, stopped))
        decisions = self.evaluation.decisions
        if kept is not None and len(kept) > kept_before and any(d.actions for d in decisions[decided_before:]):
            for name in list(kept)[kept_before:]:  # see engine.core.memo: what only acting read is not kept
                del kept[name]

    def _provenance(self, group: Group, rule: Rule) -> Provenance:
        """The rule's provenance (immutable: made once per rule and rule-set digest, shared by its decisions)."""
        made: dict[str, Provenance] = derived("provenance", rule, _no_provenance)
        provenance = made.get(self.digest)
        if provenance is None:
            location = rule.location
            provenance = Provenance(
                self.document.name, group.name, rule.name, location.file, location.line, self.digest
            )
            made[self.digest] = provenance
        return provenance

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
                self.planner.write_field(machine.field.names or (), rule.to, plan)
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


def _no_provenance(_rule: Rule) -> dict[str, Provenance]:
    return {}


def _text(error: Exception) -> str:
    return str(error) if isinstance(error, ExpressionError) else f"{type(error).__name__}: {error}"
