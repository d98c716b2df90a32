"""Command line: `python -m kubesim --kubeconfig FILE [--port N]` (also `arcane cluster up`).

Starts a simulator, writes FILE only once it is serving, serves until SIGTERM or SIGINT, exits 0.
`main(argv)` is importable so the product's CLI can call it with the same flags.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from kubesim import collector
from kubesim.server import Controller, KubeSim, SimOptions


def parser(prog: str = "kubesim") -> argparse.ArgumentParser:
    """The argument parser (shared with `arcane cluster up`, which names itself in its usage)."""
    p = argparse.ArgumentParser(prog=prog, description="Serve an in-process Kubernetes API server.")
    p.add_argument("--kubeconfig", required=True, help="kubeconfig file to write once serving")
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: an ephemeral port)")
    p.add_argument("--minor", default="32", help="Kubernetes minor version /version reports (default 32)")
    p.add_argument("--token", default=None, help="bearer token to accept (default: random)")
    p.add_argument(
        "--job-outcome",
        default="succeed-after=1s",
        help="default Job outcome: succeed-after=Ns | fail-after=Ns | run-forever (default succeed-after=1s)",
    )
    p.add_argument(
        "--controllers",
        default=",".join(c.value for c in Controller),
        help="comma-separated controllers to run (job,cronjob,gc,namespace; empty for none)",
    )
    return p


def main(argv: Sequence[str] | None = None, prog: str = "kubesim") -> int:
    """Run until SIGTERM/SIGINT; returns the exit code."""
    args = parser(prog).parse_args(list(sys.argv[1:] if argv is None else argv))
    controllers = frozenset(c for c in args.controllers.split(",") if c)
    options = SimOptions(
        port=args.port,
        minor=args.minor,
        token=args.token,
        job_default_outcome=args.job_outcome,
        controllers=controllers,
        kubeconfig_path=args.kubeconfig,
    )
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    collector.tune()  # this process is the simulator
    sim = KubeSim(options)
    try:
        sim.start()
        print(f"kubesim serving {sim.url}; kubeconfig {args.kubeconfig}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
