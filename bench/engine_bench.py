"""The engine alone, in-process: one evaluation of a stream, one Job build, compiling the shipped rules.

A benchmark, not a test: `run(quick)` returns the figures, `python bench/engine_bench.py [--quick] [--profile]`
prints them as JSON (or, with `--profile`, a cProfile of the evaluations). `python -m bench engine` runs it within
the harness.

What it measures, with the shipped rules (rules/*.yaml) and objects from the real fixtures
(../shared/real-fixtures: the SQL Server plugin's StreamClass, templates and streams, the mock plugin's v0 stream):

- **evaluation**: `evaluate()` of one stream snapshot, with the bindings precomputed and a dict-indexed cache, as
  the runtime calls it. The snapshots are reached by driving streams through the rules against the in-memory
  cluster (each decision executed, Jobs completed by hand): a Running stream with its Job, a Running stream that
  received a BackfillRequest, a Pending stream with a BackfillRequest (builds the backfill Job), a Pending stream
  without one (builds the streaming Job), a Scheduled stream with its CronJob, a suspended one, a new one, and the
  mock plugin's layout v0 stream Running. Per-scenario and pooled p50/p99 (targets: p50 <= 100 us, p99 <= 300 us),
  and pooled over the steady states alone (the snapshots that need no action, most evaluations of a running system).
- **Job build**: the `create` action of the rule that starts streaming, planned alone in a fresh evaluation
  context: the StreamingJobTemplate's Job, the env variables, the envFrom of the class's secretRefs, labels, owner
  reference and configuration hash (target: <= 300 us).
- **compile**: loading and compiling rules/ from disk in a fresh process (`cold`, the target: <= 500 ms), and
  again in the same process (`warm`: a reload of unchanged rules, which finds its expressions compiled already).

Timings are per call, after a warm-up, on one thread: the thread's CPU time (`time.thread_time_ns`, the figures
the targets are checked against: on a shared machine it is the call's own cost) and the wall time (`wall_*`,
which adds whatever else the machine ran meanwhile). Each call is timed `count` times in a row, as microbenchmarks
do; `evaluation_in_turns` times the same evaluations one of each scenario per round, which is what an operator
does (one object after another): each then finds the processor's caches as the others left them.
"""

from __future__ import annotations

import asyncio
import copy
import cProfile
import functools
import gc
import io
import json
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.core.context import Context  # noqa: E402
from engine.core.evaluate import Evaluation, Snapshot, _Session, evaluate  # noqa: E402
from engine.core.execute import Executor  # noqa: E402
from engine.core.memo import FactMemo  # noqa: E402
from engine.core.plan import Plan  # noqa: E402
from engine.core.targets import Binding, bindings_for  # noqa: E402
from engine.kube.cache import CacheRegistry, ObjectCache  # noqa: E402
from engine.model import GVK, CreateObject, Obj  # noqa: E402
from engine.spec import RuleSet, compile_ruleset  # noqa: E402
from engine.spec.ruleset import ActionOp, ActionSpec  # noqa: E402
from engine.testing.memory import MemoryCluster  # noqa: E402

RULES = ROOT / "rules"
FIXTURES = ROOT.parent / "shared" / "real-fixtures"
TARGET_EVALUATION_P50_US = 100
TARGET_EVALUATION_P99_US = 300
TARGET_JOB_BUILD_US = 300
TARGET_COMPILE_MS = 500
MOMENT = datetime(2026, 9, 1, 12, 0, 0, tzinfo=UTC)
JOB = GVK("batch", "v1", "Job")


def clock() -> datetime:
    return MOMENT


def _stamp() -> str:
    return "2026-09-01T12:00:00Z"


class IndexedStore(CacheRegistry):
    """The runtime's own informer caches (engine.kube.cache), loaded with the snapshot's objects."""

    def __init__(self, objects: Iterable[Obj]) -> None:
        super().__init__()
        caches: dict[GVK, ObjectCache] = {}
        for obj in objects:
            gvk = GVK.of_object(obj)
            if gvk not in caches:
                caches[gvk] = ObjectCache(gvk)
                self.attach(caches[gvk])
            caches[gvk].upsert(obj)


def _fixture(name: str) -> dict[str, Any]:
    path = FIXTURES / name
    if not path.exists():
        raise FileNotFoundError(f"{path}: the shared real fixtures are needed (../shared/real-fixtures)")
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


# ---------------------------------------------------------------- reaching realistic snapshots


