"""The pytest integration: every rule fixture becomes its own pytest case, so `pytest` runs them with the rest.

Where this sits: beside `arcane rules test` (engine.testing.command), on the same loader and runner. A test
module needs one import and one line:

    from engine.testing.pytest_plugin import rule_fixture_test

    test_rule_fixtures = rule_fixture_test("tests/fixtures", rules="rules")

Loading happens at collection: a load problem in any fixture makes collection fail, listing every problem
(as exit code 2 does on the command line). A failing fixture fails its case with the same text the command
prints (the step, the message, why the expected rule did not fire, the diff, the trace). With no fixture
found, pytest reports the test as skipped ("got empty parameter set"), never as passed. This is the only
module of engine.testing that imports pytest; the command does not need it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from _pytest.mark.structures import ParameterSet

from engine.errors import EngineError, Problem
from engine.testing.fixture import Fixture
from engine.testing.load import LoadOptions, load_suite
from engine.testing.report import render_failure, render_problems
from engine.testing.runner import run_fixture

PathLike = str | Path


class FixtureLoadError(EngineError):
    """Fixtures (or their rules) could not be loaded; `problems` lists all of them, located."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(render_problems(problems))


def _many(value: PathLike | Sequence[PathLike] | None) -> tuple[Path, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str | Path) else list(value)
    return tuple(Path(item).resolve() for item in items)


def fixture_params(
    *paths: PathLike,
    rules: PathLike | Sequence[PathLike] | None = None,
    crds: PathLike | Sequence[PathLike] | None = None,
) -> list[ParameterSet]:
    """One `pytest.param` per fixture found under `paths` (id: `file::name`); raises FixtureLoadError."""
    suite = load_suite(list(paths), LoadOptions(_many(rules), _many(crds)))
    if suite.problems:
        raise FixtureLoadError(suite.problems)
    return [pytest.param(fixture, id=fixture.id) for fixture in suite.fixtures]


def check_fixture(fixture: Fixture) -> None:
    """Run one fixture; fail the current test with the runner's report when it does not pass."""
    result = run_fixture(fixture)
    if result.failure is not None:
        pytest.fail(render_failure(result), pytrace=False)


def rule_fixture_test(
    *paths: PathLike,
    rules: PathLike | Sequence[PathLike] | None = None,
    crds: PathLike | Sequence[PathLike] | None = None,
) -> Callable[[Fixture], None]:
    """A parametrized test function running every fixture under `paths`: assign it to a `test_*` name."""

    @pytest.mark.parametrize("rule_fixture", fixture_params(*paths, rules=rules, crds=crds))
    def test_rule_fixture(rule_fixture: Fixture) -> None:
        """The rule fixture passes: every step's expectation holds (see docs/testing-rules.md)."""
        check_fixture(rule_fixture)

    return test_rule_fixture
