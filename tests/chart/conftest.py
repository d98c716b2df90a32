"""Fixtures of the chart tests: Helm's availability, and renderings cached per values set."""

from __future__ import annotations

import pytest

from .rendering import Rendered, Scenario, helm_unavailable_reason, render, render_scenario, scenarios

SCENARIOS = scenarios()


@pytest.fixture(scope="session")
def helm() -> None:
    """Skip, saying why, when helm-python-sdk cannot render on this machine."""
    reason = helm_unavailable_reason()
    if reason is not None:
        print(reason)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def default(helm: None) -> Rendered:
    """The chart rendered with its default values."""
    return render()


@pytest.fixture(scope="session", params=SCENARIOS, ids=[s.name for s in SCENARIOS])
def scenario(request: pytest.FixtureRequest) -> Scenario:
    """Each ci/*-values.yaml scenario in turn."""
    chosen: Scenario = request.param
    return chosen


@pytest.fixture(scope="session")
def rendered(helm: None, scenario: Scenario) -> Rendered:
    """The chart rendered with the current scenario's values."""
    return render_scenario(scenario)


@pytest.fixture(scope="session")
def by_scenario(helm: None) -> dict[str, Rendered]:
    """Every scenario's rendering, by scenario name."""
    return {s.name: render_scenario(s) for s in SCENARIOS}
