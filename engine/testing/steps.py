"""One raw step (a shape-checked mapping) -> a `Step`, with the checks the schema cannot express.

Where this sits: called by engine.testing.load for every step of every fixture, after the schema. It
checks that a step does exactly one thing, that object references and durations parse, that a step which
runs the rules says what it expects (no step that cannot fail), that a world change expects only the state
of objects, and that every rule an expectation names exists in the rule set (with a suggestion when it
looks like a typo). Problems are collected with their locations; nothing is raised or run.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.errors import Problem
from engine.model import Obj
from engine.spec.loader import Positions
from engine.spec.ruleset import RuleSet
from engine.testing.fixture import (
    DEFAULT_MAX_ROUNDS,
    ErrorExpectation,
    Expectation,
    Selector,
    Step,
    StepKind,
    plain,
)
from engine.testing.schema import ACTION_KEYS, STEP_KINDS, WORLD_EXPECT_KEYS

ObjectsOf = Callable[[dict[str, Any], Path, Positions, tuple[Any, ...]], list[Obj]]
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
ASSERTIONS = ("fired", "actions", "error", "objects", "absent", "events")


def parse_duration(value: Any) -> float | None:
    """Seconds from `90`, `"90s"`, `"5m"`, `"1h30m"`, `"2d"`, `"250ms"`; None when it does not parse."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = _DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


def parse_selector(value: Any) -> Selector | str:
    """A Selector from `Kind/name`, `Kind/namespace/name` or a mapping; an error message otherwise."""
    if isinstance(value, dict):
        return Selector(
            kind=str(value["kind"]),
            name=str(value["name"]),
            namespace=str(value["namespace"]) if "namespace" in value else None,
            api_version=str(value.get("apiVersion", "")),
        )
    parts = str(value).split("/")
    if len(parts) == 2 and all(parts):
        return Selector(parts[0], parts[1])
    if len(parts) == 3 and parts[0] and parts[2]:
        return Selector(parts[0], parts[2], parts[1])
    return f"expected `Kind/name` or `Kind/namespace/name`, found {value!r}"


