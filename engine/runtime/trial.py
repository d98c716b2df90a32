"""A trial of a new rule set before it is swapped in: does it fail where the active one does not?

Where this sits: hot reload (engine.runtime.reload) compiles a new rule set; a rule set that compiles can
still fail at run time on every object (a function given a number where it wants a string), and once swapped
in, every object would get that error instead of its decisions. So the reactor (`Reactor.trial`) hands this
module the active rule set and its bindings, and the caches; every cached object of a kind the new rules
evaluate is evaluated under both rule sets, nothing executed, and each object the new rules make an error
decision for, while the active rules make none, is a problem: reload then refuses the new rules as it
refuses rules that do not compile (logged, counted, a Warning Event), and the active rules keep serving.

An object that already fails under the active rules does not count: a new rule set is not blamed for
existing bad input. What cannot be checked is skipped, not guessed at: objects of kinds the caches do not
hold yet (the new rules evaluate a kind nobody watched), and objects whose evaluation under the new rules
read a kind the caches do not hold (such a lookup finds nothing now, and would find the objects once the
new watch has listed).

It runs on the event loop, where the reactor's watch handlers change the caches: each object is evaluated
under both rule sets in one synchronous step (one consistent cache), and the loop is given back every
`CHUNK` objects so that probes and watches are served (measured on 2026-11-28 in the operator with 10,000
streams and their 10,000 requests cached: 2.2 s, and 4.3 s when every object fails, evaluated under both).
An object deleted between two chunks is skipped; one changed is evaluated as it is now. A source of dynamic kinds
that goes away mid-trial is not noticed until the next trial (the new rules' bindings are derived once per
kind). What the trial leaves behind: a `match` lookup new to the tried rules builds its field index on the
live caches (in one step, parsing each cached object of that kind), kept whether the rules swap in or not.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.core.evaluate import Clock, Snapshot, evaluate
from engine.core.memo import FactMemo
from engine.core.store import ObjectStore
from engine.core.targets import Binding, bindings_for, evaluated_kinds
from engine.errors import Location, Problem
from engine.model import GVK, ObjectKey, Provenance
from engine.spec.ruleset import RuleSet

log = logging.getLogger("engine.trial")

CHUNK = 32
"""Objects evaluated between two yields to the event loop: about 3.5 ms of evaluations, 7 ms when every object
fails and is evaluated under both rule sets (from the 2.2 s and 4.3 s measured for 20,001 objects)."""


class Cache(ObjectStore, Protocol):
    """The caches as the trial reads them: the store, and the names of the objects held per kind."""

    def names(self, gvk: GVK) -> list[tuple[str, str]]: ...


@dataclass(frozen=True, slots=True)
class NewError(Problem):
    """An error decision the new rules make for an object the active rules evaluate without one. Located at
    the rule (`location`: its file and line), and written as `<Kind>/<ns>/<name>: rule <r> (<file>:<line>): ...` (the
    place once: a failed condition's message gives it already)."""

    subject: str = ""
    rule: str = ""

    def __str__(self) -> str:
        where = f"({self.location.file}:{self.location.line})"
        if where in self.message:  # a failed condition names its rule's place already
            return f"{self.subject}: rule {self.rule}: {self.message}"
        return f"{self.subject}: rule {self.rule} {where}: {self.message}"


async def new_errors(
    candidate: RuleSet,
    *,
    active: RuleSet,
    active_bindings: Callable[[GVK], Sequence[Binding]],
    cache: Cache,
    held: Collection[GVK],
    clock: Clock,
    memo: FactMemo | None = None,
) -> list[NewError]:
    """Every error decision `candidate` makes for a cached object that `active` evaluates without error.

    `active_bindings` are the reactor's own bindings of the active rules (what its next evaluation would use);
    the candidate's are derived for the candidate here, from the same caches. `held`: the kinds whose caches
    have listed. `memo` serves the active rules' evaluations only: its entries are per object and document,
    and the candidate's would evict them (the values are the same without it)."""
    started = time.perf_counter()
    problems: list[NewError] = []
    evaluated = skipped = 0
    for gvk in sorted(evaluated_kinds(candidate, cache), key=str):
        bindings = tuple(bindings_for(candidate, gvk, cache))
        for namespace, name in cache.names(gvk):
            if evaluated and evaluated % CHUNK == 0:
                await asyncio.sleep(0)  # the watches and probes run here; the next object is read afresh
            obj = cache.get(gvk, namespace, name)
            if obj is None:
                continue
            evaluated += 1
            trial = evaluate(candidate, Snapshot(obj, cache, bindings), clock)
            errors = trial.errors
            if not errors:
                continue
            if any(read[0] not in held for read in trial.reads):
                skipped += 1
                continue
            current = tuple(active_bindings(gvk))
            if current and evaluate(active, Snapshot(obj, cache, current, memo), clock).errors:
                continue
            subject = str(ObjectKey(gvk, namespace, name))
            problems.extend(_problem(subject, decision.provenance, decision.error) for decision in errors)
    log.info(
        "new rules tried on the cached objects",
        extra={
            "objects": evaluated,
            "seconds": round(time.perf_counter() - started, 3),
            "new_errors": len(problems),
            "unchecked": skipped,
        },
    )
    return problems


def _problem(subject: str, provenance: Provenance, message: str) -> NewError:
    location = Location(provenance.file, provenance.line)
    return NewError(location, message, "runtime-error", subject=subject, rule=provenance.rule)
