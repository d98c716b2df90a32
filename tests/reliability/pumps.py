"""Faults by proportion: a background thread that keeps kubesim failing about a given share of the operator's requests.

kubesim's rules fail the next N matching requests (`sim.faults.fail_next`); a storm of "30% of writes answer 429"
needs a rule added for roughly every third write. `FaultPump` watches the request log and keeps
`injected + pending <= ratio * seen + 1` per verb, adding one `fail_next(1, status, verb=...)` at a time (statuses
taken in turn). It only ever adds rules; `stop()` ends the thread and clears every rule.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from kubesim import KubeSim

from .history import operator_requests


class FaultPump:
    """See the module docstring."""

    def __init__(
        self,
        sim: KubeSim,
        ratio: float,
        statuses: Iterable[int],
        verbs: Iterable[str],
        *,
        retry_after: int | None = None,
        interval: float = 0.02,
    ) -> None:
        self.sim = sim
        self.ratio = ratio
        self.verbs = tuple(verbs)
        self.retry_after = retry_after
        self.interval = interval
        self._statuses = itertools.cycle(tuple(statuses))
        self._stop = threading.Event()
        self._started = time.time()
        self._thread = threading.Thread(target=self._run, name="fault pump", daemon=True)

    def start(self) -> FaultPump:
        self._started = time.time()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sim.faults.clear()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            records = operator_requests(self.sim, since=self._started)
            pending = [rule for rule in self.sim.faults.rules if rule.remaining is not None]
            for verb in self.verbs:
                seen = [r for r in records if r.verb == verb and r.resource != "leases"]
                injected = sum(1 for r in seen if r.fault.startswith("error:"))
                waiting = sum(1 for rule in pending if rule.verb == verb)
                if injected + waiting < self.ratio * len(seen) + 1:
                    self.sim.faults.fail_next(1, next(self._statuses), verb=verb, retry_after=self.retry_after)


@contextmanager
def pumping(
    sim: KubeSim, ratio: float, statuses: Iterable[int], verbs: Iterable[str], *, retry_after: int | None = None
) -> Iterator[FaultPump]:
    """A running `FaultPump` for the duration of a `with` block."""
    pump = FaultPump(sim, ratio, statuses, verbs, retry_after=retry_after).start()
    try:
        yield pump
    finally:
        pump.stop()
