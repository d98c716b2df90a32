"""Must-fail fixtures (tests/testing/must-fail/): each one breaks an expectation on purpose and names the failure
it must produce, so the runner's own strictness is tested; and the `mustFail` verdict itself."""

from __future__ import annotations

import io

import pytest

from engine.testing.command import run_tests
from engine.testing.fixture import Fixture
from engine.testing.load import load_suite
from engine.testing.runner import run_fixture

from .conftest import Run
from .helpers import MUST_FAIL, message

SUITE = load_suite([MUST_FAIL])


def test_the_must_fail_folder_loads_and_every_fixture_names_its_failure() -> None:
    """Every document of the folder loads without problems and has a `mustFail` message."""
    assert SUITE.problems == ()
    assert len(SUITE.fixtures) >= 20
    assert all(fixture.must_fail for fixture in SUITE.fixtures)


@pytest.mark.parametrize("fixture", SUITE.fixtures, ids=lambda f: f.name)
def test_must_fail_fixture_fails_with_its_message(fixture: Fixture) -> None:
    """The fixture's steps fail, with a failure whose text contains the message the fixture names."""
    result = run_fixture(fixture)
    assert result.observed is not None, f"{fixture.id} passed, but it must fail with {fixture.must_fail!r}"
    assert fixture.must_fail in result.observed.render(), result.observed.render()
    assert result.passed


def test_the_command_passes_the_must_fail_folder() -> None:
    """`arcane rules test` on the folder exits 0: each fixture failed as it must (-v says so)."""
    out = io.StringIO()
    assert run_tests([str(MUST_FAIL), "-v"], stdout=out, stderr=io.StringIO()) == 0
    assert (
        "PASSED tests/testing/must-fail/wrong-rule-fired.yaml::wrong-rule-fired (1 step) (failed as it must:"
        in out.getvalue()
    )


def test_a_must_fail_fixture_that_passes_fails(run: Run) -> None:
    """A fixture with `mustFail` whose steps all pass is a failure: the strictness it tests is gone."""
    result = run(
        """
        mustFail: anything
        given: [<w1>]
        steps:
          - evaluate: Widget/w1
            expect: {fired: [start]}
        """
    )
    assert (
        message(result) == "expected this fixture to fail with a message containing 'anything', but every step passed"
    )


def test_a_must_fail_fixture_failing_otherwise_fails(run: Run) -> None:
    """A fixture with `mustFail` that fails with another message is a failure that quotes both."""
    result = run(
        """
        mustFail: expected rule `pause` to fire
        given: [<w1>]
        steps:
          - evaluate: Widget/w1
            expect: {fired: [finish]}
        """
    )
    assert message(result) == (
        "expected a failure containing 'expected rule `pause` to fire', but the fixture failed otherwise: "
        "expected rule `finish` to fire, but `start` fired instead"
    )


def test_the_rules_that_fired_instead_are_those_of_the_expected_rules_group(run: Run) -> None:
    """ "Fired instead" names the rules of the expected rule's group only: an all-match group's rule that fired
    beside it (label-job) is not what fired instead of `pause`, so a `mustFail` written from the message of one
    group still matches when another group fires too."""
    result = run(
        """
        given:
          - {apiVersion: example.dev/v1, kind: Widget, metadata: {name: w1, uid: u1}, spec: {image: 'x', tier: gold}, status: {phase: Running}}
          - apiVersion: batch/v1
            kind: Job
            metadata: {name: w1-run, labels: {app.example.dev/tier: silver}, ownerReferences: [{apiVersion: example.dev/v1, kind: Widget, name: w1, uid: u1, controller: true}]}
        steps:
          - evaluate: Widget/w1
            expect: {fired: [pause]}
        """
    )
    assert message(result) == "expected rule `pause` to fire, but `keep-running` fired instead"
