"""Fixtures of the chart end-to-end tests: Helm's availability, and the RBAC check moved to the end of the session
(it reads the operator calls every other end-to-end test of the session recorded, see calls.py)."""

from __future__ import annotations

import pytest
from chart.rendering import helm_unavailable_reason

RBAC_CHECK = "tests/e2e/chart/test_rbac_calls.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the RBAC check after every other test, whatever the order of collection."""
    last = [item for item in items if RBAC_CHECK in item.nodeid]
    if last:
        items[:] = [item for item in items if RBAC_CHECK not in item.nodeid] + last


@pytest.fixture(scope="session")
def helm() -> None:
    """Skip, printing why, when helm-python-sdk cannot render here."""
    reason = helm_unavailable_reason()
    if reason is not None:
        print(reason)
        pytest.skip(reason)
