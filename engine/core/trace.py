"""The explanation of one evaluation: facts and lookups with their values, every condition tried, winners.

Where this sits: filled in by the evaluator as it goes (only what was actually computed, since facts and
lookups are lazy), returned inside `Evaluation`, printed by `arcane rules explain`, compared by fixture
failures ("expected rule X, but Y fired because ..."). It never influences a decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.expr import is_false
from engine.expr.canonical import go_json

MAX_VALUE_TEXT = 160


@dataclass(slots=True)
class RuleStep:
    """One rule considered: skipped for its state, or its condition's value and whether it matched.

    The steps of rules skipped for their state are shared between evaluations: treat traces as read-only."""

    rule: str
    line: int
    state_mismatch: bool = False
    condition: str = ""
    value: Any = None
    matched: bool = False
    error: str = ""


@dataclass(slots=True)
class GroupTrace:
    document: str
    group: str
    match: str
    state: str | None
    steps: list[RuleStep] = field(default_factory=list)
    winner: str | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    """The outcome of a condition that failed, as the evaluator records it (the message of its error)."""

    error: str


@dataclass(slots=True)
class GroupRecord:
    """What the evaluator records of one group as it goes, cheaply: `outcomes` holds the condition's value (or
    `Failed`) of each rule it tried, in order (the rules of `steps` not skipped for the state); `stopped` says that
    a first-match group stopped at the last of them. `Trace.groups` makes the GroupTrace from it on first read."""

    document: str
    group: str
    match: str
    state: str | None
    steps: tuple[tuple[str, int, str, RuleStep | None], ...]
    """Every rule of the group for its state: name, line, condition text, and the shared step of one skipped."""
    outcomes: list[Any]
    stopped: bool

    def trace(self) -> GroupTrace:
        traced = GroupTrace(self.document, self.group, self.match, self.state)
        outcomes = iter(self.outcomes)
        remaining = len(self.outcomes)
        for rule, line, condition, skipped in self.steps:
            if skipped is not None:
                traced.steps.append(skipped)
                continue
            if remaining == 0:
                break
            remaining -= 1
            outcome = next(outcomes)
            if isinstance(outcome, Failed):
                traced.steps.append(RuleStep(rule, line, condition=condition, error=outcome.error))
            else:
                matched = not is_false(outcome)
                traced.steps.append(RuleStep(rule, line, condition=condition, value=outcome, matched=matched))
                if matched and traced.winner is None and self.match != "all":
                    traced.winner = rule
            if remaining == 0 and self.stopped:
                break
        return traced


class Trace:
    """Facts and related objects (by `document.name`) with their values, and the groups tried.

    The evaluator records compact data (the looked-up values, each group's outcomes); the summaries of related
    objects and the GroupTrace objects are made when first read, so an evaluation nobody explains does not pay
    for them."""

    __slots__ = ("_groups", "_looked_up", "_records", "_related", "facts")

    def __init__(
        self,
        facts: dict[str, Any] | None = None,
        related: dict[str, Any] | None = None,
        groups: list[GroupTrace] | None = None,
    ) -> None:
        self.facts: dict[str, Any] = {} if facts is None else facts
        self._related: dict[str, Any] = {} if related is None else related
        self._groups: list[GroupTrace] = [] if groups is None else groups
        self._looked_up: dict[str, Any] = {}
        self._records: list[GroupRecord] = []

    @property
    def related(self) -> dict[str, Any]:
        """Each related object looked up: kind/namespace/name (or a list of them, or the value)."""
        if self._looked_up:
            for name, value in self._looked_up.items():
                self._related[name] = summary(value)
            self._looked_up.clear()
        return self._related

    @property
    def groups(self) -> list[GroupTrace]:
        if self._records:
            self._groups.extend(record.trace() for record in self._records)
            self._records.clear()
        return self._groups

    def looked_up(self, name: str, value: Any) -> None:
        """Record a related object's value (summarised when `related` is read)."""
        self._looked_up[name] = value

    def record(self, record: GroupRecord) -> None:
        self._records.append(record)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Trace):
            return NotImplemented
        return (self.facts, self.related, self.groups) == (other.facts, other.related, other.groups)

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass it replaces

    def __repr__(self) -> str:
        return f"Trace(facts={self.facts!r}, related={self.related!r}, groups={self.groups!r})"

    def step(self, rule: str) -> RuleStep | None:
        """The step of a rule, in any group."""
        for group in self.groups:
            for step in group.steps:
                if step.rule == rule:
                    return step
        return None

    def why_not(self, rule: str, group: str | None = None) -> str:
        """One sentence on why `rule` (of `group`, when known) did not fire, for fixture failures."""
        for traced in self.groups:
            for step in traced.steps:
                if step.rule != rule:
                    continue
                if step.error:
                    return f"its condition failed: {step.error}"
                if step.state_mismatch:
                    return f"the state was {traced.state!r}, which is not among its `from` states"
                if not step.matched:
                    return f"its condition `{step.condition}` was {short(step.value)}"
                return "it matched"
        for traced in self.groups:
            if group is not None and traced.group != group:
                continue
            if traced.winner is not None:
                return f"rule `{traced.winner}` matched first in group `{traced.group}`, so it was not reached"
            failed = next((step.rule for step in traced.steps if step.error), None)
            if failed is not None and traced.match == "first":
                return f"rule `{failed}` failed first in group `{traced.group}`, so it was not reached"
        return "it was not evaluated (no document of the rule set evaluates this object)"


def summary(value: Any) -> Any:
    """A short description of a looked-up value for traces: kind/namespace/name, or a count."""
    if isinstance(value, dict):
        meta = value.get("metadata") or {}
        where = f"{meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else meta.get("name")
        return f"{value.get('kind')}/{where}"
    if isinstance(value, list):
        return [summary(item) for item in value[:5]] + (["..."] if len(value) > 5 else [])
    return value


def short(value: Any) -> str:
    """A value as short text for traces."""
    try:
        text = go_json(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= MAX_VALUE_TEXT else text[: MAX_VALUE_TEXT - 3] + "..."


def render(trace: Trace) -> str:
    """The trace as indented text."""
    lines: list[str] = []
    if trace.related:
        lines.append("related objects:")
        lines.extend(f"  {name} = {short(value)}" for name, value in trace.related.items())
    if trace.facts:
        lines.append("facts:")
        lines.extend(f"  {name} = {short(value)}" for name, value in trace.facts.items())
    for group in trace.groups:
        state = f", state {group.state!r}" if group.state is not None else ""
        lines.append(f"group {group.document}/{group.group} (match {group.match}{state}):")
        for step in group.steps:
            if step.state_mismatch:
                lines.append(f"  - {step.rule}: skipped (not for state {group.state!r})")
            elif step.error:
                lines.append(f"  ! {step.rule}: error: {step.error}")
            else:
                mark = "=>" if step.matched else "- "
                condition = f"`{step.condition}`" if step.condition else "(no condition)"
                lines.append(f"  {mark} {step.rule}: {condition} = {short(step.value)}")
        if group.match == "all":  # every matching rule fired: there is no winner
            fired = [step.rule for step in group.steps if step.matched]
            lines.append(f"  fired: {', '.join(fired) if fired else 'none'}")
        else:
            lines.append(f"  winner: {group.winner}" if group.winner else "  winner: none")
    return "\n".join(lines)
