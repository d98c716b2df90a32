"""The chart installed into kubesim with kubectl, and the operator started exactly as its Deployment would start it.

Where it sits: tests/chart/rendering.py renders the chart with real Helm (offline) and reads the Deployment's
command, environment and rules volume (`operator_invocation`). Here the rendering meets a cluster:

- `installed()` starts a simulator, creates the release namespace (`helm install --create-namespace`), applies
  the CRDs with the command docs/install.md gives for them, then every rendered object kubesim serves, with
  `kubectl apply -f` (the kinds it does not serve are listed in NOT_SERVED, with why);
- `Installed.mount_rules()` reads the rules ConfigMap back from the API server and lays it out as the kubelet
  mounts a ConfigMap volume: a timestamped directory, a `..data` symlink to it, and one symlink per key;
- `Installed.start()` runs the container's ENTRYPOINT + args (the image's `arcane run`, here the virtualenv's
  `arcane` script) with the container's env (POD_NAME and POD_NAMESPACE from the downward API). Three things
  differ from a pod, and only these: `--rules=` points at the local mount instead of `/etc/arcane/rules`, the
  ports are 0 (pods have their own network namespace; test processes share the host's), and KUBECONFIG stands
  for the in-cluster service-account configuration (the token file path is fixed in engine/kube/config.py).
  The environment is otherwise a container's: PATH and HOME only, nothing inherited from the test process.

When the simulator stops, the operator's calls are recorded in calls.SESSION under the scenario's name, for the
RBAC check.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from chart.rendering import CRD_DIR, NAMESPACE, Obj, OperatorInvocation, Rendered, operator_invocation

from e2e.guide.user import User, require_kubectl
from e2e.harness import OperatorProcess
from kubesim import KubeSim, SimOptions
from kubesim.testing import Kubectl

from .calls import SESSION

NOT_SERVED = {
    "Deployment": "kubesim runs no Deployments: the operator runs as a subprocess with the Deployment's command",
    "Service": "kubesim serves no Services (tests/chart checks the metrics Service statically)",
    "PodDisruptionBudget": "kubesim serves no policy/v1 objects (tests/chart validates it against the schemas)",
    "ServiceMonitor": "the prometheus-operator CRDs are not installed (tests/chart validates its shape)",
}
POD_PORTS = ("--health-port=", "--metrics-port=")
# The kubelet's layout of a ConfigMap volume.
KUBELET_DATA_DIR = "..2026_08_01_00_00_00.000000001"


def served(rendered: Rendered) -> list[Obj]:
    """The rendered objects kubesim serves, in Helm's install order."""
    return [obj for obj in rendered.objects if obj["kind"] not in NOT_SERVED]


def service_account(rendered: Rendered) -> str:
    """The ServiceAccount the operator pod runs as."""
    name: str = rendered.deployment["spec"]["template"]["spec"]["serviceAccountName"]
    return name


def watched_namespaces(rendered: Rendered) -> list[str]:
    """The `--namespace` flags of the Deployment (empty: every namespace)."""
    return [arg.split("=", 1)[1] for arg in rendered.container.get("args", []) if arg.startswith("--namespace=")]


@dataclass
class Installed:
    """One release of the chart in one simulator, and the operator processes started from it."""

    scenario: str
    rendered: Rendered
    sim: KubeSim
    user: User
    workdir: Path
    operators: list[OperatorProcess] = field(default_factory=list)

    @property
    def invocation(self) -> OperatorInvocation:
        return operator_invocation(self.rendered)

    def configmap(self, name: str) -> dict[str, str]:
        """The data of a ConfigMap in the release namespace, as the API server stored it (read with kubectl)."""
        stored: dict[str, Any] = json.loads(self.user(f"kubectl get configmap {name} -n {NAMESPACE} -o json"))
        data: dict[str, str] = stored.get("data") or {}
        return data

    def mount_rules(self) -> Path:
        """The rules volume as the kubelet mounts it: the ConfigMap's keys as files, through `..data`."""
        mount = self.workdir / "etc-arcane-rules"
        if mount.exists():
            return mount
        data_dir = mount / KUBELET_DATA_DIR
        data_dir.mkdir(parents=True)
        data = self.configmap(self.invocation.rules_configmap)
        for key, content in data.items():
            (data_dir / key).write_bytes(content.encode("utf-8"))
        (mount / "..data").symlink_to(KUBELET_DATA_DIR)
        for key in data:
            (mount / key).symlink_to(f"..data/{key}")
        return mount

    def command(self, mount: Path) -> list[str]:
        """The container's command line, with the three differences the module docstring lists."""
        entrypoint, *args = self.invocation.argv
        assert entrypoint == "arcane", self.invocation.argv
        assert args[0] == "run", self.invocation.argv
        rules_flag = f"--rules={self.invocation.rules_mount_path}"
        assert args.count(rules_flag) == 1, f"{rules_flag} not in {args}"
        local: list[str] = [str(Path(sys.executable).parent / "arcane")]
        for arg in args:
            if arg == rules_flag:
                local.append(f"--rules={mount}")
            elif arg.startswith(POD_PORTS):
                local.append(arg.split("=", 1)[0] + "=0")
            else:
                local.append(arg)
        return local

    def environment(self, pod_name: str) -> dict[str, str]:
        """The container's env for one pod, plus KUBECONFIG for the in-cluster configuration."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),
            **operator_invocation(self.rendered, pod_name=pod_name).env,
            "KUBECONFIG": str(self.sim.kubeconfig_path),
        }

    def start(self, pod_name: str = "arcane-arcane-operator-0") -> OperatorProcess:
        """Start one operator pod's process."""
        mount = self.mount_rules()
        log = self.workdir / f"{pod_name}.log"
        operator = OperatorProcess(pod_name, self.command(mount), log, self.environment(pod_name))
        self.operators.append(operator)
        return operator.start()


@contextlib.contextmanager
def installed(
    scenario: str,
    rendered: Rendered,
    workdir: Path,
    *,
    source: str,
    started: list[OperatorProcess] | None = None,
) -> Iterator[Installed]:
    """A simulator with the rendering applied as `helm install` would apply it; every operator started from it
    is stopped on exit, and their calls recorded under `scenario` for the RBAC check."""
    binary = require_kubectl()  # skips, saying why, before anything starts
    sim = KubeSim(SimOptions(job_default_outcome="succeed-after=0.5s", job_backoff=0.1)).start()
    user = User(Kubectl(binary, sim.kubeconfig_path, workdir / "kubectl-home"))
    release = Installed(scenario, rendered, sim, user, workdir, started if started is not None else [])
    try:
        user(f"kubectl create namespace {NAMESPACE}")  # helm install --create-namespace
        for namespace in watched_namespaces(rendered):  # the RoleBindings go there: they must exist
            user(f"kubectl create namespace {namespace}")
        if not rendered.of_kind("ServiceAccount"):  # serviceAccount.create=false names an existing one
            user(f"kubectl create serviceaccount {service_account(rendered)} -n {NAMESPACE}")
        user(f"kubectl apply --server-side --force-conflicts -f {CRD_DIR}")  # docs/install.md, "Upgrade"
        manifest = workdir / f"{scenario}.yaml"
        manifest.write_text("---\n".join(yaml.safe_dump(obj, sort_keys=False) for obj in served(rendered)))
        user(f"kubectl apply -f {manifest}")
        yield release
    finally:
        for operator in release.operators:
            operator.close()
        SESSION.record(sim, source=source, profile=scenario)
        sim.stop()
