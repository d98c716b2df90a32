"""The machine and the code a run measured: CPU model, cores, RAM, Python and which build of it, date, git commit.

Where this sits: bench.cli puts this at the top of every results file and Markdown section, so that figures
are never read without the hardware and the revision they came from.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.sim import REPO


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _interpreter() -> str:
    """The interpreter's file and whether its core is a shared libpython. Two builds of one Python version differ:
    on these machines pyenv's (shared libpython, no profile-guided optimization) ran the engine bench's evaluations
    with 8 % more instructions than Debian's /usr/bin/python3.11 (linked in, built with PGO and LTO), and the
    medians of its figures over six runs each were 12 to 46 % longer (docs/benchmarks.md)."""
    executable = os.path.realpath(sys.executable)
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return executable
    return f"{executable}, libpython {'shared' if 'libpython' in maps else 'linked in'}"


def _git(*args: str) -> str:
    try:
        result = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def describe() -> dict[str, Any]:
    """Everything a reader needs to place a figure."""
    cores = os.cpu_count() or 0
    return {
        "cpu": _cpu_model(),
        "cores": cores,
        "ram_gib": round(_ram_bytes() / 2**30, 1),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "interpreter": _interpreter(),
        "os": f"{platform.system()} {platform.release()}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _git("rev-parse", "--short=12", "HEAD") or "unknown",
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }


def one_line(machine: dict[str, Any]) -> str:
    """`AMD EPYC, 2 cores, 23.5 GiB RAM, CPython 3.11.7 (/usr/bin/python3.11, libpython linked in), Linux 5.15;
    2026-11-27 07:30 UTC; commit abc (dirty)`."""
    dirty = " (uncommitted changes)" if machine.get("dirty") else ""
    interpreter = f" ({machine['interpreter']})" if machine.get("interpreter") else ""  # not in older results
    return (
        f"{machine['cpu']}, {machine['cores']} cores, {machine['ram_gib']} GiB RAM, "
        f"{machine['implementation']} {machine['python']}{interpreter}, {machine['os']}; {machine['date']}; "
        f"commit `{machine['commit']}`{dirty}"
    )
