"""End to end: `make run`, the command the README gives a new user, starts the sandbox and the demo runs."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kubesim.testing import Kubectl, kubectl_binary

from .harness import DEMO_GROUP, NAMESPACE, REPO, official_client, process_group, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# The virtualenv is already installed here: `-o` keeps make from re-running pip (which needs the network)
# because pyproject.toml is newer than the stamp. Everything else is the real target.
STAMP = ".venv/.installed"


def sandbox_pid(make: subprocess.Popen[bytes]) -> int:
    """The process make started for the recipe (`arcane sandbox`, exec'd without a shell)."""
    children = Path(f"/proc/{make.pid}/task/{make.pid}/children")
    pids = wait_for("make to start the recipe", lambda: children.read_text().split() if children.exists() else None)
    assert len(pids) == 1, pids
    return int(pids[0])


def stream_phase(custom: Any, name: str) -> str:
    import kubernetes

    try:
        found = custom.get_namespaced_custom_object(DEMO_GROUP, "v1", NAMESPACE, "demostreams", name)
    except kubernetes.client.ApiException as error:
        if error.status == 404:
            return ""
        raise
    return str((found.get("status") or {}).get("phase") or "")


def test_make_run_starts_the_sandbox_and_the_demo_stream_runs(tmp_path: Path) -> None:
    """`make run ARGS=...` starts kubesim, our CRDs, the demo plugin and the operator; the demo stream `orders` reaches Running, and SIGINT stops everything with exit code 0."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    if not Path("/proc/self/task").exists():
        pytest.skip("needs /proc to find the process make starts")
    import kubernetes

    kubeconfig = tmp_path / "sandbox.kubeconfig"
    args = f"--kubeconfig {kubeconfig} --health-port 0 --metrics-port 0 --job-seconds 0.5"
    dry = subprocess.run(
        [make, "-n", "-o", STAMP, "run", f"ARGS={args}"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert f"sandbox {args}" in dry.stdout, f"`make run` must pass $(ARGS) to `arcane sandbox`:\n{dry.stdout}"

    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    output = tmp_path / "make-run.log"
    with output.open("wb") as log:
        process = subprocess.Popen(
            [make, "-o", STAMP, "run", f"ARGS={args}"],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        wait_for("the sandbox's kubeconfig", kubeconfig.exists, 60)
        client = official_client(kubeconfig)
        try:
            custom = kubernetes.client.CustomObjectsApi(client)
            wait_for("orders to be Running", lambda: stream_phase(custom, "orders") == "Running", 60)
        finally:
            client.close()
        binary = kubectl_binary()
        if binary is None:
            print("kubectl step skipped: kubectl is not installed")
        else:
            kubectl = Kubectl(binary, kubeconfig, tmp_path / "kubectl-home")
            shown = kubectl.run("get", "demostreams", "-n", NAMESPACE, "orders", "-o", "jsonpath={.status.phase}")
            assert shown.stdout == "Running"

        os.kill(sandbox_pid(process), signal.SIGINT)
        code = process.wait(30)
        text = output.read_text(errors="replace")
        assert code == 0, text[-4000:]
        assert process_group(process.pid) == [], "make run left processes behind"
        assert f"export KUBECONFIG={kubeconfig}" in text
        assert "engine.main: stopped exit_code=0" in text
        assert "arcane sandbox: stopped" in text, text[-2000:]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        print(f"make run {shlex.quote(args)}:\n{output.read_text(errors='replace')[-6000:]}")


def test_sandbox_interrupted_during_start_up_stops_cleanly(tmp_path: Path) -> None:
    """SIGINT to `arcane sandbox` while it is still starting (the cluster up, the operator starting, the demo being installed) exits 0 and leaves no operator process behind."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc to find the processes left behind")
    kubeconfig = tmp_path / "sandbox.kubeconfig"
    command = [sys.executable, "-m", "arcane.cli", "sandbox", "--kubeconfig", str(kubeconfig)]
    command += ["--health-port", "0", "--metrics-port", "0"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    output = tmp_path / "sandbox.log"
    with output.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        wait_for("the sandbox's kubeconfig", kubeconfig.exists, 60, interval=0.01)
        process.send_signal(signal.SIGINT)
        code = process.wait(30)
        text = output.read_text(errors="replace")
        assert code == 0, text[-4000:]
        assert "Traceback" not in text, text[-4000:]
        assert process_group(process.pid) == [], f"processes left behind:\n{text[-4000:]}"
    finally:
        for pid in process_group(process.pid):
            os.kill(pid, signal.SIGKILL)
        if process.poll() is None:
            process.kill()
            process.wait(10)
