"""Where an operator's time goes: py-spy attached to its process, summarised by function and by area.

`BENCH_PROFILE=DIR python -m bench converge ...` attaches a sampling profiler (py-spy, 100 Hz, or
`BENCH_PROFILE_RATE` Hz: more samples, more of its own cost) to each operator the harness starts, without
stopping the process, and writes `DIR/<peer>-<pid>.txt` (collapsed stacks) when it stops. `python -m
bench.sampling FILE` prints the summary the docs quote: the share of samples per area (our engine's layers,
aiohttp, orjson, asyncio, ...) and the functions with the most self time. Idle samples (a thread waiting in
`select`/`epoll`) are counted apart, so shares are of busy time.

Busy is not CPU: a process waiting for a core (2 cores shared with kubesim and the harness) is sampled
where it was preempted, most often in the `send()` that woke kubesim, which then shows as a large share
of `_SelectorSocketTransport.write` although the kernel side of all syscalls was about 5 % of the
operator's CPU in converge (/proc stime). `BENCH_PROFILE_GIL=1` samples only while the GIL is held (py-spy
`--gil`): closer to CPU for Python code, blind to C code that releases the GIL (socket calls, TLS).

What it does not do: no flame graph (`py-spy record --format speedscope` on the same pid gives one).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

IDLE = re.compile(r"\b(select|poll|epoll|_run_once|wait)\b \((selectors|threading|asyncio/base_events)")
AREAS = [
    ("engine.core", "engine/core/"),
    ("engine.expr", "engine/expr/"),
    ("engine.kube", "engine/kube/"),
    ("engine.runtime", "engine/runtime/"),
    ("engine (other)", "engine/"),
    ("kopf", "kopf/"),
    ("aiohttp", "aiohttp/"),
    ("json (orjson, json)", "json/"),
    ("ssl", "ssl.py"),
    ("asyncio", "asyncio/"),
    ("logging", "logging/"),
]


@dataclass
class Sampler:
    """A py-spy process recording one pid."""

    process: subprocess.Popen[bytes] | None
    out: Path

    def stop(self) -> None:
        """Let py-spy write its file (SIGINT), then wait for it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def attach(pid: int, directory: Path, label: str) -> Sampler:
    """Start recording `pid` into `directory/<label>-<pid>.txt` (no-op with a note when py-spy is missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"{label}-{pid}.txt"
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("bench: BENCH_PROFILE set but py-spy is not installed (pip install py-spy)", file=sys.stderr)
        return Sampler(None, out)
    rate = os.environ.get("BENCH_PROFILE_RATE", "100")
    command = [spy, "record", "--pid", str(pid), "--rate", rate, "--nonblocking", "--format", "raw", "-o", str(out)]
    if os.environ.get("BENCH_PROFILE_GIL"):
        command.append("--gil")
    return Sampler(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out)


def _frames(stack: str) -> list[str]:
    return [frame for frame in stack.split(";") if frame]


def summarise(path: Path, top: int = 25) -> str:
    """The Markdown summary of one collapsed-stack file."""
    busy: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = idle = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = _frames(stack)
        total += count
        if not frames or IDLE.search(frames[-1]):
            idle += count
            continue
        own[_short(frames[-1])] += count
        # The innermost frame of a known area names the sample's area (a C call is charged to its caller).
        busy[next((name for frame in reversed(frames) for name, marker in AREAS if marker in frame), "other")] += count
    working = max(1, total - idle)
    lines = [f"{total} samples, {total - idle} busy ({100 * (total - idle) / max(1, total):.0f} %)", ""]
    lines += ["| area (innermost known frame) | share of busy samples |", "|---|---|"]
    lines += [f"| {name} | {100 * count / working:.1f} % |" for name, count in busy.most_common()]
    lines += ["", "| function (self time) | share of busy samples |", "|---|---|"]
    lines += [f"| `{name}` | {100 * count / working:.1f} % |" for name, count in own.most_common(top)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """`name (path/to/site-packages/pkg/mod.py:12)` -> `name (pkg/mod.py)`."""
    match = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
    if match is None:
        return frame
    name, where = match.groups()
    for anchor in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if anchor in where:
            where = where.split(anchor, 1)[1]
    return f"{name} ({where})"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m bench.sampling FILE [FILE...] (py-spy raw output)", file=sys.stderr)
        return 2
    for name in args:
        print(f"## {name}\n\n{summarise(Path(name))}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
