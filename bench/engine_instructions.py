"""Instructions per evaluation of each engine-bench scenario, counted by valgrind: a figure the machine's load does
not move, for comparing two versions of the engine or of the rules.

`python bench/engine_instructions.py [--rules DIR] [--count N]` runs itself under callgrind (valgrind must be
installed: it says so and exits 2 otherwise). The child builds the scenarios of engine_bench.py, evaluates each
once, then N times (default 100) with the counters dumped after each scenario (`callgrind_control -d`), then the
Job build of engine_bench.py N times; the parent prints thousands of instructions per evaluation, per scenario and
their mean, and per Job build, as JSON. A run takes about a minute.

The times of the same evaluations are engine_bench.py's; instructions are not time (memory stalls, the branch
predictor), but on one machine two versions compare the same way, which a timing on a shared machine does not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import engine_bench  # noqa: E402  (the scenarios)

_TAG = re.compile(r"^desc: Trigger: dump (\S+)$", re.MULTILINE)
_TOTAL = re.compile(r"^summary: (\d+)$", re.MULTILINE)


def _child(rules: Path, count: int) -> None:
    from engine.core.evaluate import Snapshot, evaluate
    from engine.spec import compile_ruleset

    ruleset = compile_ruleset([rules])
    scenarios = asyncio.run(engine_bench._scenarios(ruleset))
    snapshots = {
        name: Snapshot(obj, store, engine_bench._bindings(ruleset, obj, store))
        for name, (obj, store) in scenarios.items()
    }
    for snapshot in snapshots.values():
        evaluate(ruleset, snapshot, engine_bench.clock)
    _dump("setup")
    for name, snapshot in snapshots.items():
        for _ in range(count):
            evaluate(ruleset, snapshot, engine_bench.clock)
        _dump(name)
    build = engine_bench._job_build(ruleset, *scenarios["pending-streaming"])
    build()
    _dump("setup")
    for _ in range(count):
        build()
    _dump(JOB_BUILD)


JOB_BUILD = "job-build"
"""The engine bench's Job build (the streaming Job's create action, planned alone): not an evaluation, so not in the
mean."""


def _dump(tag: str) -> None:
    """Write callgrind's counters since the last dump, labelled `tag` (callgrind_control waits until it is done)."""
    subprocess.run(["callgrind_control", "-d", tag, str(os.getpid())], capture_output=True, check=True)


def measure(rules: Path, count: int) -> dict[str, float]:
    """Thousands of instructions per evaluation of each scenario, and their mean."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("engine_instructions: valgrind (callgrind) is not installed")
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__]
        child = subprocess.run(
            [*command, "--child", "--rules", str(rules), "--count", str(count)],
            cwd=directory,
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            raise SystemExit(f"engine_instructions: the measured process failed:\n{child.stderr[-3000:]}")
        dumps = []
        for path in Path(directory).glob("callgrind.out.*"):
            text = path.read_text()
            tag, total = _TAG.search(text), _TOTAL.search(text)
            if tag is not None and total is not None and tag.group(1) != "setup":
                dumps.append((int(path.suffix[1:]), tag.group(1), int(total.group(1)) / count / 1000))
    figures = {name: round(value, 1) for _, name, value in sorted(dumps) if name != JOB_BUILD}
    figures["mean"] = round(sum(figures.values()) / len(figures), 1) if figures else 0.0
    figures.update((name, round(value, 1)) for _, name, value in dumps if name == JOB_BUILD)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, default=engine_bench.RULES)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.rules, args.count)
        return
    print(json.dumps(measure(args.rules.resolve(), args.count), indent=2))


if __name__ == "__main__":
    main()
