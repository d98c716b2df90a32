"""Checking one step's record against its expectation: the first thing that does not hold becomes a `Failure`.

Where this sits: engine.testing.runner calls `check` after each step. The order of checks is the order a
reader needs: the step could not run; it did not settle; an error nobody expected; an expected rule that did
not fire (with the rule that fired instead, why the expected one did not, and the trace); actions; events;
objects; absent objects. A step expecting `nothing` fails on any action or error. Nothing passes by
default: a step that runs rules has an expectation (the loader insists), and every expectation is checked
against what actually happened. This module only reads the record and the world.
"""

from __future__ import annotations

from engine.core.trace import Trace, render
from engine.spec.ruleset import Match, Rule, RuleSet
from engine.testing.fixture import Expectation, Step
from engine.testing.match import action_form, action_text, diff, dump, match, match_list
from engine.testing.results import Failure, StepRecord
from engine.testing.steps import parse_selector
from engine.testing.world import World


def check(step: Step, record: StepRecord, world: World, ruleset: RuleSet) -> Failure | None:
    """The first way the step fails its expectation, or None when it holds."""
    return _Checker(step, record, world, ruleset).run()


class _Checker:
    def __init__(self, step: Step, record: StepRecord, world: World, ruleset: RuleSet) -> None:
        self.step = step
        self.record = record
        self.world = world
        self.ruleset = ruleset

    def fail(self, message: str, *details: str, trace: str = "") -> Failure:
        return Failure(
            self.step.index, self.step.title, message, tuple(d for d in details if d), trace, self.step.location
        )

    def run(self) -> Failure | None:
        record, expect = self.record, self.step.expect
        if record.problem:
            return self.fail(record.problem, trace=self.only_trace())
        if not record.settled:
            writers = "\n".join(f"- {line}" for line in record.still_writing)
            return self.fail(
                f"did not settle within {record.rounds} rounds (maxSteps): rules kept changing the cluster",
                f"still writing in round {record.rounds}:\n{writers}",
            )
        if expect is None:
            return None
        if expect.nothing:
            return self.nothing()
        for check in (self.errors, self.fired, self.actions, self.events, self.objects, self.absent):
            failure = check(expect)
            if failure is not None:
                return failure
        return None

    # --- traces ---------------------------------------------------------------------------------------------

    def only_trace(self) -> str:
        """The trace when the step made exactly one evaluation (a settle's many would drown the message)."""
        evaluations = self.record.evaluations
        return render(evaluations[0].evaluation.trace) if len(evaluations) == 1 else ""

    def actual_actions(self) -> str:
        lines = [f"- {action_text(action)}  (rule `{rule}`)" for rule, action in self.record.actions]
        return "actual actions:\n" + ("\n".join(lines) if lines else "(none)")

    # --- the checks, in order ---------------------------------------------------------------------------------

    def nothing(self) -> Failure | None:
        record = self.record
        if not record.actions and not record.errors:
            return None
        produced = sorted({rule for rule, _action in record.actions} | {error.rule for error in record.errors})
        errors = [f"error from rule `{e.rule}` on {e.key}: {e.message}" for e in record.errors]
        return self.fail(
            f"expected nothing, but {', '.join(f'`{r}`' for r in produced)} produced "
            f"{len(record.actions)} action(s) and {len(record.errors)} error(s)",
            self.actual_actions(),
            "\n".join(errors),
            trace=self.only_trace(),
        )

    def errors(self, expect: Expectation) -> Failure | None:
        record = self.record
        wanted = expect.error
        if wanted is None:
            if not record.errors:
                return None
            first = record.errors[0]
            return self.fail(
                f"rule `{first.rule}` failed on {first.key}: {first.message}",
                "(expect it with `error:` if the failure is the point of the step)",
                trace=self.only_trace(),
            )
        for error in record.errors:
            if wanted.message in error.message and (not wanted.rule or error.rule == wanted.rule):
                return None
        by = f" from rule `{wanted.rule}`" if wanted.rule else ""
        seen = "\n".join(f"- rule `{e.rule}` on {e.key}: {e.message}" for e in record.errors)
        return self.fail(
            f"expected an error{by} containing {wanted.message!r}, but "
            + ("there was none" if not record.errors else "the errors were different"),
            f"errors:\n{seen}" if seen else "",
            trace=self.only_trace(),
        )

    def fired(self, expect: Expectation) -> Failure | None:
        fired = list(dict.fromkeys(self.record.fired))
        for rule in expect.fired:
            if rule in fired:
                continue
            # What fired in the expected rule's own group(s): rules of other groups did not fire *instead*.
            neighbours = self._group_rules(rule)
            instead = [name for name in fired if name in neighbours] if neighbours else fired
            listed = ", ".join(f"`{name}`" for name in instead)
            message = f"expected rule `{rule}` to fire, but " + (
                f"{listed} fired instead" if instead else "no rule of its group fired" if fired else "no rule fired"
            )
            why, trace = self.why_not(rule)
            return self.fail(message, f"`{rule}` did not fire: {why}", trace=trace)
        if expect.exact and expect.fired:
            extra = [name for name in fired if name not in expect.fired]
            if extra:
                return self.fail(
                    f"rule(s) {', '.join(f'`{n}`' for n in extra)} fired too (`exact: true` lists every rule that fires)",
                    trace=self.only_trace(),
                )
        return None

    def _group_rules(self, rule: str) -> set[str]:
        """Every rule of the groups that hold `rule` (empty when no group does)."""
        return {
            other.name
            for document in self.ruleset.documents
            for group in document.groups
            if any(candidate.name == rule for candidate in group.rules)
            for other in group.rules
        }

    def why_not(self, rule: str) -> tuple[str, str]:
        """Why `rule` did not fire, from the last evaluation whose document holds it; and that trace."""
        where = next(((doc.name, group, r) for doc, group, r in self.ruleset.rules() if r.name == rule), None)
        if where is None:
            return "it is not in the rules under test", ""
        document, group, found = where
        for evaluated in reversed(self.record.evaluations):
            trace = evaluated.evaluation.trace
            own = [g for g in trace.groups if g.document == document]
            if not any(g.group == group.name for g in own):
                continue
            mine = Trace(trace.facts, trace.related, own)
            return f"(on {evaluated.key}) {_reason(mine, found, group.name, group.match)}", render(trace)
        keys = sorted({e.key for e in self.record.evaluations})
        return f"its document `{document}` evaluated none of the objects of this step ({', '.join(keys)})", ""

    def actions(self, expect: Expectation) -> Failure | None:
        if not expect.actions:
            return None
        actual = [action_form(action) for _rule, action in self.record.actions]
        wanted = list(expect.actions)
        failed = match_list(wanted, actual, expect.exact, "actions", "action")
        if failed is None:
            return None
        return self.fail(
            f"the actions differ: {failed}",
            self.actual_actions(),
            "diff (expected -, actual +):\n" + diff(wanted, actual, expect.exact),
            trace=self.only_trace(),
        )

    def events(self, expect: Expectation) -> Failure | None:
        if not expect.events:
            return None
        actual = [{key: value for key, value in event.items() if key != "metadata"} for event in self.record.events]
        wanted = list(expect.events)
        failed = match_list(wanted, actual, expect.exact, "events", "event")
        if failed is None:
            return None
        listed = "\n".join(f"- {e.get('type')} {e.get('reason')}: {e.get('message')}" for e in actual) or "(none)"
        return self.fail(
            f"the events differ: {failed}",
            f"events recorded in this step:\n{listed}",
            "diff (expected -, actual +):\n" + diff(wanted, actual, expect.exact),
        )

    def objects(self, expect: Expectation) -> Failure | None:
        for wanted in expect.objects:
            meta = wanted.get("metadata") or {}
            selector = parse_selector(
                {
                    "kind": wanted["kind"],
                    "name": meta["name"],
                    **({"namespace": meta["namespace"]} if "namespace" in meta else {}),
                    **({"apiVersion": wanted["apiVersion"]} if "apiVersion" in wanted else {}),
                }
            )
            assert not isinstance(selector, str)
            found = self.world.find(selector)
            if not found:
                same = self.world.named(selector.kind)
                there = f"{selector.kind} objects: {', '.join(same)}" if same else f"there is no {selector.kind}"
                return self.fail(f"expected {selector} to exist, but there is no such object", there)
            failed = match(dict(wanted), dict(found[0]))
            if failed is not None:
                return self.fail(
                    f"{selector} differs: {failed}",
                    "diff (expected -, actual +):\n" + diff(dict(wanted), dict(found[0])),
                )
        return None

    def absent(self, expect: Expectation) -> Failure | None:
        for selector in expect.absent:
            found = self.world.find(selector)
            if found:
                return self.fail(f"expected {selector} to be absent, but it exists", dump(dict(found[0])).rstrip())
        return None


def _reason(trace: Trace, rule: Rule, group: str, match_kind: Match) -> str:
    """Trace.why_not, plus what it cannot know: the state rules a rule out even when an earlier rule matched
    first (the evaluator stops at the winner), and an earlier rule's error that stopped a first-match group."""
    for traced in trace.groups:
        if traced.group != group:
            continue
        names = [s.rule for s in traced.steps]
        if rule.name in names or match_kind is not Match.FIRST:
            break
        if rule.states is not None and traced.state not in rule.states:
            states = ", ".join(sorted(rule.states))
            return f"the state was {traced.state!r}, which is not among its `from` states ({states})"
        failed = next((s for s in traced.steps if s.error), None)
        if failed is not None and traced.winner is None:
            return f"rule `{failed.rule}` failed earlier in group `{group}` ({failed.error}), so it was not reached"
    return trace.why_not(rule.name, group)
