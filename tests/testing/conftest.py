"""Fixtures of the fixture runner's tests: a neutral rule set (tests/testing/rules: Widgets running Jobs,
Gadgets whose rule can fail, Toggles that never settle), and a way to write a fixture into a temporary
directory, load it and run it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from engine.testing.load import Suite, load_suite
from engine.testing.results import FixtureResult
from engine.testing.runner import run_fixture

from .helpers import fixture_text

Write = Callable[..., Path]
Run = Callable[..., FixtureResult]
Load = Callable[..., Suite]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """Write fixture text (as given) to a file in a temporary directory; returns its path."""

    def _write(text: str, name: str = "case.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    return _write


@pytest.fixture
def load(write: Write) -> Load:
    """Write fixture text and load it; returns the Suite (problems included)."""

    def _load(text: str, name: str = "case.yaml") -> Suite:
        return load_suite([write(text, name)])

    return _load


@pytest.fixture
def run(load: Load) -> Run:
    """Load one fixture body (see fixture_text), check it loaded without problems, and run it."""

    def _run(body: str) -> FixtureResult:
        suite = load(fixture_text(body))
        assert not suite.problems, "\n".join(map(str, suite.problems))
        assert len(suite.fixtures) == 1
        return run_fixture(suite.fixtures[0])

    return _run
