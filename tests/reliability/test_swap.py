"""A rule reload that changes what the caches keep: no evaluation between the swap and the caches it needs.

Rules that stop dropping a field from a kind's cache make the reactor stop that kind's watch and list it again
whole. Until the new cache has listed, a worker must not evaluate: with the new rules against the trimmed
objects it reads a field as missing, and after the old cache has stopped it sees no object of that kind at all
(no Job: a running stream's Job "is gone"). The swap is driven here in the test's loop, with a key queued just
before it, so that a worker wakes at the swap's first pause, the moment the race needs.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from e2e.harness import NAMESPACE, copy_rules, with_replaced

from engine.model import GVK, ObjectKey
from engine.runtime.queue import Priority
from engine.spec import compile_ruleset

from .bed import DEMO, Bed
from .history import operator_requests
from .inproc import Timers, eventually, operator_in_process, sample

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

JOB_DROP = '      cache: {drop: ["$.spec.template"]}  # the rules read Jobs\' metadata and status only\n'
BACKFILL_JOB_DROP = '      cache: {drop: ["$.spec.template"]}\n'
JOB_FAILED = "jobFailed: \"condition(job, 'Failed').status == 'True'\""
READS_TEMPLATE = (
    "jobFailed: \"(!job || length(job.spec.template.spec.containers) > `0`) && condition(job, 'Failed').status == "
    "'True'\""
)
"""Needs a Job's template, which the shipped rules drop from the cache: fails on a trimmed Job."""


def rules_reading_job_templates(tmp_path: Path) -> Path:
    rules = copy_rules(tmp_path / "new-rules")
    text = (rules / "stream.yaml").read_text()
    text = with_replaced(with_replaced(text, JOB_DROP, ""), BACKFILL_JOB_DROP, "")
    (rules / "stream.yaml").write_text(with_replaced(text, JOB_FAILED, READS_TEMPLATE))
    return rules


async def test_no_evaluation_between_a_swap_and_the_caches_its_rules_need(bed: Bed, tmp_path: Path) -> None:
    """A key queued as the rules swap is evaluated only once the Jobs are watched whole again: no error decision,
    no ReconcileError, no Job created again (not even one the server refuses as existing), and the stream stays
    Running."""
    new_rules = compile_ruleset([rules_reading_job_templates(tmp_path)])
    async with operator_in_process(bed.sim, Timers()) as (reactor, metrics):
        await eventually("the reactor to be ready", lambda: not reactor.unready())
        bed.create(DEMO, "orders")
        await asyncio.to_thread(bed.converge)
        errors_before = sample(metrics, "arcane_evaluations_total", outcome="error")
        creates_before = bed.job_creates()

        swapped = time.time()
        reactor.queue.add(ObjectKey(GVK(DEMO.group, "v1", DEMO.kind), NAMESPACE, "orders"), Priority.NORMAL)
        await reactor.swap(new_rules)
        await asyncio.to_thread(bed.check)

        assert sample(metrics, "arcane_evaluations_total", outcome="error") == errors_before
        assert bed.job_creates() == creates_before
        writes = [f"{r.verb} {r.path}" for r in operator_requests(bed.sim, since=swapped) if r.resource == "jobs"]
        assert [w for w in writes if not w.startswith(("get", "list", "watch"))] == []
        assert bed.phase(DEMO, "orders") == "Running"
        assert [e for e in bed.sim.list("v1", "Event", NAMESPACE) if e.get("reason") == "ReconcileError"] == []
