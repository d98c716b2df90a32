"""Partial and exact matching of expected YAML against actual values, the YAML form of actions, and diffs."""

from __future__ import annotations

from engine.model import (
    CreateObject,
    DeleteObject,
    EmitEvent,
    EventType,
    ObjectRef,
    PatchObject,
    PatchType,
    Propagation,
)
from engine.testing.match import action_form, action_text, diff, match, match_list

from .conftest import Run
from .helpers import full, message

REF = ObjectRef("example.dev/v1", "Widget", "default", "w1", "uid-1")


def test_partial_mapping_compares_only_the_given_fields() -> None:
    """A mapping matches when the fields it gives match; others are ignored."""
    assert match({"a": 1}, {"a": 1, "b": 2}) is None
    assert str(match({"a": 1}, {"a": 2})) == "at a: expected 1, found 2"
    assert str(match({"a": {"b": "x"}}, {"a": {}})) == "at a.b: expected x, found nothing (the field is absent)"


def test_null_expects_the_field_absent_or_null() -> None:
    """`field: null` in a partial expectation matches an absent or null field, and nothing else."""
    assert match({"a": None}, {}) is None
    assert match({"a": None}, {"a": None}) is None
    assert str(match({"a": None}, {"a": 0})) == "at a: expected null, found 0"


def test_partial_lists_match_in_order_with_gaps() -> None:
    """Expected items match actual items in order; actual items may come between them."""
    actual = [{"n": 1}, {"n": 2}, {"n": 3}]
    assert match([{"n": 1}, {"n": 3}], actual) is None
    assert str(match([{"n": 3}, {"n": 1}], actual)) == (
        "expected item 2 ({n: 1}): no item is left after the ones matched before it (3 in all)"
    )
    assert str(match([{"n": 4}], actual)) == (
        "expected item 1 ({n: 4}) matches no item; closest is item 1: at [0].n: expected 4, found 1"
    )
    assert str(match([{"n": 1}], [])) == "expected item 1 ({n: 1}): there is none"


def test_booleans_never_equal_numbers_and_types_matter() -> None:
    """True is not 1 and "1" is not 1, though Python's == says the first; 1 and 1.0 are the same number."""
    assert str(match(True, 1)) == "expected true, found 1"
    assert str(match("1", 1)) == "expected '1', found 1"
    assert match(1, 1.0) is None


def test_exact_matching_refuses_extra_fields_and_items() -> None:
    """Exact matching compares whole values: extra fields and extra items fail."""
    assert str(match({"a": 1}, {"a": 1, "b": 2}, exact=True)) == "unexpected field(s) b"
    assert str(match_list([1], [1, 2], True, "xs")) == "at xs: expected 1 item(s), found 2"
    assert match({"a": [1, {"b": 2}]}, {"a": [1, {"b": 2}]}, exact=True) is None
    assert str(match({"a": None}, {}, exact=True)) == "at a: expected null, found nothing (the field is absent)"


def test_action_forms_name_every_kind_of_action() -> None:
    """Each engine action has a YAML form: create (the object), delete, patch (merge or json), status (set), event."""
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "default"}}
    assert action_form(CreateObject(job)) == {"create": job}
    assert action_form(DeleteObject(REF, Propagation.FOREGROUND)) == {
        "delete": {"apiVersion": "example.dev/v1", "kind": "Widget", "namespace": "default", "name": "w1",
                   "propagation": "Foreground"}
    }  # fmt: skip
    assert action_form(PatchObject(REF, {"spec": {"x": 1}}))["patch"]["merge"] == {"spec": {"x": 1}}
    assert action_form(PatchObject(REF, [{"op": "add"}], PatchType.JSON))["patch"]["json"] == [{"op": "add"}]
    assert action_form(PatchObject(REF, {"status": {"phase": "A"}}, subresource="status"))["status"]["set"] == {
        "phase": "A"
    }
    event = action_form(EmitEvent(REF, EventType.WARNING, "Bad", "it broke"))["event"]
    assert (event["kind"], event["name"], event["type"], event["reason"], event["message"]) == (
        "Widget", "w1", "Warning", "Bad", "it broke",
    )  # fmt: skip
    assert "uid" not in event
    assert action_text(CreateObject({"kind": "Job", "metadata": {"generateName": "j-", "namespace": "n"}})) == (
        "create Job/n/j-*"
    )


def test_diff_cuts_actual_down_to_the_expected_fields() -> None:
    """The diff shows expected against actual reduced to the expected fields, so only differences stand out."""
    expected = [{"create": {"kind": "Job", "spec": {"image": "a"}}}]
    actual = [{"create": {"kind": "Job", "spec": {"image": "b", "other": 1}, "metadata": {"name": "j"}}}]
    assert diff(expected, actual).splitlines() == [
        "--- expected",
        "+++ actual",
        "@@ -1,4 +1,4 @@",
        " - create:",
        "     kind: Job",
        "     spec:",
        "-      image: a",
        "+      image: b",
    ]


def test_exact_actions_must_be_complete(run: Run) -> None:
    """With `exact: true` the expected actions are the whole list, each action whole; partial ones fail."""
    result = run(
        """
        given: [<w1>]
        steps:
          - evaluate: Widget/w1
            expect:
              exact: true
              actions:
                - create: {kind: Job}
        """
    )
    assert message(result) == "the actions differ: at actions[0].create: unexpected field(s) apiVersion, metadata, spec"


def test_exact_actions_pass_when_whole(run: Run) -> None:
    """The same step passes with every action written out in full."""
    result = run(
        """
        clock: "2026-01-01T00:00:00Z"
        given: [<w1>]
        steps:
          - evaluate: Widget/w1
            expect:
              exact: true
              fired: [start]
              actions:
                - create:
                    apiVersion: batch/v1
                    kind: Job
                    metadata:
                      name: w1-run
                      namespace: default
                      labels: {app.example.dev/widget: w1}
                      ownerReferences:
                        - {apiVersion: example.dev/v1, kind: Widget, name: w1,
                           uid: 00000000-0000-0000-0000-000000000001, controller: true}
                    spec:
                      backoffLimit: 2
                      template: {spec: {restartPolicy: Never, containers: [{name: main, image: "busybox:1.36"}]}}
                - status: {apiVersion: example.dev/v1, kind: Widget, namespace: default, name: w1,
                           set: {phase: Running, since: "2026-01-01T00:00:00Z"}}
                - event: {apiVersion: example.dev/v1, kind: Widget, namespace: default, name: w1,
                          type: Normal, reason: Started, message: Widget w1 started}
        """
    )
    assert result.passed, full(result)


def test_partial_actions_allow_others_between(run: Run) -> None:
    """Partial expectations name some actions in order; the status write between them does not matter."""
    result = run(
        """
        given: [<w1>]
        steps:
          - evaluate: Widget/w1
            expect:
              actions:
                - create: {kind: Job, metadata: {name: w1-run}}
                - event: {reason: Started}
        """
    )
    assert result.passed, full(result)


def test_an_action_mismatch_shows_the_actions_and_a_diff(run: Run) -> None:
    """A failed action expectation lists the actual actions with their rules and shows the diff."""
    result = run(
        """
        given: [<w1>]
        steps:
          - evaluate: Widget/w1
            expect:
              actions:
                - create: {kind: Job, metadata: {name: w1-job}}
        """
    )
    text = full(result)
    assert "  actual actions:\n  - create Job/default/w1-run  (rule `start`)\n  - status Widget/default/w1" in text
    assert "  -      name: w1-job\n  +      name: w1-run\n  +- status:" in text
