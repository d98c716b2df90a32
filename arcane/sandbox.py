"""`arcane sandbox` (what `make run` starts): an embedded cluster, our CRDs, a demo plugin and the operator.

kubesim serves in this process; the operator runs as a child process on `rules/` with hot reload, exactly as
`arcane run` runs in a cluster. kubesim's Job controller finishes Jobs after a few seconds, so a user sees
a whole lifecycle (Pending -> Backfilling -> Running) and can suspend, resume and request backfills with
kubectl. Ctrl-C (or SIGTERM) stops the operator, then the cluster, and exits 0.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

import yaml

from kubesim import KubeSim, SimOptions, collector

DEMO = "arcane.demo"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arcane sandbox", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--kubeconfig", default="sandbox.kubeconfig", help="where to write the kubeconfig")
    parser.add_argument("--port", type=int, default=0, help="API server port (default: any free port)")
    parser.add_argument("--rules", default="rules", help="the rules directory the operator runs (reloaded live)")
    parser.add_argument("--crds", default="charts/arcane-operator/crds", help="directory of the CRDs to install")
    parser.add_argument(
        "--job-seconds", type=float, default=5.0, help="how long the demo's Jobs run before they succeed"
    )
    parser.add_argument(
        "--health-port", type=int, default=None, help="probes' port (default: 8888, or any free port if it is taken)"
    )
    parser.add_argument(
        "--metrics-port", type=int, default=None, help="metrics' port (default: 9090, or any free port if it is taken)"
    )
    parser.add_argument("--no-demo", action="store_true", help="install the CRDs only, not the demo plugin")
    parser.add_argument("--log-format", choices=["json", "text"], default="text")
    parser.add_argument(
        "--log-level", default=None, help="the operator's: debug, info, warning, error (default: LOG_LEVEL or info)"
    )
    return parser


def demo_manifests() -> list[dict[str, object]]:
    """The demo plugin: a stream CRD, its StreamClass, templates, a Secret and two streams."""
    out: list[dict[str, object]] = []
    for entry in sorted(resources.files(DEMO).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            out.extend(doc for doc in yaml.safe_load_all(entry.read_text()) if isinstance(doc, dict))
    return out


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    moved = [
        _choose_port(args, "health_port", DEFAULT_HEALTH_PORT),
        _choose_port(args, "metrics_port", DEFAULT_METRICS_PORT),
    ]
    rules, crds = Path(args.rules), Path(args.crds)
    for what, path in (("rules", rules), ("CRD", crds)):
        if not path.is_dir():
            print(f"arcane sandbox: no {what} directory at {path} (run it from the repository root)", file=sys.stderr)
            return 2
    # Ctrl-C (or SIGTERM) at any moment, start-up included, is a clean stop: no traceback, no operator left.
    stop = threading.Event()

    def request_stop(_signum: int, _frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    collector.tune()  # this process is the simulator; the operator runs in its own
    sim = KubeSim(SimOptions(port=args.port, job_default_outcome=f"succeed-after={args.job_seconds:g}s"))
    operator: subprocess.Popen[bytes] | None = None
    failed = False
    try:
        sim.start()
        for path in sorted(crds.glob("*.yaml")):
            sim.apply_many(path.read_text())
        kubeconfig = sim.write_kubeconfig(args.kubeconfig)
        if not stop.is_set():
            operator = _start_operator(args, kubeconfig)
            if not args.no_demo:
                sim.apply_many(demo_manifests())
        listening = operator is None or _until_listening(operator, args.health_port, stop)
        if listening and not stop.is_set():
            _welcome(kubeconfig, args, [note for note in moved if note])
        if operator is not None:
            failed, operator = _wait(operator, stop, lambda: _start_operator(args, kubeconfig))
    finally:
        if operator is not None:
            _stop_operator(operator)
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failed:
        return 1
    print("arcane sandbox: stopped", flush=True)
    return 0


def _start_operator(args: argparse.Namespace, kubeconfig: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "arcane.cli",
        "run",
        "--rules",
        str(args.rules),
        "--kubeconfig",
        str(kubeconfig),
        "--health-port",
        str(args.health_port),
        "--metrics-port",
        str(args.metrics_port),
        "--log-format",
        args.log_format,
        "--leader-election-namespace",
        "default",
        *(["--log-level", args.log_level] if args.log_level else []),
    ]
    environment = {**os.environ, "POD_NAMESPACE": os.environ.get("POD_NAMESPACE", "default")}
    return subprocess.Popen(command, env=environment)


DEFAULT_HEALTH_PORT = 8888
DEFAULT_METRICS_PORT = 9090
LISTEN_SECONDS = 30.0


def _choose_port(args: argparse.Namespace, name: str, default: int) -> str:
    """Set `args.<name>` to the default port, or to any free one when another process holds it (a second sandbox, a
    local Prometheus); a port given on the command line is kept (the operator says so if it is taken). Returns a note
    for the welcome text when the port moved."""
    if getattr(args, name) is not None:
        return ""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the operator's listener (asyncio) binds
        try:
            probe.bind(("0.0.0.0", default))
            setattr(args, name, default)
            return ""
        except OSError:
            probe.bind(("0.0.0.0", 0))
            setattr(args, name, probe.getsockname()[1])
    option = "--" + name.replace("_", "-")
    return f"port {default} is in use: {option} {getattr(args, name)} instead"


def _until_listening(operator: subprocess.Popen[bytes], port: int, stop: threading.Event) -> bool:
    """Wait until the operator answers on its probes' port, so that the welcome text is not printed for an operator
    that could not start; False when it exited first (its own log line says why)."""
    deadline = time.monotonic() + LISTEN_SECONDS
    while not stop.is_set() and operator.poll() is None and port and time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            stop.wait(0.1)
    return operator.poll() is None


def _welcome(kubeconfig: Path, args: argparse.Namespace, notes: list[str]) -> None:
    where = kubeconfig.resolve()
    moved = "".join(f"({note})\n" for note in notes)
    print(
        f"""
