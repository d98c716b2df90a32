"""kubesim in its own process for the benchmarks: `python -m bench.simserver --kubeconfig FILE [--seed FILE]`.

Where this sits: every scenario starts one of these, so the simulator and the operator under test never
share a GIL (kubesim alone saturates a core under a converge burst). It is `python -m kubesim` plus what
benchmarks need and the product's CLI does not offer: a large request log and event history, Jobs without
Pods (the operator never reads Pods; at 10,000 Jobs they would only load the simulator), a Job duration,
and **seeding**: objects loaded in-process before the kubeconfig is written, so a cold start can begin
with 10,000 streams, their Jobs and their completed requests already in place.

Seed file (JSON): `{"base": [objects], "clones": [{"token": T, "objects": [stream, dependents...],
"names": [...]}]}`. Base objects are applied in order. For each name of a clone group, the group's JSON
text has `T` replaced by the name; the stream (first object) is applied, then `__OWNER_UID__` in its
dependents is replaced by its uid. Every object's `status` is written through the status subresource
(except Jobs': kubesim's Job controller owns it). The kubeconfig appears only once everything is loaded.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from kubesim import KubeSim, SimOptions, collector

OWNER_UID = "__OWNER_UID__"
_BATCH = 500


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.simserver", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    p.add_argument("--kubeconfig", required=True, help="written once serving and seeded")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--seed", help="JSON seed file (see the module docstring)")
    p.add_argument("--job-seconds", type=float, default=1.0, help="how long Jobs run before they succeed")
    p.add_argument("--history-size", type=int, default=200_000, help="watch event history (410 beyond it)")
    p.add_argument("--request-log-size", type=int, default=2_000_000)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    options = SimOptions(
        port=args.port,
        job_default_outcome=f"succeed-after={args.job_seconds:g}s",
        job_pods=False,
        history_size=args.history_size,
        request_log_size=args.request_log_size,
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    collector.tune()  # this process is the simulator: its stored objects need not be rescanned
    sim = KubeSim(options)
    sim.start()
    try:
        if args.seed:
            started = time.monotonic()
            count = seed(sim, orjson.loads(Path(args.seed).read_bytes()))
            print(f"seeded {count} objects in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
        sim.settle()
        sim.requests.clear()
        sim.write_kubeconfig(args.kubeconfig)
        print(f"kubesim serving {sim.url}", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
    return 0


def seed(sim: KubeSim, doc: dict[str, Any]) -> int:
    """Load a seed document into a running simulator; returns the number of objects written."""
    count = 0
    for obj in doc.get("base") or ():
        _write(sim, [obj])
        count += 1
    for group in doc.get("clones") or ():
        text = orjson.dumps(group["objects"]).decode()
        names: list[str] = list(group["names"])
        for start in range(0, len(names), _BATCH):
            batch = [orjson.loads(text.replace(group["token"], name)) for name in names[start : start + _BATCH]]
            streams = _write(sim, [objs[0] for objs in batch])
            dependents: list[dict[str, Any]] = []
            for objs, stream in zip(batch, streams, strict=True):
                uid = stream["metadata"]["uid"]
                dependents.extend(
                    orjson.loads(orjson.dumps(o).replace(OWNER_UID.encode(), uid.encode())) for o in objs[1:]
                )
            _write(sim, dependents)
            count += len(batch) + len(dependents)
    return count


def _write(sim: KubeSim, objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    statuses = [obj.pop("status", None) for obj in objs]
    written = sim.apply_many(objs)
    for obj, status in zip(written, statuses, strict=True):
        if status and obj.get("kind") != "Job":
            meta = obj["metadata"]
            sim.patch(
                obj["apiVersion"],
                obj["kind"],
                meta.get("namespace"),
                meta["name"],
                {"status": status},
                subresource="status",
            )
    return written


if __name__ == "__main__":
    sys.exit(main())
