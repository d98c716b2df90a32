"""Fixtures of the user-guide tests: the e2e harness's simulator and operators, a kubectl user, and the record of
the operator's API calls for the RBAC check (tests/e2e/chart/test_rbac_calls.py).

`sim` here is the harness's `sim` (tests/e2e/conftest.py: our CRDs, fast Jobs), which also records, when the test
ends, every request the operator made, as a run under the chart's default RBAC (the harness starts the operator
cluster-wide without leader election, as the default values do).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.chart.calls import SESSION
from kubesim import KubeSim

from .user import User


@pytest.fixture
def sim(sim: KubeSim, request: pytest.FixtureRequest) -> Iterator[KubeSim]:
    """The harness's simulator; the operator's calls to it are recorded for the RBAC check when the test ends."""
    yield sim
    SESSION.record(sim, source=request.node.nodeid)


@pytest.fixture
def user(sim: KubeSim, tmp_path: Path) -> User:
    """A kubectl user of `sim` (skipped, the reason printed, without kubectl)."""
    return User.at(sim.kubeconfig_path, tmp_path / "kubectl-home")
