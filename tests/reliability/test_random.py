"""Randomised histories of user actions, with random faults, checked against the rules' own verdict after each action.

Each sequence (a seeded generator, tests/reliability/oracle.py) runs on a fresh kubesim with the real operator and,
action by action, in memory through engine.testing's runner with the same rules. After every action the cluster
must settle where the in-memory world settled: the same phases and condition reasons, the same live Jobs (names,
labels, configuration hashes, backfill ids) and the same BackfillRequests. Jobs finish only when an action says
so (kubesim's Job controller is off). A failure prints the seed, the history and a shrunk history that still
fails. `RELIABILITY_SEQUENCES` (default 1 of 6 actions; 20 of 10 with RELIABILITY_LONG=1) sets how many sequences run, and
`RELIABILITY_SEED` replays one.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from e2e.conftest import StartOperator
from e2e.harness import install_crds

from kubesim import KubeSim

from .bed import QUIET, wait_ready
from .conftest import LONG
from .history import operator_requests, writes
from .oracle import Action, MemoryWorld, SimWorld, difference, generate, perform, setup_objects, snapshot

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SEQUENCES = int(os.environ.get("RELIABILITY_SEQUENCES") or (20 if LONG else 1))
LENGTH = 10 if LONG else 6
SEED = int(os.environ.get("RELIABILITY_SEED") or 0) or random.randrange(1, 10**6)
SETTLE = 25.0
FAULT_SECONDS = 1.0
SHRINK_SECONDS = 300.0


def _drop(sim: KubeSim) -> None:
    sim.faults.drop_watches()


def _lost_history(sim: KubeSim) -> None:
    sim.faults.compact()
    sim.faults.drop_watches()


def _server_errors(sim: KubeSim) -> None:
    sim.faults.fail_next(3, 500, verb="patch")
    sim.faults.fail_next(2, 503, verb="create")


def _conflicts(sim: KubeSim) -> None:
    sim.faults.fail_next(3, 409, verb="patch")


def _slow(sim: KubeSim) -> None:
    sim.faults.add_latency(0.5, verb="patch", count=6)


def _closing(sim: KubeSim) -> None:
    sim.faults.close_watches_on_open(count=4)
    sim.faults.drop_watches()


def _restart(sim: KubeSim) -> None:
    sim.faults.restart(down_for=1.0)


FAULTS: dict[str, Callable[[KubeSim], None]] = {
    "drop-watches": _drop,
    "lost-history": _lost_history,
    "5xx": _server_errors,
    "409": _conflicts,
    "slow-patches": _slow,
    "watches-closed": _closing,
    "restart": _restart,
}


@dataclass(frozen=True, slots=True)
class Step:
    action: Action
    fault: str | None

    def __str__(self) -> str:
        return f"{self.action}" + (f" [{self.fault}]" if self.fault else "")


def history(seed: int) -> list[Step]:
    rng = random.Random(seed)
    return [Step(a, rng.choice(sorted(FAULTS)) if rng.random() < 0.5 else None) for a in generate(rng, LENGTH)]


class Player:
    """Plays histories on fresh simulators and operators."""

    def __init__(self, start_sim: Callable[..., KubeSim], start_operator: StartOperator) -> None:
        self.start_sim = start_sim
        self.start_operator = start_operator
        self.runs = 0

    def play(self, steps: list[Step]) -> str:
        """Play a history; the first disagreement with the oracle ('' when there is none)."""
        self.runs += 1
        sim = self.start_sim(controllers=frozenset({"gc", "namespace"}), bookmark_interval=2.0)
        install_crds(sim)
        sim.apply_many(setup_objects())
        operator = self.start_operator(sim, name=f"run-{self.runs}")
        real = SimWorld(sim)
        try:
            with asyncio.Runner() as loop:
                memory = MemoryWorld()
                loop.run(memory.settle())
                wait_ready(operator)
                problem = settled(sim, real, snapshot(memory))
                if problem:
                    return f"before any action: {problem}"
                for index, step in enumerate(steps):
                    loop.run(memory.advance(2.0))
                    expected_done = perform(memory, step.action, index)
                    done = perform(real, step.action, index)
                    if done != expected_done:
                        return f"action {index} ({step}) did {done!r} on kubesim but {expected_done!r} in memory"
                    loop.run(memory.settle())
                    if step.fault is not None:
                        FAULTS[step.fault](sim)
                        time.sleep(FAULT_SECONDS)
                        sim.faults.clear()
                        sim.wait_until_serving()
                    problem = settled(sim, real, snapshot(memory))
                    if problem:
                        return f"after action {index} ({step}, {done}): {problem}"
            return ""
        finally:
            operator.close()
            sim.stop()


def settled(sim: KubeSim, real: SimWorld, expected: dict[str, object]) -> str:
    """Wait until kubesim equals the oracle and the operator has gone quiet; the difference when it never does."""
    deadline = time.monotonic() + SETTLE
    while True:
        found = snapshot(real)
        if found == expected and not writes(operator_requests(sim, since=time.time() - QUIET)):
            time.sleep(QUIET / 2)
            if snapshot(real) == expected:
                return ""
        if time.monotonic() > deadline:
            return "\n  ".join(["the cluster never settled where the rules say:", *difference(expected, found)])
        time.sleep(0.2)


def shrink(player: Player, steps: list[Step], budget: float) -> tuple[list[Step], str]:
    """Drop steps (then faults) one at a time while the history still fails, within `budget` seconds."""
    deadline = time.monotonic() + budget
    current, problem = steps, player.play(steps)
    if not problem:
        return steps, "(did not fail again when replayed: timing-dependent)"
    for make in (lambda s, i: s[:i] + s[i + 1 :], lambda s, i: [*s[:i], Step(s[i].action, None), *s[i + 1 :]]):
        index = len(current) - 1
        while index >= 0 and time.monotonic() < deadline:
            candidate = make(current, index)
            if candidate != current:
                found = player.play(candidate)
                if found:
                    current, problem = candidate, found
            index -= 1
    return current, problem


@pytest.mark.timeout(120 + (SEQUENCES * 60) + SHRINK_SECONDS)
def test_random_histories_settle_where_the_rules_say(
    kubesim_factory: Callable[..., KubeSim], operators: StartOperator
) -> None:
    """Random sequences of user actions (create, suspend, resume, edit, request or delete a backfill, delete a Job or the stream, a Job succeeds or fails), each followed now and then by a random fault, leave kubesim, after each action, exactly where the same history leaves the rules run in memory."""
    player = Player(kubesim_factory, operators)
    for offset in range(SEQUENCES):
        seed = SEED + offset
        steps = history(seed)
        print(f"seed {seed}: {', '.join(map(str, steps))}")
        problem = player.play(steps)
        if problem:
            minimal, why = shrink(player, steps, SHRINK_SECONDS)
            raise AssertionError(
                f"seed {seed} (replay: RELIABILITY_SEED={seed} RELIABILITY_SEQUENCES=1)\n"
                f"history: {', '.join(map(str, steps))}\n{problem}\n"
                f"shrunk to: {', '.join(map(str, minimal))}\n{why}"
            )
