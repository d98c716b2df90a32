"""Pytest helpers for any test folder: a KubeSim factory, kubectl with an isolated cache, API clients.

Import the fixtures into a conftest (`from kubesim.testing import kubesim, kubesim_factory, kubectl`).
kubectl runs with its own HOME, `--cache-dir` and KUBECONFIG per test, so discovery caches never leak
between simulators that reuse a port; tests needing it are skipped (with the reason printed) when no
kubectl is installed. Nothing here is used by kubesim itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from kubesim.server import KubeSim, SimOptions

FAST = SimOptions(job_default_outcome="succeed-after=0.2s", job_backoff=0.1)


def kubectl_binary() -> str | None:
    """The kubectl to use: $KUBECTL, else `kubectl` on PATH (the version dispatcher), else None."""
    explicit = os.environ.get("KUBECTL")
    if explicit:
        return explicit if os.path.exists(explicit) else None
    return shutil.which("kubectl")


@dataclass
class Kubectl:
    """kubectl bound to one kubeconfig, with a private HOME and discovery cache."""

    binary: str
    kubeconfig: Path
    home: Path

    def env(self) -> dict[str, str]:
        """The environment kubectl runs with."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        env.update(KUBECONFIG=str(self.kubeconfig), HOME=str(self.home))
        return env

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run `kubectl ARGS`; raises AssertionError with the output when `check` and it fails."""
        command = [self.binary, "--cache-dir", str(self.home / "cache"), *args]
        result = subprocess.run(
            command, input=stdin, env=self.env(), capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """Start `kubectl ARGS` in the background (for `get -w`)."""
        command = [self.binary, "--cache-dir", str(self.home / "cache"), *args]
        return subprocess.Popen(command, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def require_kubectl() -> str:
    """The kubectl binary, or skip the test saying why."""
    binary = kubectl_binary()
    if binary is None:
        pytest.skip("kubectl is not installed (install google-cloud-cli's kubectl, or set KUBECTL)")
    return binary


@pytest.fixture
def kubesim_factory() -> Iterator[Callable[..., KubeSim]]:
    """Start simulators with `factory(**SimOptions fields)` (fast Job defaults); all stop after the test."""
    started: list[KubeSim] = []

    def factory(**overrides: Any) -> KubeSim:
        sim = KubeSim(replace(FAST, **overrides)).start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()


@pytest.fixture
def kubesim(kubesim_factory: Callable[..., KubeSim]) -> KubeSim:
    """A running simulator with every controller and Jobs that succeed after 0.2 s."""
    return kubesim_factory()


@pytest.fixture
def kubectl(kubesim: KubeSim, tmp_path: Path) -> Kubectl:
    """kubectl pointed at the `kubesim` fixture (skipped when kubectl is absent)."""
    return Kubectl(require_kubectl(), kubesim.kubeconfig_path, tmp_path / "kubectl-home")


@pytest.fixture
def api_client(kubesim: KubeSim) -> Iterator[Any]:
    """An official `kubernetes` ApiClient for the `kubesim` fixture."""
    import kubernetes

    client = kubernetes.config.new_client_from_config(str(kubesim.kubeconfig_path))  # type: ignore[no-untyped-call]
    yield client
    client.close()
