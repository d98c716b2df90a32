"""What a process costs, read from /proc (psutil is not installed): RSS, peak RSS, CPU seconds.

Where this sits: every scenario samples the operator under test and kubesim with these. `Sampler` polls
RSS in the background so a peak shorter than VmHWM's resolution is still seen as a curve (drift over a
soak); VmHWM is the kernel's own peak. Linux only.

What it does not do: no children (the operators under test are single processes).
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field

_TICKS = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024


def _status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return out


def rss_bytes(pid: int) -> int:
    """Resident set size now (VmRSS); 0 when the process is gone."""
    try:
        return _status(pid).get("VmRSS", 0)
    except OSError:
        return 0


def peak_rss_bytes(pid: int) -> int:
    """The highest resident set size so far (VmHWM); 0 when the process is gone."""
    try:
        return _status(pid).get("VmHWM", 0)
    except OSError:
        return 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time consumed so far (/proc/<pid>/stat fields 14 and 15)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            text = handle.read()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces: skip past it
    return (int(fields[11]) + int(fields[12])) / _TICKS


@dataclass
class CpuWindow:
    """CPU seconds a process used between `start()` and `stop()`, and the share of one core that is."""

    pid: int
    started_at: float = 0.0
    started_cpu: float = 0.0
    seconds: float = 0.0
    wall: float = 0.0

    def start(self) -> CpuWindow:
        self.started_at, self.started_cpu = time.monotonic(), cpu_seconds(self.pid)
        return self

    def stop(self) -> CpuWindow:
        self.wall = time.monotonic() - self.started_at
        self.seconds = cpu_seconds(self.pid) - self.started_cpu
        return self

    @property
    def core_share(self) -> float:
        """Fraction of one core used over the window (1.0 = one core saturated)."""
        return self.seconds / self.wall if self.wall > 0 else 0.0


def system_busy_seconds() -> float:
    """CPU seconds every core of the machine spent busy since boot (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat", encoding="ascii") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / _TICKS


@dataclass
class Background:
    """CPU the rest of the machine used while a scenario ran: all busy time minus the processes it started.

    These machines are shared: a figure measured while something else burned a core is not the same figure.
    """

    pids: list[int]
    started_at: float = 0.0
    started_busy: float = 0.0
    started_mine: float = 0.0
    cores: float = 0.0

    def _mine(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def start(self) -> Background:
        self.started_at, self.started_busy, self.started_mine = time.monotonic(), system_busy_seconds(), self._mine()
        return self

    def stop(self) -> Background:
        wall = time.monotonic() - self.started_at
        others = (system_busy_seconds() - self.started_busy) - (self._mine() - self.started_mine)
        self.cores = max(0.0, others / wall) if wall > 0 else 0.0
        return self


@dataclass
class Sampler:
    """Samples a process's RSS every `interval` seconds in the background: `(t, bytes)` pairs."""

    pid: int
    interval: float = 0.5
    samples: list[tuple[float, int]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(self) -> Sampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def _run(self) -> None:
        start = time.monotonic()
        while True:
            value = rss_bytes(self.pid)
            if value:
                self.samples.append((time.monotonic() - start, value))
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    @property
    def peak(self) -> int:
        return max((v for _, v in self.samples), default=0)
