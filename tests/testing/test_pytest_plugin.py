"""The pytest integration: one pytest case per fixture, failures reported as the command reports them, load
problems failing collection, and a plugin author's test module of one import and one line."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.testing.pytest_plugin import FixtureLoadError, check_fixture, fixture_params, rule_fixture_test

from .conftest import Write
from .helpers import FIXTURES, RULES, fixture_text

PASSING = fixture_text("given: [<w1>]\nsteps:\n  - evaluate: Widget/w1\n    expect: {fired: [start]}\n", "starts")
FAILING = fixture_text("given: [<w1>]\nsteps:\n  - evaluate: Widget/w1\n    expect: {fired: [pause]}\n", "pauses")


def test_fixture_params_give_one_case_per_fixture_with_its_id() -> None:
    """Each fixture becomes a pytest param whose id is `file::name`."""
    params = fixture_params(FIXTURES)
    ids = [param.id for param in params]
    assert "tests/testing/fixtures/widget-lifecycle.yaml::widget-starts-its-job" in ids
    assert len(ids) == len(set(ids))


def test_load_problems_raise_with_every_problem(write: Write, tmp_path: Path) -> None:
    """A fixture that does not load makes collection fail, listing every problem with its location."""
    write(fixture_text("steps:\n  - evaluate: Widget/w1\n"), "bad.yaml")
    with pytest.raises(FixtureLoadError) as caught:
        fixture_params(tmp_path)
    assert len(caught.value.problems) == 1
    assert str(caught.value).endswith("1 problem in the fixtures or their rules: nothing was run")


def test_check_fixture_fails_the_test_with_the_runners_report(write: Write, tmp_path: Path) -> None:
    """A failing fixture fails the pytest case with the same text as the command (why-not included)."""
    write(FAILING, "f.yaml")
    (param,) = fixture_params(tmp_path)
    with pytest.raises(pytest.fail.Exception) as caught:
        check_fixture(param.values[0])  # type: ignore[arg-type]
    assert "expected rule `pause` to fire, but `start` fired instead" in str(caught.value)
    assert "`pause` did not fire: (on Widget/default/w1) its condition `paused` was false" in str(caught.value)


def test_rule_fixture_test_is_a_parametrized_test_function() -> None:
    """`rule_fixture_test` returns a test function parametrized over the fixtures, with a docstring."""
    function = rule_fixture_test(FIXTURES, rules=RULES)
    (mark,) = [m for m in getattr(function, "pytestmark", []) if m.name == "parametrize"]
    assert mark.args[0] == "rule_fixture"
    assert len(mark.args[1]) == len(fixture_params(FIXTURES))
    assert function.__doc__


@pytest.mark.slow
def test_a_plugin_authors_module_runs_each_fixture_as_a_case(write: Write, tmp_path: Path) -> None:
    """A test module of one import and one line runs every fixture as its own pytest case."""
    write(PASSING, "fixtures/a.yaml")
    write(FAILING, "fixtures/b.yaml")
    write(
        textwrap.dedent(
            """\
            from engine.testing.pytest_plugin import rule_fixture_test

            test_rules = rule_fixture_test("fixtures")
            """
        ),
        "test_rules.py",
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_rules.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 1 passed" in done.stdout
    assert "FAILED test_rules.py::test_rules[fixtures/b.yaml::pauses]" in done.stdout
    assert "expected rule `pause` to fire, but `start` fired instead" in done.stdout