class _World:
    """The in-memory cluster with the plugins installed; drives streams through the rules, step by step."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self.cluster = MemoryCluster(_stamp, seed="bench")
        self.executor = Executor(self.cluster, now=_stamp)
        for name, ready in (("mssql/streamclass.yaml", True), ("mock/streamclass-v1.yaml", True)):
            cls = _fixture(name)
            cls["metadata"].pop("namespace", None)
            cls["status"] = {"phase": "Ready" if ready else "Pending"}
            self.cluster.put(cls)
        for name in ("mssql/streamingjobtemplate.yaml", "mssql/streamingjobtemplate-backfill-large.yaml"):
            self.cluster.put(_fixture(name))
        self.cluster.put(_fixture("mock/streamingjobtemplate.yaml"))

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self.cluster.put(obj)

    def current(self, stream: Obj) -> Obj:
        meta = stream["metadata"]
        found = self.cluster.get(GVK.of_object(stream), meta["namespace"], meta["name"])
        assert found is not None
        return found

    async def step(self, stream: Obj) -> list[str]:
        evaluation = evaluate(self.ruleset, Snapshot(self.current(stream), self.cluster), clock)
        for decision in evaluation.decisions:
            if decision.error:
                raise RuntimeError(f"{decision.provenance}: {decision.error}")
            result = await self.executor.execute(decision)
            if result.error:
                raise RuntimeError(f"{decision.provenance}: {result.error}")
        return evaluation.fired

    async def until(self, stream: Obj, phase: str, steps: int = 12) -> None:
        """Evaluate and execute until the stream is in `phase` with nothing left to change, completing backfill
        Jobs as a Job controller would once they exist."""
        for _ in range(steps):
            fired = await self.step(stream)
            obj = self.current(stream)
            if (obj.get("status") or {}).get("phase") == phase and all(
                name.startswith(("keep-", "stay-")) for name in fired
            ):
                return
            for job in self.cluster.list(JOB, obj["metadata"]["namespace"]):
                if job["metadata"]["name"].endswith("-backfill") and not job.get("status"):
                    job["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}  # type: ignore[index]
        phase_now = (self.current(stream).get("status") or {}).get("phase")
        raise RuntimeError(f"{stream['metadata']['name']} reached {phase_now}, not a steady {phase}")

    def snapshot(self, stream: Obj) -> tuple[Obj, IndexedStore]:
        """The stream and a copy of the whole cluster, as the runtime's cache would hold them."""
        objects = copy.deepcopy(list(self.cluster.objects.values()))
        store = IndexedStore(objects)
        meta = stream["metadata"]
        obj = store.get(GVK.of_object(stream), meta["namespace"], meta["name"])
        assert obj is not None
        return obj, store


def _stream(name: str, fixture: str, uid: str) -> dict[str, Any]:
    stream = _fixture(fixture)
    stream["metadata"]["name"] = name
    stream["metadata"]["uid"] = uid
    return stream


async def _scenarios(ruleset: RuleSet) -> dict[str, tuple[Obj, IndexedStore]]:
    world = _World(ruleset)
    out: dict[str, tuple[Obj, IndexedStore]] = {}

    new = world.put(_stream("orders-new", "mssql/stream-layout-v1-change-capture.yaml", "uid-new"))
    out["new"] = world.snapshot(new)

    running = world.put(_stream("orders", "mssql/stream-layout-v1-change-capture.yaml", "uid-orders"))
    await world.until(running, "Running")
    out["running-steady"] = world.snapshot(running)

    request = _fixture("mssql/backfillrequest.yaml")
    request["spec"]["streamId"] = "orders"
    request["metadata"]["creationTimestamp"] = "2026-09-01T12:00:01Z"
    world.put(request)
    out["running-backfill-requested"] = world.snapshot(running)
    await world.step(running)
    out["pending-backfill"] = world.snapshot(running)

    pending = world.put(_stream("orders-pending", "mssql/stream-layout-v1-change-capture.yaml", "uid-pending"))
    pending_obj = cast(dict[str, Any], world.current(pending))  # the stored object itself: edited in place
    pending_obj["status"] = {"phase": "Pending"}
    out["pending-streaming"] = world.snapshot(pending)

    scheduled = world.put(_stream("orders-hourly", "mssql/stream-layout-v1-batch-cron.yaml", "uid-hourly"))
    await world.until(scheduled, "Scheduled")
    out["scheduled-steady"] = world.snapshot(scheduled)

    suspended = world.put(_stream("orders-paused", "mssql/stream-layout-v1-suspended.yaml", "uid-paused"))
    await world.until(suspended, "Suspended")
    out["suspended-steady"] = world.snapshot(suspended)

    mock = world.put(_stream("integration-test-stream-x7k2q", "mock/stream-v0-teststreamdefinition.yaml", "uid-mock"))
    await world.until(mock, "Running")
    out["mock-v0-running"] = world.snapshot(mock)
    return out


