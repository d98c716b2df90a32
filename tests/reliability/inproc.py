"""The operator's reactor in the test's own event loop, for the settings `arcane run` has no flag for.

`arcane run` watches with a 90 s inactivity timeout and gives each request 60 s (ReactorOptions and
ClientOptions defaults; neither is a command-line flag). Faults that are only noticed when those timers fire
would take minutes against the subprocess, so these tests wire the same pieces `engine.runtime.main` wires
(KubeClient -> Reactor with the real rules, the same User-Agent and field manager), with short timers.
Nothing is replaced: the watches, queue, evaluation and executor are the operator's own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e.harness import RULES

from engine.kube.client import ClientOptions, KubeClient
from engine.kube.config import load_settings
from engine.runtime.metrics import Metrics
from engine.runtime.reactor import Reactor, ReactorOptions
from engine.spec import compile_ruleset
from kubesim import KubeSim

from .history import OPERATOR_AGENT


@dataclass(frozen=True, slots=True)
class Timers:
    """The timers an in-process operator runs with."""

    inactivity: float = 90.0
    request: float = 60.0


@asynccontextmanager
async def operator_in_process(
    sim: KubeSim, timers: Timers, *, rules: Path = RULES, kubeconfig: Path | None = None
) -> AsyncIterator[tuple[Reactor, Metrics]]:
    """A started reactor (watches and workers) and its metrics; stopped on exit."""
    settings = load_settings(str(kubeconfig or sim.kubeconfig_path))
    options = ClientOptions(user_agent=OPERATOR_AGENT, field_manager=OPERATOR_AGENT, request_timeout=timers.request)
    metrics = Metrics("arcane")
    async with KubeClient(settings, options, observer=metrics) as client:
        reactor = Reactor(
            client,
            compile_ruleset([rules]),
            ReactorOptions(workers=8, inactivity_timeout=timers.inactivity, freeze_gc=False, component=OPERATOR_AGENT),
            metrics=metrics,
        )
        await reactor.start()
        try:
            yield reactor, metrics
        finally:
            await reactor.stop(5.0)


async def eventually(what: str, probe: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll `probe` (in a thread: it may block on kubesim) without blocking the loop the reactor runs on."""
    deadline = time.monotonic() + timeout
    while True:
        found = await asyncio.to_thread(probe)
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {found!r})")
        await asyncio.sleep(0.1)


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for family in metrics.registry.collect():
        for item in family.samples:
            if item.name == name and labels.items() <= item.labels.items():
                total += item.value
    return total
