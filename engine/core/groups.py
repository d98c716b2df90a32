"""What never changes of a group for an evaluation, worked out once per compiled group.

Where this sits: the evaluator (engine.core.evaluate) asks, for each group of a document, which state the object is
in and which rules apply in that state; the trace needs every rule's name, line and condition text, and the step
of each rule skipped for its state. All of it depends on the compiled group (and the state) alone, so it is made
once (`GroupPlan.of`) and shared by every evaluation, read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.core.names import derived
from engine.core.trace import RuleStep
from engine.model import Obj
from engine.spec.ruleset import Group, Match, Rule

Applicable = tuple[tuple[Rule, Callable[[Any], Any] | None], ...]
"""The rules that apply in a state, in order, each with its condition's function (None: no condition)."""
Steps = tuple[tuple[str, int, str, RuleStep | None], ...]
"""Every rule of the group for the trace: name, line, condition text, and the shared step of one skipped for the
state (None for a rule that applies)."""

MAX_STATES = 64
"""States remembered per group: an object may hold states the machine does not know, which are not remembered."""


class GroupPlan:
    """A group's constants for evaluations: match kind, how its state is read, its rules by state."""

    __slots__ = ("_by_state", "_field", "_initial", "first", "group", "match")

    def __init__(self, group: Group) -> None:
        self.group = group
        self.first = group.match is Match.FIRST
        self.match = group.match.value
        self._initial = group.state.initial if group.state is not None else None
        self._field: Callable[[Obj], Any] | None = None
        if group.state is not None:
            path = group.state.field
            names = path.names
            self._field = _walker(names) if names else path.first
        self._by_state: dict[str | None, tuple[Applicable, Steps]] = {}

    @staticmethod
    def of(group: Group) -> GroupPlan:
        """The plan of a compiled group (made on first use, then shared)."""
        plan: GroupPlan = derived("group", group, GroupPlan)
        return plan

    def state(self, obj: Obj) -> str | None:
        """The object's state in the group's machine (its initial state when the field is empty); None without one."""
        if self._field is None:
            return None
        raw = self._field(obj)
        return str(raw) if raw not in (None, "") else self._initial

    def rules(self, state: str | None) -> tuple[Applicable, Steps]:
        """The rules that apply in `state`, and the trace's view of every rule."""
        found = self._by_state.get(state)
        if found is not None:
            return found
        rules = self.group.rules
        applicable = tuple(
            (rule, rule.when.evaluate if rule.when is not None else None)
            for rule in rules
            if rule.states is None or state in rule.states
        )
        steps = tuple(
            (
                rule.name,
                rule.location.line,
                rule.when.source if rule.when else "",
                RuleStep(rule.name, rule.location.line, True, rule.when.source if rule.when else "")
                if rule.states is not None and state not in rule.states
                else None,
            )
            for rule in rules
        )
        if len(self._by_state) < MAX_STATES:
            self._by_state[state] = (applicable, steps)
        return applicable, steps


def _walker(names: tuple[str, ...]) -> Callable[[Obj], Any]:
    """A reader of a path of plain names (`status.phase`): a walk of dicts, as FieldPath.first reads it."""

    def walk(obj: Obj) -> Any:
        node: Any = obj
        for name in names:
            if not isinstance(node, dict):
                return None
            node = node.get(name)
        return node

    return walk
