"""A user at a shell: kubectl commands written exactly as the user guide writes them, and what they print.

Where it sits: the guide and chart end-to-end tests drive the cluster only through `User`, which runs a command
line such as `kubectl get jobs -l streamId=orders -n streams` (split like a shell would, so the JSON of
`kubectl patch ... -p '{"spec":{"suspended":true}}'` reads as in the guide) with kubesim.testing's `Kubectl`: its
own HOME, KUBECONFIG and `--cache-dir`. `table()` reads the columns kubectl prints; the `wait_*` helpers are the
commands a user types to wait (`kubectl wait`), polled where kubectl has no such command.

What it does not do: talk to the API server by itself (tests that need histories use the harness's WatchRecorder).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubesim.testing import Kubectl, kubectl_binary

MANIFESTS = Path(__file__).resolve().parent / "manifests"
MOCK = MANIFESTS / "mock"
SQLSERVER = MANIFESTS / "sqlserver"


def require_kubectl() -> str:
    """The kubectl binary, or skip the test, printing why."""
    binary = kubectl_binary()
    if binary is None:
        reason = "kubectl is not installed: install it (or set KUBECTL) to run the user-guide tests"
        print(reason)
        pytest.skip(reason)
    return binary


@dataclass
class User:
    """Runs kubectl command lines against one cluster."""

    kubectl: Kubectl

    @classmethod
    def at(cls, kubeconfig: Path, home: Path) -> User:
        """A user of the cluster of `kubeconfig`, with a private HOME and cache under `home`."""
        return cls(Kubectl(require_kubectl(), kubeconfig, home))

    def run(self, command: str, *, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run one command line (`kubectl ...`); the result whatever its exit status."""
        words = shlex.split(command)
        assert words[0] == "kubectl", f"not a kubectl command: {command}"
        return self.kubectl.run(*words[1:], check=False, timeout=timeout)

    def __call__(self, command: str, *, timeout: float = 60.0) -> str:
        """Run one command line; fail with its output unless it succeeds; its standard output."""
        result = self.run(command, timeout=timeout)
        assert result.returncode == 0, f"`{command}` failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        return result.stdout

    # --- reading what kubectl prints

    def rows(self, command: str) -> list[dict[str, str]]:
        """The table a `kubectl get` command prints, as one dict per row keyed by column header."""
        return table(self(command))

    def names(self, command: str) -> list[str]:
        """The NAME column of a `kubectl get` table (empty when kubectl says "No resources found")."""
        return [row["NAME"] for row in self.rows(command)]

    def jobs(self, stream: str, namespace: str) -> list[str]:
        """The guide's `kubectl get jobs -l streamId=<stream> -n <ns>`: the names it lists, sorted."""
        return sorted(self.names(f"kubectl get jobs -l streamId={stream} -n {namespace}"))

    # --- waiting as a user waits

    def wait_phase(self, plural: str, name: str, namespace: str, phase: str, timeout: int = 60) -> None:
        """`kubectl wait --for=jsonpath='{.status.phase}'=<phase>` on one stream."""
        self(
            f"kubectl wait --for=jsonpath={{.status.phase}}={phase} {plural}/{name} -n {namespace} --timeout={timeout}s",
            timeout=timeout + 10,
        )

    def wait_class_ready(self, name: str, timeout: int = 30) -> None:
        """`kubectl wait` for a StreamClass to be Ready (the operator watches its kind from then on)."""
        self(f"kubectl wait --for=jsonpath={{.status.phase}}=Ready streamclass/{name} --timeout={timeout}s")

    def wait_names(self, command: str, expected: list[str], timeout: float = 30.0) -> None:
        """Repeat a `kubectl get` command until its NAME column lists exactly `expected` (in any order)."""
        deadline = time.monotonic() + timeout
        while True:
            shown = sorted(self.names(command))
            if shown == sorted(expected):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"`{command}` lists {shown}, expected {sorted(expected)}")
            time.sleep(0.2)

    def wait_jobs(self, stream: str, namespace: str, expected: list[str], timeout: float = 30.0) -> None:
        """Repeat the guide's `kubectl get jobs -l streamId=<stream> -n <ns>` until it lists exactly `expected`."""
        self.wait_names(f"kubectl get jobs -l streamId={stream} -n {namespace}", expected, timeout)

    def phase_shown(self, plural: str, name: str, namespace: str) -> str:
        """The PHASE column of `kubectl get <plural> -n <ns>` for one stream."""
        rows = [row for row in self.rows(f"kubectl get {plural} -n {namespace}") if row["NAME"] == name]
        assert len(rows) == 1, f"{name} not listed by kubectl get {plural} -n {namespace}"
        return rows[0]["PHASE"]


def table(output: str) -> list[dict[str, str]]:
    """Parse kubectl's column output: each column starts where its header does (headers may contain spaces)."""
    lines = [line for line in output.splitlines() if line.strip()]
    if not lines:
        return []
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"(?:^|(?<=\s{2}))\S", header)]
    names = [header[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    rows = []
    for line in lines[1:]:
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        rows.append(dict(zip(names, cells, strict=True)))
    return rows