class StepReader:
    """Reads the steps of one fixture against its compiled rule set."""

    def __init__(
        self,
        ruleset: RuleSet | None,
        positions: Positions,
        base: Path,
        problems: list[Problem],
        objects_of: ObjectsOf,
    ) -> None:
        self.rule_names = [rule.name for _doc, _group, rule in ruleset.rules()] if ruleset is not None else None
        self.positions = positions
        self.base = base
        self.problems = problems
        self.objects_of = objects_of

    def problem(self, path: tuple[Any, ...], message: str, code: str = "step") -> None:
        self.problems.append(Problem(self.positions.at(path), message, code))

    def step(self, index: int, raw: dict[str, Any]) -> Step | None:
        """The step at `spec.steps[index]`, or None (with problems recorded) when it is not usable."""
        path = ("spec", "steps", index)
        before = len(self.problems)
        kinds = [key for key in STEP_KINDS if key in raw]
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            self.problem(path, f"a step does exactly one of {', '.join(STEP_KINDS)} (found: {found})")
            return None
        kind = StepKind(kinds[0])
        value = raw[kind.value]
        fields: dict[str, Any] = {}
        if kind is StepKind.SETTLE:
            if value is not True:
                self.problem((*path, "settle"), "`settle` takes `true` (to not settle, leave the step out)")
            fields["max_rounds"] = int(raw.get("maxSteps", DEFAULT_MAX_ROUNDS))
        elif "maxSteps" in raw:
            self.problem((*path, "maxSteps"), "`maxSteps` bounds a `settle` step; this step does not settle")
        if kind is StepKind.APPLY:
            objects = self.objects_of(value, self.base, self.positions, (*path, "apply"))
            if len(objects) != 1 and len(self.problems) == before:
                self.problem((*path, "apply"), f"`apply` takes one object (found {len(objects)})")
            fields["body"] = objects[0] if objects else None
        elif kind is StepKind.PATCH:
            fields["target"] = self._selector(value["target"], (*path, "patch", "target"))
            fields["body"] = plain(value["merge"])
        elif kind is StepKind.ADVANCE:
            seconds = parse_duration(value)
            if seconds is None or seconds <= 0:
                self.problem(
                    (*path, "advance"), f"expected a positive duration such as 90s, 5m, 1h30m or 2d, found {value!r}"
                )
            fields["seconds"] = seconds or 0.0
        elif kind is not StepKind.SETTLE:
            fields["target"] = self._selector(value, (*path, kind.value))
        expect = self._expect(kind, raw.get("expect"), (*path, "expect"), path)
        if len(self.problems) > before:
            return None
        return Step(
            index=index + 1,
            kind=kind,
            name=str(raw.get("name", "")),
            expect=expect,
            location=self.positions.at(path),
            **fields,
        )

    def _selector(self, value: Any, path: tuple[Any, ...]) -> Selector | None:
        parsed = parse_selector(value)
        if isinstance(parsed, str):
            self.problem(path, parsed, "reference")
            return None
        return parsed

    def _expect(self, kind: StepKind, raw: Any, path: tuple[Any, ...], step: tuple[Any, ...]) -> Expectation | None:
        if raw is None:
            if kind.runs_rules:
                self.problem(
                    step,
                    f"this `{kind.value}` step needs `expect` (or `expect: nothing`): without it the step could never fail",
                    "vacuous",
                )
            return None
        location = self.positions.at(path)
        if isinstance(raw, str):
            if raw != "nothing":
                self.problem(path, f"expected `nothing` or a mapping, found {raw!r}")
            elif not kind.runs_rules:
                self.problem(path, f"`expect: nothing` is about rules, and a `{kind.value}` step runs none")
            return Expectation(nothing=True, location=location)
        given = [key for key in ASSERTIONS if key in raw]
        if not given:
            self.problem(path, f"`expect` checks nothing: give at least one of {', '.join(ASSERTIONS)}", "vacuous")
        if not kind.runs_rules:
            for key in (*(k for k in given if k not in WORLD_EXPECT_KEYS), *(["exact"] if "exact" in raw else [])):
                self.problem(
                    (*path, key),
                    f"{'an' if kind.value[0] in 'aeiou' else 'a'} `{kind.value}` step runs no rule: it can only expect "
                    f"{' and '.join(WORLD_EXPECT_KEYS)}",
                )
        for position, name in enumerate(raw.get("fired") or []):
            self._rule_name(name, (*path, "fired", position))
        error = raw.get("error")
        error_expectation = None
        if isinstance(error, str):
            error_expectation = ErrorExpectation(error)
        elif isinstance(error, dict):
            rule = str(error.get("rule", ""))
            if rule:
                self._rule_name(rule, (*path, "error", "rule"))
            error_expectation = ErrorExpectation(str(error["message"]), rule)
        return Expectation(
            exact=bool(raw.get("exact")),
            fired=tuple(str(name) for name in raw.get("fired") or ()),
            actions=tuple(self._action(item, (*path, "actions", i)) for i, item in enumerate(raw.get("actions") or [])),
            error=error_expectation,
            objects=tuple(
                self._expected_object(o, (*path, "objects", i)) for i, o in enumerate(raw.get("objects") or [])
            ),
            absent=tuple(
                selector
                for i, ref in enumerate(raw.get("absent") or [])
                if (selector := self._selector(ref, (*path, "absent", i))) is not None
            ),
            events=tuple(plain(event) for event in raw.get("events") or ()),
            location=location,
        )

    def _rule_name(self, name: Any, path: tuple[Any, ...]) -> None:
        if self.rule_names is None or name in self.rule_names:
            return  # without a compiled rule set, rule names cannot be checked (its problems are reported)
        close = difflib.get_close_matches(str(name), self.rule_names, n=1)
        hint = f"; did you mean `{close[0]}`?" if close else f" (rules: {', '.join(self.rule_names)})"
        self.problem(path, f"no rule named `{name}` in the rules under test{hint}", "unknown-rule")

    def _action(self, item: dict[str, Any], path: tuple[Any, ...]) -> Any:
        keys = [key for key in ACTION_KEYS if key in item]
        if len(keys) != 1:
            self.problem(
                path,
                f"an expected action has exactly one of {', '.join(ACTION_KEYS)} (found: {', '.join(keys) or 'none'})",
            )
        return plain(item)

    def _expected_object(self, item: dict[str, Any], path: tuple[Any, ...]) -> Obj:
        meta = item.get("metadata")
        if not isinstance(item.get("kind"), str) or not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
            self.problem(path, "an expected object needs `kind` and `metadata.name` (to find it)", "object")
        result: Obj = plain(item)
        return result
