"""Scenarios 5 and 6: the engine alone (bench/engine_bench.py) and kubesim alone (bench/kubesim_bench.py).

Where this sits: both modules have `run(quick: bool) -> dict`; this wraps them as scenarios of the same
harness (results in the same JSON and Markdown). Their figures are whatever they return (flattened one
level), printed as they come; their targets live with them.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from typing import Any

from bench.framework import Context, Figure, Run, ScenarioResult


async def _external(ctx: Context, name: str, module: str, description: str) -> ScenarioResult:
    bench = importlib.import_module(module)
    started = time.monotonic()
    figures: dict[str, Any] = await asyncio.to_thread(bench.run, ctx.quick)
    flat = _flatten(figures)
    run = Run("ours", 0, figures=flat)
    run.figures["harness_seconds"] = round(time.monotonic() - started, 2)
    described = [Figure(key, key.replace("_", " "), ratio=False) for key, value in flat.items() if _numeric(value)]
    return ScenarioResult(name, description, described, runs=[run], extra={"raw": figures})


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _flatten(figures: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in figures.items():
        if isinstance(value, dict) and not prefix:
            out.update(_flatten(value, f"{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


async def engine(ctx: Context) -> ScenarioResult:
    """Evaluations/s and Job builds/s in-process with the shipped rules (no HTTP)."""
    return await _external(ctx, "engine", "bench.engine_bench", "the engine in-process: evaluations and Job builds")


async def kubesim(ctx: Context) -> ScenarioResult:
    """kubesim's capacity alone: writes/s, watch events/s, paginated lists."""
    return await _external(ctx, "kubesim", "bench.kubesim_bench", "kubesim alone: its capacity as a simulator")
