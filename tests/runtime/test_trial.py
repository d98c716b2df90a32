"""The trial of new rules on the cached objects before a reload, and the reloader's refusal of rules that fail it."""

from __future__ import annotations

import asyncio
import logging
import textwrap
from pathlib import Path
from typing import Any

import pytest

from engine.core.targets import Binding, bindings_for
from engine.errors import RuleSetError
from engine.model import GVK
from engine.runtime.reload import LOGGED_PROBLEMS, RuleReloader
from engine.runtime.trial import CHUNK, new_errors
from engine.spec import RuleSet, compile_texts
from engine.testing.memory import MemoryCluster
from tests.core import harness
from tests.core.harness import HEADER, JOB, NOW, WIDGET, rules

ACTIVE = """\
groups:
  - name: main
    rules:
      - {name: check, when: "abs(object.spec.size) > `1`", event: {reason: Big, message: big, always: true}}
"""
"""Fails on a Widget whose size is no number."""
CANDIDATE = """\
groups:
  - name: main
    rules:
      - {name: check, when: "abs(object.spec.weight) > abs(object.spec.size)", event: {reason: Big, message: big, always: true}}
"""
"""Fails on a Widget whose size or weight is no number."""


def text(body: str) -> str:
    return HEADER + textwrap.indent(textwrap.dedent(body), "  ")


class Cached(MemoryCluster):
    """The in-memory cluster read as the operator's caches (names without the objects)."""

    def __init__(self, *objects: dict[str, Any]) -> None:
        super().__init__(lambda: harness.NOW_TEXT)
        for obj in objects:
            self.put(obj)

    def names(self, gvk: GVK) -> list[tuple[str, str]]:
        return [(str(o["metadata"].get("namespace") or ""), str(o["metadata"]["name"])) for o in self.list(gvk)]


def widget(name: str, **spec: Any) -> dict[str, Any]:
    return harness.widget(name, spec)


async def trial(
    active: RuleSet, candidate: RuleSet, cache: Cached, held: frozenset[GVK] = frozenset({WIDGET})
) -> list[str]:
    def active_bindings(gvk: GVK) -> list[Binding]:
        return bindings_for(active, gvk, cache)

    found = await new_errors(
        candidate, active=active, active_bindings=active_bindings, cache=cache, held=held, clock=lambda: NOW
    )
    return [str(problem) for problem in found]


async def test_new_errors_count_only_objects_the_active_rules_evaluate_without_error() -> None:
    """An object the new rules fail on is a problem, written with its kind, name, rule and the rule's file and line; one the active rules already fail on is not, nor one neither fails on."""
    cache = Cached(widget("w1", size=2, weight="a"), widget("w2", size="x", weight="b"), widget("w3", size=3, weight=5))
    assert await trial(rules(ACTIVE), rules(CANDIDATE), cache) == [
        "Widget/default/w1: rule check: condition failed (widgets.yaml:11): "
        "'abs(object.spec.weight) > abs(object.spec.size)': In function abs(), invalid type for value: a, "
        "expected one of: ['number'], received: \"string\""
    ]


async def test_an_action_that_fails_is_placed_at_its_rule() -> None:
    """A failure in a rule's actions (its message has no place of its own) is written with the rule's file and line."""
    failing_action = ACTIVE.replace(
        "message: big, always: true", 'message: "{{ abs(object.spec.weight) }}", always: true'
    )
    problems = await trial(rules(ACTIVE), rules(failing_action), Cached(widget("w1", size=2, weight="a")))
    assert [p.split(": '")[0] for p in problems] == ["Widget/default/w1: rule check (widgets.yaml:11)"]


async def test_rules_that_fail_nowhere_new_pass() -> None:
    """New rules that only change texts, or that fail exactly where the active ones fail, make no problem."""
    cache = Cached(widget("w1", size=2), widget("w2", size="x"))
    texts_only = ACTIVE.replace("message: big", "message: large")
    assert await trial(rules(ACTIVE), rules(texts_only), cache) == []
    assert await trial(rules(ACTIVE), rules(ACTIVE), cache) == []


async def test_a_kind_the_active_rules_do_not_evaluate_has_no_errors_to_excuse() -> None:
    """Objects of a kind only the new rules evaluate are checked too: under the active rules they have no error."""
    other = HEADER.replace("kind: Widget", "kind: Gadget").replace("name: widgets", "name: gadgets")
    active = compile_texts({"gadgets.yaml": other + "  groups: [{name: main, rules: [{name: idle}]}]\n"})
    problems = await trial(active, rules(CANDIDATE), Cached(widget("w1", size=2, weight="a")))
    assert [p.split(": condition")[0] for p in problems] == ["Widget/default/w1: rule check"]