# ---------------------------------------------------------------- measuring


def _time_calls(
    calls: dict[str, Callable[[], object]], count: int, warmup: int, *, in_turns: bool = False
) -> dict[str, tuple[list[int], list[int]]]:
    """Per-call CPU time of this thread and wall time, in ns, of each call `count` times: one call after the other
    (each runs `count` times in a row, its code and data hot in the processor's caches), or `in_turns` (one of each
    per round: each call finds the caches as the others left them, as in an operator evaluating one object after
    another). On a shared machine the CPU time is the cost of the call; the wall time adds whatever else ran
    meanwhile."""
    for _ in range(warmup):
        for call in calls.values():
            call()
    gc.collect()
    samples: dict[str, tuple[list[int], list[int]]] = {name: ([], []) for name in calls}
    turns = [(call, *samples[name]) for name, call in calls.items()]
    rounds = [turns] * count if in_turns else [[turn] * count for turn in turns]
    cpu_ns, wall_ns = time.thread_time_ns, time.perf_counter_ns
    for batch in rounds:
        for call, cpu, wall in batch:
            started_cpu, started_wall = cpu_ns(), wall_ns()
            call()
            wall.append(wall_ns() - started_wall)
            cpu.append(cpu_ns() - started_cpu)
    return samples


def _percentiles(samples: list[int]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1000, 1)

    return {"p50_us": at(0.50), "p99_us": at(0.99), "mean_us": round(statistics.fmean(ordered) / 1000, 1)}


def _figures(cpu: list[int], wall: list[int]) -> dict[str, float]:
    return {**_percentiles(cpu), **{f"wall_{key}": value for key, value in _percentiles(wall).items()}}


def _bindings(ruleset: RuleSet, obj: Obj, store: IndexedStore) -> tuple[Binding, ...]:
    return tuple(bindings_for(ruleset, GVK.of_object(obj), store))


def _job_build(ruleset: RuleSet, obj: Obj, store: IndexedStore) -> Callable[[], CreateObject]:
    """The `create` action of the rule that starts streaming, planned alone in a fresh evaluation context."""
    (binding,) = _bindings(ruleset, obj, store)
    document = binding.document
    rule = next(rule for group in document.groups for rule in group.rules if rule.name == "start-streaming")
    action: ActionSpec = next(spec for spec in rule.then if spec.op is ActionOp.CREATE)
    snapshot = Snapshot(obj, store, (binding,))
    rule_info = {"name": rule.name, "group": "lifecycle", "document": document.name, "file": document.file}

    def build() -> CreateObject:
        session = _Session(ruleset.digest, binding, snapshot, Evaluation(), _stamp())
        plan = Plan()
        context: Context = session.root.child({"rule": rule_info})
        session.planner.plan((action,), context, plan)
        (created,) = plan.actions
        assert isinstance(created, CreateObject)
        return created

    return build


_COLD = """
import json, sys, time
sys.path.insert(0, {root!r})
from engine.spec import compile_ruleset
cpu, wall = time.thread_time(), time.perf_counter()
compile_ruleset([{rules!r}])
print(json.dumps([(time.thread_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000]))
"""


def _cold_compile() -> tuple[float, float]:
    """CPU and wall milliseconds of compiling rules/ in a fresh process (nothing compiled or cached before)."""
    code = _COLD.format(root=str(ROOT), rules=str(RULES))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    cpu, wall = json.loads(out)
    return float(cpu), float(wall)


_REUSED = "reevaluation:"
_BUILD = "job build"


