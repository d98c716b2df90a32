"""What every scenario shares: the run's options, progress on stderr, figures, results, percentiles.

Where this sits: bench.cli builds one `Context` per run and hands it to each scenario's `run(ctx)`, which
returns a `ScenarioResult` (one `Run` per peer and size, each a flat dict of figures plus kubesim's own
figures beside them). `Figure` describes how to print a figure and the target it is held to;
bench.report turns all of it into JSON and Markdown.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.operators import Peer


@dataclass(frozen=True)
class Figure:
    """One measured quantity: its key in a run's figures, how to show it, and its target if it has one."""

    key: str
    label: str
    unit: str = ""
    target: float | None = None
    better: str = "lower"
    """`lower` or `higher`: the direction of the target, and of the ours/kopf ratio's reading."""
    ratio: bool = True
    """Whether ours/kopf means something for this figure."""

    def met(self, value: float | None) -> bool | None:
        if self.target is None or value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return value <= self.target if self.better == "lower" else value >= self.target

    def target_text(self) -> str:
        if self.target is None:
            return ""
        sign = "<=" if self.better == "lower" else ">="
        return f"{sign} {self.target:g}{(' ' + self.unit) if self.unit else ''}"


@dataclass
class Run:
    """One peer at one size: its figures and kubesim's beside them."""

    peer: str
    size: int
    figures: dict[str, Any] = field(default_factory=dict)
    kubesim: dict[str, Any] = field(default_factory=dict)
    background_cores: float | None = None
    """CPU (in cores) other processes on the machine used during the measured window (procstat.Background)."""
    notes: list[str] = field(default_factory=list)
    error: str = ""


@dataclass
class ScenarioResult:
    name: str
    description: str
    figures: list[Figure]
    runs: list[Run] = field(default_factory=list)
    status: str = "ok"
    """`ok` or `failed`."""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "description": self.description,
            "status": self.status,
            "runs": [asdict(run) for run in self.runs],
            "targets": {f.key: f.target_text() for f in self.figures if f.target is not None},
            "ratios": self.ratios(),
        }
        if self.extra:
            out["extra"] = self.extra
        return out

    def ratios(self) -> dict[str, dict[str, float]]:
        """ours/kopf for every figure both measured, by size."""
        out: dict[str, dict[str, float]] = {}
        for ours in (r for r in self.runs if r.peer == Peer.OURS.value):
            kopf = next((r for r in self.runs if r.peer == Peer.KOPF.value and r.size == ours.size), None)
            if kopf is None:
                continue
            ratios: dict[str, float] = {}
            for figure in self.figures:
                a, b = ours.figures.get(figure.key), kopf.figures.get(figure.key)
                if figure.ratio and isinstance(a, int | float) and isinstance(b, int | float) and b:
                    ratios[figure.key] = round(a / b, 3)
            out[str(ours.size)] = ratios
        return out


@dataclass
class Context:
    """One invocation of the harness."""

    quick: bool
    peers: list[Peer]
    sizes: list[int] | None
    workdir: Path
    duration: float | None = None
    rate: float | None = None
    timeout: float | None = None
    """Replaces every scenario's own limit on how long to wait for the operator (a run that hits it fails)."""
    wait_idle: float = 0.0
    """Up to this many seconds before each measured run, wait for other processes to leave the CPU alone."""
    started: float = field(default_factory=time.monotonic)
    _templates: dict[Peer, Any] = field(default_factory=dict)

    @property
    def job_seconds(self) -> float:
        """How long a backfill Job runs in kubesim (the issue's 1 s; shorter in quick mode)."""
        return 0.3 if self.quick else 1.0

    def say(self, message: str) -> None:
        """Progress, on stderr, with the time since the run started."""
        print(f"[bench {time.monotonic() - self.started:7.1f}s] {message}", file=sys.stderr, flush=True)

    async def quiet_machine(self, threshold: float = 0.3) -> float:
        """Wait (up to `wait_idle` s) until other processes use under `threshold` cores; the last reading."""
        from bench.procstat import Background

        deadline = time.monotonic() + self.wait_idle
        while True:
            probe = Background([os.getpid()]).start()
            await asyncio.sleep(3.0)
            cores = probe.stop().cores
            if cores < threshold or time.monotonic() >= deadline:
                return cores
            self.say(f"other processes use {cores:.2f} cores: waiting for a quieter machine")
            await asyncio.sleep(10.0)

    async def template(self, peer: Peer) -> Any:
        """The peer's converged template stream (bench.demo.capture_template), captured once per run."""
        from bench.demo import capture_template

        if peer not in self._templates:
            self.say(f"{peer.value}: converging one template stream to clone")
            self._templates[peer] = await capture_template(
                peer, self.workdir / f"template-{peer.value}", job_seconds=self.job_seconds
            )
        return self._templates[peer]


Scenario = Callable[[Context], Awaitable[ScenarioResult]]


def percentiles(values: Sequence[float], points: Sequence[int] = (50, 95, 99)) -> dict[str, float]:
    """Nearest-rank percentiles, plus max and count; NaN-free (empty input gives an empty dict)."""
    data = sorted(values)
    if not data:
        return {}
    out = {f"p{p}": data[min(len(data) - 1, max(0, math.ceil(p / 100 * len(data)) - 1))] for p in points}
    out["max"] = data[-1]
    return out


def rounded(value: float, digits: int = 3) -> float:
    return round(value, digits)
