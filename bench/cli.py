"""`python -m bench [SCENARIO...] [--size N] [--quick] [--peer ours|kopf|both] [--out FILE]` (also `make bench`).

Scenarios, by name: cold-start, converge, latency, soak (long: only when named, or with --long), engine,
kubesim. None named means every scenario but the soak. `--size` (repeatable) replaces each scenario's
default sizes; `--quick` runs each in seconds with small sizes (what tests/bench runs). The kopf peer
runs through the scenarios that support it (cold-start, converge, latency, soak) with `--peer kopf|both`.

Results: a JSON file (bench/results/<date>-<commit>.json, or --out) and, except in quick mode or with
--no-docs, a Markdown section appended to docs/benchmark-runs.md. Progress goes to stderr. Exit code 0 when
every scenario ran (targets missed are results, not failures), 1 when a scenario failed to run.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import machine, report
from bench.framework import Context, Scenario, ScenarioResult
from bench.operators import Peer
from bench.scenarios import coldstart, converge, external, latency, soak
from bench.sim import REPO

SCENARIOS: dict[str, Scenario] = {
    coldstart.NAME: coldstart.run,
    converge.NAME: converge.run,
    latency.NAME: latency.run,
    soak.NAME: soak.run,
    "engine": external.engine,
    "kubesim": external.kubesim,
}
LONG = frozenset({soak.NAME})
PEERED = frozenset({coldstart.NAME, converge.NAME, latency.NAME, soak.NAME})


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=(__doc__ or "").splitlines()[0])
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=f"any of: {', '.join(SCENARIOS)}")
    p.add_argument("--size", type=int, action="append", help="number of streams (repeatable)")
    p.add_argument("--quick", action="store_true", help="small sizes, seconds per scenario (the tests' mode)")
    p.add_argument("--long", action="store_true", help="include the 10-minute churn soak")
    p.add_argument("--peer", choices=["ours", "kopf", "both"], default="ours")
    p.add_argument("--duration", type=float, help="seconds of edits for latency and soak (default 60 and 600)")
    p.add_argument("--rate", type=float, help="edits per second for latency and soak (default 50 and 20)")
    p.add_argument("--timeout", type=float, help="seconds to wait for an operator before a run fails")
    p.add_argument(
        "--wait-idle", type=float, default=0.0, help="before each run, wait up to N s for other processes to go idle"
    )
    p.add_argument("--out", type=Path, help="results JSON (default bench/results/<date>-<commit>.json)")
    p.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmark-runs.md", help="Markdown to append to")
    p.add_argument("--no-docs", action="store_true", help="do not append to the Markdown (quick mode never does)")
    p.add_argument("--workdir", type=Path, help="where processes write their logs (default: a temporary dir)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        print(f"bench: unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    names = args.scenarios or [s for s in SCENARIOS if s not in LONG or args.long]
    peers = [Peer.OURS, Peer.KOPF] if args.peer == "both" else [Peer(args.peer)]
    if args.workdir is not None:
        return asyncio.run(_run(args, names, peers, args.workdir))
    with tempfile.TemporaryDirectory(prefix="arcane-bench-") as tmp:
        return asyncio.run(_run(args, names, peers, Path(tmp)))


async def _run(args: argparse.Namespace, names: list[str], peers: list[Peer], workdir: Path) -> int:
    described = machine.describe()
    context = Context(
        quick=args.quick,
        peers=peers,
        sizes=args.size,
        workdir=workdir,
        duration=args.duration,
        rate=args.rate,
        wait_idle=args.wait_idle,
        timeout=args.timeout,
    )
    context.say(f"{described['cpu']}, {described['cores']} cores; commit {described['commit']}; scenarios {names}")
    results: list[ScenarioResult] = []
    for name in names:
        context.peers = peers if name in PEERED else [Peer.OURS]
        context.say(f"=== {name}")
        try:
            result = await SCENARIOS[name](context)
        except Exception as error:
            context.say(f"{name} failed: {error!r}")
            result = ScenarioResult(name, "", [], status="failed", extra={"reason": repr(error)[:2000]})
        results.append(result)
    document: dict[str, Any] = {
        "machine": described,
        "command": "python -m bench " + shlex.join(_argv(args)),
        "quick": args.quick,
        "kubesim": "its own process (python -m bench.simserver: kubesim over HTTPS, Jobs without Pods), "
        "so the operator and the simulator never share a GIL",
        "scenarios": {r.name: r.as_dict() for r in results},
    }
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = args.out or REPO / "bench" / "results" / f"{stamp}-{described['commit']}.json"
    report.write_json(document, out)
    section = report.markdown(document, results)
    print(section)
    context.say(f"results: {out}")
    if not args.quick and not args.no_docs:
        report.append_markdown(args.docs, section)
        context.say(f"appended to {args.docs}")
    failed = [r.name for r in results if r.status == "failed" or any(run.error for run in r.runs)]
    if failed:
        context.say(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


def _argv(args: argparse.Namespace) -> list[str]:
    """The options that shaped this run, for the record."""
    out = list(args.scenarios)
    for size in args.size or ():
        out += ["--size", str(size)]
    if args.quick:
        out.append("--quick")
    if args.long:
        out.append("--long")
    out += ["--peer", args.peer]
    if args.duration is not None:
        out += ["--duration", f"{args.duration:g}"]
    if args.rate is not None:
        out += ["--rate", f"{args.rate:g}"]
    if args.timeout is not None:
        out += ["--timeout", f"{args.timeout:g}"]
    return out