def run(quick: bool = False) -> dict[str, Any]:
    """Run the benchmark and return its figures."""
    repeats, count, warmup = (3, 300, 50) if quick else (10, 3000, 300)

    cold = [_cold_compile() for _ in range(1 if quick else 3)]
    warm_ms = []
    for _ in range(repeats):
        started = time.thread_time()
        ruleset = compile_ruleset([RULES])
        warm_ms.append((time.thread_time() - started) * 1000)

    scenarios = asyncio.run(_scenarios(ruleset))
    calls: dict[str, Callable[[], object]] = {}
    per_scenario: dict[str, Any] = {}
    for name, (obj, store) in scenarios.items():
        bindings = _bindings(ruleset, obj, store)
        snapshot = Snapshot(obj, store, bindings)
        evaluation = evaluate(ruleset, snapshot, clock)
        if evaluation.errors:
            raise RuntimeError(f"{name}: {evaluation.errors[0].error}")
        calls[name] = functools.partial(evaluate, ruleset, snapshot, clock)
        # The runtime keeps the facts of an unchanged object between its evaluations (engine.core.memo): the
        # re-evaluation of a stream whose Job changed. The other figures are first evaluations of a version.
        kept = Snapshot(obj, store, bindings, FactMemo())
        evaluate(ruleset, kept, clock)
        calls[_REUSED + name] = functools.partial(evaluate, ruleset, kept, clock)
        per_scenario[name] = {
            "fired": ",".join(evaluation.fired) or "-",
            "actions": sum(len(d.actions) for d in evaluation.decisions),
        }
    build = _job_build(ruleset, *scenarios["pending-streaming"])
    created = build()
    containers = created.obj["spec"]["template"]["spec"]["containers"]
    assert containers[0].get("envFrom"), "the Job build includes the class's secretRefs"
    calls[_BUILD] = build

    timed = _time_calls(calls, count, warmup)
    pooled: list[int] = []
    pooled_wall: list[int] = []
    steady: list[int] = []
    reused: list[int] = []
    for name, figures in per_scenario.items():
        cpu, wall = timed[name]
        reused_cpu, _ = timed[_REUSED + name]
        pooled.extend(cpu)
        pooled_wall.extend(wall)
        if not figures["actions"]:  # a steady state: no action decided
            steady.extend(cpu)
        reused.extend(reused_cpu)
        per_scenario[name] = {
            **_figures(cpu, wall),
            "reevaluation_p50_us": _percentiles(reused_cpu)["p50_us"],
            **figures,
        }
    build_cpu, build_wall = timed[_BUILD]
    build_samples = build_cpu
    evaluations = {name: calls[name] for name in per_scenario}
    in_turns = _time_calls(evaluations, count, warmup, in_turns=True)
    turned = [sample for cpu, _ in in_turns.values() for sample in cpu]

    evaluation_figures = _figures(pooled, pooled_wall)
    build_figures = _figures(build_cpu, build_wall)
    compile_figures = {
        "cold_ms": round(statistics.median(cpu for cpu, _ in cold), 1),
        "cold_wall_ms": round(statistics.median(wall for _, wall in cold), 1),
        "warm_ms": round(statistics.median(warm_ms), 1),
    }
    return {
        "evaluation": evaluation_figures,
        "evaluation_steady": _percentiles(steady),
        # The same evaluations in turns, one of each scenario per round: with the processor's caches as the other
        # scenarios left them, as in an operator (the figures above run each scenario `count` times in a row).
        "evaluation_in_turns": {
            **_percentiles(turned),
            **{f"{name}_p50_us": _percentiles(cpu)["p50_us"] for name, (cpu, _) in in_turns.items()},
        },
        "reevaluation_unchanged_object": _percentiles(reused),
        "evaluations_per_second": round(1e9 / statistics.fmean(pooled)),
        "job_build": build_figures,
        "job_builds_per_second": round(1e9 / statistics.fmean(build_samples)),
        "compile": compile_figures,
        "rules": {
            "documents": len(ruleset.documents),
            "rules": len(ruleset.rules()),
            "samples_per_scenario": count,
        },
        "scenarios": per_scenario,
        "targets": {
            "evaluation_p50_us": TARGET_EVALUATION_P50_US,
            "evaluation_p99_us": TARGET_EVALUATION_P99_US,
            "job_build_us": TARGET_JOB_BUILD_US,
            "compile_ms": TARGET_COMPILE_MS,
        },
        "meets_targets": {
            "evaluation_p50": evaluation_figures["p50_us"] <= TARGET_EVALUATION_P50_US,
            "evaluation_p99": evaluation_figures["p99_us"] <= TARGET_EVALUATION_P99_US,
            "job_build": build_figures["p50_us"] <= TARGET_JOB_BUILD_US,
            "compile": compile_figures["cold_ms"] <= TARGET_COMPILE_MS,
        },
    }


def profile(quick: bool = True) -> str:
    """A cProfile of the evaluations of every scenario and of Job builds (the top functions by own time)."""
    ruleset = compile_ruleset([RULES])
    scenarios = asyncio.run(_scenarios(ruleset))
    profiler = cProfile.Profile()
    rounds = 200 if quick else 2000
    snapshots = [Snapshot(obj, store, _bindings(ruleset, obj, store)) for obj, store in scenarios.values()]
    build = _job_build(ruleset, *scenarios["pending-streaming"])
    profiler.enable()
    for _ in range(rounds):
        for snapshot in snapshots:
            evaluate(ruleset, snapshot, clock)
        build()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
    return out.getvalue()


if __name__ == "__main__":
    if "--profile" in sys.argv:
        print(profile("--quick" in sys.argv))
    else:
        print(json.dumps(run("--quick" in sys.argv), indent=2))
