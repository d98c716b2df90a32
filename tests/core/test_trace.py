"""The trace as the evaluator records it (compact records) and as callers read it (GroupTrace, summaries)."""

from __future__ import annotations

from engine.core.trace import Failed, GroupRecord, RuleStep, Trace

SKIPPED = RuleStep("paused-only", 9, True, "paused")
STEPS = (
    ("first", 3, "a", None),
    ("paused-only", 9, "paused", SKIPPED),
    ("second", 12, "b", None),
    ("third", 15, "", None),
    ("paused-only", 9, "paused", SKIPPED),
)


def record(outcomes: list[object], stopped: bool, match: str = "first") -> Trace:
    trace = Trace()
    trace.record(GroupRecord("doc", "main", match, "Running", STEPS, outcomes, stopped))
    return trace


def test_a_first_match_group_lists_the_rules_up_to_the_winner() -> None:
    """A group that stopped at its winner lists the rules before it (skipped ones included) and the winner, not
    what follows; each evaluated rule has its condition's value and whether it matched."""
    (group,) = record([False, "yes"], stopped=True).groups
    assert (group.document, group.group, group.match, group.state, group.winner) == (
        "doc",
        "main",
        "first",
        "Running",
        "second",
    )
    assert group.steps == [
        RuleStep("first", 3, condition="a", value=False, matched=False),
        SKIPPED,
        RuleStep("second", 12, condition="b", value="yes", matched=True),
    ]


def test_a_group_that_ran_through_lists_every_rule() -> None:
    """A group that did not stop (no match, or match: all) lists every rule, the skipped ones after the last too;
    an all-match group has no winner (each matching rule fired), a first-match one the rule that matched."""
    (group,) = record([[], True, True], stopped=False, match="all").groups
    assert [step.rule for step in group.steps] == ["first", "paused-only", "second", "third", "paused-only"]
    assert [step.matched for step in group.steps] == [False, False, True, True, False]
    assert group.winner is None
    (first,) = record([[], True], stopped=True, match="first").groups
    assert first.winner == "second"


def test_a_failed_condition_is_a_step_with_its_error() -> None:
    """A condition that failed is a step with the error and no value; a first-match group stops there."""
    trace = record([Failed("'a': boom")], stopped=True)
    assert trace.groups[0].steps == [RuleStep("first", 3, condition="a", error="'a': boom")]
    assert trace.why_not("second") == "rule `first` failed first in group `main`, so it was not reached"


def test_related_values_are_summarised_when_read() -> None:
    """Looked-up values are recorded as they are and summarised (kind/namespace/name, lists of them) when
    `related` is read, in the order they were looked up."""
    trace = Trace()
    job = {"kind": "Job", "metadata": {"name": "j", "namespace": "ns"}}
    trace.looked_up("doc.job", job)
    trace.looked_up("doc.none", None)
    trace.looked_up("doc.jobs", [job] * 6)
    assert trace.related == {
        "doc.job": "Job/ns/j",
        "doc.none": None,
        "doc.jobs": ["Job/ns/j"] * 5 + ["..."],
    }
    trace.looked_up("doc.later", {"kind": "Node", "metadata": {"name": "n"}})
    assert list(trace.related) == ["doc.job", "doc.none", "doc.jobs", "doc.later"]
    assert trace.related["doc.later"] == "Node/n"


def test_traces_compare_by_content() -> None:
    """A trace made from records equals one made from the same GroupTraces (as fixtures build them)."""
    recorded = record([False, "yes"], stopped=True)
    built = Trace({}, {}, [record([False, "yes"], stopped=True).groups[0]])
    assert recorded == built
    assert recorded != record([False, False], stopped=False)