Arcane sandbox is running: an embedded Kubernetes API (kubesim), the Arcane CRDs, a demo plugin and the
operator on {args.rules}/ (edit the rules: they reload live).

    export KUBECONFIG={where}
    kubectl get demostreams -n demo -w              # orders: Pending -> Backfilling -> Running
    kubectl get jobs -n demo -l streamId=orders
    kubectl describe demostream orders -n demo      # conditions and events say why
    kubectl patch demostream orders -n demo --type merge -p '{{"spec":{{"execution":{{"suspended":true}}}}}}'
    kubectl patch demostream reports -n demo --type merge -p '{{"spec":{{"execution":{{"suspended":false}}}}}}'
    kubectl get backfillrequests -n demo

Health: {_url(args.health_port, "/readyz")}   Metrics: {_url(args.metrics_port, "/metrics")}
{moved}Stop with Ctrl-C.
""",
        flush=True,
    )


def _url(port: int, path: str) -> str:
    if port == 0:  # any free port: the operator logs the one it took ("operator started")
        return f'{path} on the port in the operator\'s "operator started" line'
    return f"http://127.0.0.1:{port}{path}"


RESTARTS = 10
"""Restarts of an operator killed by a signal before the sandbox gives up (a crash loop is not hidden)."""


def _wait(
    operator: subprocess.Popen[bytes], stop: threading.Event, restart: Callable[[], subprocess.Popen[bytes]]
) -> tuple[bool, subprocess.Popen[bytes]]:
    """Until a stop is requested: (True, ...) when the operator exited by itself first (a failure), with the operator
    running last. One killed by a signal (`kill -9`, the OOM killer) is started again, as its Deployment's pod would
    be, on the cluster as it is: a restart in the middle of the work can be tried in the sandbox."""
    restarts = 0
    while not stop.is_set():
        code = operator.poll()
        if code is not None and code < 0 and restarts < RESTARTS:
            restarts += 1
            print(f"arcane sandbox: the operator was killed by signal {-code}; starting it again", file=sys.stderr)
            operator = restart()
            continue
        if code is not None:
            print(f"arcane sandbox: the operator exited with {code}", file=sys.stderr)
            return True, operator
        stop.wait(0.5)
    return False, operator


def _stop_operator(operator: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the operator's graceful shutdown), then SIGKILL after 15 s; idempotent."""
    if operator.poll() is None:
        operator.send_signal(signal.SIGTERM)
        try:
            operator.wait(timeout=15)
        except subprocess.TimeoutExpired:
            operator.kill()
            operator.wait()
