"""Fixtures for kubesim's own tests: in-process simulators, kubectl with an isolated cache, API clients."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from simhelpers import WIDGET_CRD

from kubesim.testing import Kubectl, api_client, kubectl, kubesim, kubesim_factory, require_kubectl

__all__ = ["api_client", "kubectl", "kubesim", "kubesim_factory"]


@pytest.fixture
def widgets(kubesim: Any) -> Any:
    """The simulator with the Widget CRD installed."""
    kubesim.apply(WIDGET_CRD)
    return kubesim


TARGETS = ["kubesim", "real"]


@pytest.fixture(params=TARGETS)
def target_kubectl(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Kubectl]:
    """kubectl against kubesim, and against the real cluster of ARCANE_TEST_KUBECONFIG when it is set."""
    binary = require_kubectl()
    if request.param == "real":
        path = os.environ.get("ARCANE_TEST_KUBECONFIG")
        if not path:
            pytest.skip("ARCANE_TEST_KUBECONFIG is not set: no real cluster to compare with")
        yield Kubectl(binary, Path(path), tmp_path / "home")
        return
    sim = request.getfixturevalue("kubesim")
    yield Kubectl(binary, sim.kubeconfig_path, tmp_path / "home")
