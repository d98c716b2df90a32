"""Error decisions: evaluation errors and execution errors, the document's onError run like the operator runs
it, and `expect.error`."""

from __future__ import annotations

from .conftest import Run
from .helpers import full, message


def test_a_failed_write_runs_the_documents_on_error(run: Run) -> None:
    """Creating a Job over a foreign one fails (409, not ours); onError writes a condition and a Warning event."""
    result = run(
        """
        given:
          - <w1>
          - {apiVersion: batch/v1, kind: Job, metadata: {name: w1-run}, spec: {template: {spec: {containers: []}}}}
        steps:
          - evaluate: Widget/w1
            expect:
              error: {rule: start, message: "already exists and is not ours (owners: none)"}
              fired: [start]
              actions:
                - create: {kind: Job}
                - status: {set: {conditions: [{type: Healthy, status: "False", reason: Error}]}}
                - event: {type: Warning, reason: Error}
              objects:
                - kind: Widget
                  metadata: {name: w1}
                  status: {phase: null, conditions: [{type: Healthy, status: "False", reason: Error}]}
              events:
                - {type: Warning, reason: Error, involvedObject: {kind: Widget, name: w1}}
        """
    )
    assert result.passed, full(result)


def test_an_evaluation_error_runs_on_error_too(run: Run) -> None:
    """A condition that fails to evaluate is an error decision; the document's onError decision is executed."""
    result = run(
        """
        given:
          - {apiVersion: example.dev/v1, kind: Gadget, metadata: {name: g}, spec: {size: 12}}
        steps:
          - evaluate: Gadget/g
            expect:
              error: "In function length(), invalid type for value: 12"
              objects:
                - kind: Gadget
                  metadata: {name: g}
                  status: {conditions: [{type: Healthy, status: "False"}]}
        """
    )
    assert result.passed, full(result)


def test_a_builder_requirement_is_an_error_with_the_authors_message(run: Run) -> None:
    """A builder's `require` that does not hold fails the rule with the rule author's message."""
    result = run(
        """
        given:
          - {apiVersion: example.dev/v1, kind: Widget, metadata: {name: w1}, spec: {}}
        steps:
          - evaluate: Widget/w1
            expect:
              error: {rule: start, message: Widget w1 has no spec.image}
        """
    )
    assert result.passed, full(result)


def test_an_error_from_another_rule_does_not_satisfy_the_expectation(run: Run) -> None:
    """`error.rule` must match: the same message from another rule fails, listing the errors there were."""
    result = run(
        """
        given:
          - {apiVersion: example.dev/v1, kind: Widget, metadata: {name: w1}, spec: {}}
        steps:
          - evaluate: Widget/w1
            expect:
              error: {rule: pause, message: no spec.image}
        """
    )
    assert (
        message(result)
        == "expected an error from rule `pause` containing 'no spec.image', but the errors were different"
    )
    assert result.failure is not None
    assert result.failure.details == ("errors:\n- rule `start` on Widget/default/w1: Widget w1 has no spec.image",)


def test_an_unexpected_error_fails_even_when_the_rule_was_expected(run: Run) -> None:
    """Expecting the rule that errs, without `error:`, fails: an error is never silently a pass."""
    result = run(
        """
        given:
          - {apiVersion: example.dev/v1, kind: Widget, metadata: {name: w1}, spec: {}}
        steps:
          - evaluate: Widget/w1
            expect: {fired: [start]}
        """
    )
    assert message(result) == "rule `start` failed on Widget/default/w1: Widget w1 has no spec.image"
