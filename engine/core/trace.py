"""The explanation of one evaluation: facts and lookups with their values, every condition tried, winners.

Where this sits: filled in by the evaluator as it goes (only what was actually computed, since facts and
lookups are lazy), returned inside `Evaluation`, printed by `arcane rules explain`, compared by fixture
failures ("expected rule X, but Y fired because ..."). It never influences a decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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


@dataclass(slots=True)
class Trace:
    facts: dict[str, Any] = field(default_factory=dict)
    related: dict[str, Any] = field(default_factory=dict)
    groups: list[GroupTrace] = field(default_factory=list)

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
        lines.append(f"  winner: {group.winner}" if group.winner else "  winner: none")
    return "\n".join(lines)