async def test_what_the_caches_cannot_show_is_not_checked() -> None:
    """Objects of a kind the caches do not hold are not evaluated, and an object whose new evaluation read a kind the caches do not hold is skipped rather than blamed."""
    reading_jobs = (
        'related:\n  job: {get: {apiVersion: batch/v1, kind: Job, name: "{{ object.metadata.name }}"}}\n'
        'groups:\n  - name: main\n    rules:\n      - {name: check, when: "abs(job.spec.size) > `1`"}\n'
    )
    cache = Cached(widget("w1", size=2))
    assert await trial(rules(ACTIVE), rules(reading_jobs), cache, held=frozenset({WIDGET})) == []
    assert len(await trial(rules(ACTIVE), rules(reading_jobs), cache, held=frozenset({WIDGET, JOB}))) == 1
    assert await trial(rules(ACTIVE), rules(CANDIDATE), Cached(), held=frozenset()) == []


async def test_the_trial_gives_the_event_loop_back_and_says_what_it_did(caplog: pytest.LogCaptureFixture) -> None:
    """Other tasks run while many objects are tried (every CHUNK objects), and one info line gives the count and the time."""
    cache = Cached(*(widget(f"w{i}", size=2, weight="a") for i in range(3 * CHUNK + 1)))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    started = ticks
    with caplog.at_level(logging.INFO, logger="engine.trial"):
        problems = await trial(rules(ACTIVE), rules(CANDIDATE), cache)
    task.cancel()
    assert len(problems) == 3 * CHUNK + 1
    assert ticks - started >= 3
    (record,) = [r for r in caplog.records if r.name == "engine.trial"]
    assert record.getMessage() == "new rules tried on the cached objects"
    assert (record.objects, record.new_errors) == (3 * CHUNK + 1, 3 * CHUNK + 1)  # type: ignore[attr-defined]
    assert record.unchecked == 0  # type: ignore[attr-defined]


class Recorder:
    """The reloader's swap and reject, recorded."""

    def __init__(self) -> None:
        self.swapped: list[str] = []
        self.rejected: list[RuleSetError] = []

    async def swap(self, ruleset: RuleSet) -> None:
        self.swapped.append(ruleset.digest)

    async def reject(self, error: RuleSetError) -> None:
        self.rejected.append(error)


async def test_a_rule_set_failing_the_check_is_rejected_like_one_that_does_not_compile(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """When the check finds problems, the reloader keeps the active rules, logs the problems (at most LOGGED_PROBLEMS lines and a count) with their file and line, and reports them to `reject`; without problems it swaps."""
    (tmp_path / "widgets.yaml").write_text(text(ACTIVE))
    active = rules(ACTIVE)
    cache = Cached(*(widget(f"w{i:02}", size=2, weight="a") for i in range(LOGGED_PROBLEMS + 5)))

    checked: list[str] = []

    async def check(candidate: RuleSet) -> None:
        checked.append(candidate.digest)
        problems = await new_errors(
            candidate,
            active=active,
            active_bindings=lambda gvk: bindings_for(active, gvk, cache),
            cache=cache,
            held=frozenset({WIDGET}),
            clock=lambda: NOW,
        )
        if problems:
            raise RuleSetError(list(problems))

    recorder = Recorder()
    reloader = RuleReloader(tmp_path, active, recorder.swap, recorder.reject, check=check)
    (tmp_path / "widgets.yaml").write_text(text(CANDIDATE))
    with caplog.at_level(logging.INFO, logger="engine.reload"):
        assert await reloader.reload() is False
    assert reloader.current is active
    assert recorder.swapped == []
    (error,) = recorder.rejected
    assert len(error.problems) == LOGGED_PROBLEMS + 5
    logged = [r for r in caplog.records if r.name == "engine.reload"]
    assert len(logged) == LOGGED_PROBLEMS + 1
    where = str(tmp_path / "widgets.yaml")
    assert (
        logged[0]
        .getMessage()
        .startswith(f"rules rejected: Widget/default/w00: rule check: condition failed ({where}:11): ")
    )
    assert (logged[0].file, logged[0].line) == (where, 11)  # type: ignore[attr-defined]
    assert logged[-1].getMessage() == "rules rejected: and 5 more problems"

    (tmp_path / "README").write_text("another file's change")  # the same rules: not tried nor reported again
    assert await reloader.reload() is False
    assert (len(checked), len(recorder.rejected)) == (1, 1)

    (tmp_path / "widgets.yaml").write_text(text(ACTIVE.replace("message: big", "message: large")))
    assert await reloader.reload() is True
    assert recorder.swapped == [reloader.current.digest] != [active.digest]
