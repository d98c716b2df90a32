"""Fixtures of the end-to-end tests: kubesim in this process, the real operator in subprocesses.

`sim` is a simulator with our CRDs and fast Jobs (they succeed half a second after they start); `operators`
starts `arcane run` processes on free ports (0: any, read back from the log) and stops every one of them after the test (SIGTERM, then
SIGKILL), whatever happened; a failing test's report carries each operator's log. `custom` and `kubectl`
drive the cluster as a user does (the official client; kubectl with its own cache, skipped with the reason
printed when kubectl is not installed).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubesim import KubeSim
from kubesim.testing import Kubectl, kubectl_binary, kubesim_factory

from .harness import RULES, OperatorProcess, install_crds, official_client, operator_command, operator_env

__all__ = ["kubesim_factory"]

OPERATORS = pytest.StashKey[list[OperatorProcess]]()
StartOperator = Callable[..., OperatorProcess]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach every operator's log to the report of a failing test."""
    report: pytest.TestReport = yield
    if report.failed:
        for operator in item.stash.get(OPERATORS, []):
            report.sections.append((f"operator {operator.name} (pid {operator.pid}) log", operator.logs()[-30000:]))
    return report


@pytest.fixture
def sim(request: pytest.FixtureRequest, kubesim_factory: Callable[..., KubeSim]) -> KubeSim:
    """A simulator with our CRDs; Jobs succeed 0.5 s after they start, unless a template says otherwise or the
    test parametrizes this fixture indirectly with other seconds."""
    seconds = float(getattr(request, "param", 0.5))
    cluster = kubesim_factory(job_default_outcome=f"succeed-after={seconds:g}s")
    install_crds(cluster)
    return cluster


@pytest.fixture
def operators(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StartOperator]:
    """`start(sim, rules=RULES, *flags, name=...)` runs `arcane run`; every process is stopped after the test."""
    started: list[OperatorProcess] = []
    request.node.stash[OPERATORS] = started

    def start(sim: KubeSim, *flags: str, rules: Path = RULES, name: str = "") -> OperatorProcess:
        label = name or f"operator-{len(started) + 1}"
        command = operator_command(rules, sim.kubeconfig_path, flags)
        operator = OperatorProcess(label, command, tmp_path / f"{label}.log", operator_env())
        started.append(operator)
        return operator.start()

    try:
        yield start
    finally:
        for operator in started:
            operator.close()


@pytest.fixture
def api_client(sim: KubeSim) -> Iterator[Any]:
    """The official client's ApiClient, configured from the simulator's kubeconfig."""
    client = official_client(sim.kubeconfig_path)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def custom(api_client: Any) -> Any:
    """`CustomObjectsApi`: streams, classes, templates, requests, and Jobs (any grouped resource)."""
    import kubernetes

    return kubernetes.client.CustomObjectsApi(api_client)


@pytest.fixture
def kubectl(sim: KubeSim, tmp_path: Path) -> Kubectl | None:
    """kubectl against the simulator, with its own HOME and cache; None (the reason printed) without kubectl."""
    binary = kubectl_binary()
    if binary is None:
        print("kubectl steps skipped: kubectl is not installed (install it, or set KUBECTL)")
        return None
    return Kubectl(binary, sim.kubeconfig_path, tmp_path / "kubectl-home")
