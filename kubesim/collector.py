"""The cyclic garbage collector, tuned for a process that is a simulator and nothing else.

A simulator's heap is mostly stored objects and the watch history that keeps their earlier versions: JSON
dicts that live long and hold no reference cycles. CPython's full collections scan every one of them. In the
converge benchmark (1,000 streams) kubesim made 7-8 full collections of about 150 ms each, 1.3 s of GC in
13.8 s of CPU. `tune()` freezes what survives each full collection (`gc.freeze()`), so the next one scans only
what came since, and makes young collections rarer (every 10,000 allocations rather than 700), so more
short-lived request objects are freed by reference counting before a collection looks at them.

The trade: a reference cycle among frozen objects that later becomes garbage is never collected. What survives
a full collection was reachable then: stored objects, open connections and the requests in flight at that
moment, so the few that can still form cycles are bounded by what is in flight. freeze() is process-wide,
which is why only the processes that are a simulator call `tune()` (`python -m kubesim`, the sandbox of
`make run`, whose operator runs in a process of its own, and the benchmarks' `bench.simserver`); a simulator
started inside a test or an operator leaves the collector alone.
"""

from __future__ import annotations

import gc
from typing import Any

YOUNG_THRESHOLD = 10_000


def tune() -> None:
    """Freeze the survivors of every full collection and collect the young generation less often (idempotent)."""
    if _freeze_after_full not in gc.callbacks:
        gc.callbacks.append(_freeze_after_full)
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def _freeze_after_full(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()
