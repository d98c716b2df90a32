"""Scenario 3, latency: a steady 50 edits/s (suspend, resume, BackfillRequests) over 2,000 running streams.

The streams start converged (cloned from the operator's own template, bench.demo) and the operator has
evaluated them all before the first edit. Edits follow an absolute schedule (bench.edits). Measured, per
edit: event (kubesim answered the edit) to the operator's first write issued (the write's arrival in
kubesim's request log), to the phase written (the stream's status write answered), and to the phase seen
by a watcher (the harness's watch); p50/p95/p99 and max. Beside them, kubesim's write capacity (probed
before the operator starts), its service time for the edits themselves, and its CPU share.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

from bench import procstat
from bench.demo import seed_objects, streams_path
from bench.edits import EditKind, Editor, attribute, latencies_ms
from bench.framework import Context, Figure, Run, ScenarioResult, percentiles, rounded
from bench.kube import Api, wait_for
from bench.measure import harness_records, operator_records, probe_writes, requests_summary
from bench.observe import PhaseWatch, wait_quiet
from bench.operators import OperatorProcess, Peer
from bench.sim import SimProcess

NAME = "latency"
FIGURES = [
    Figure("first_write_p50_ms", "event to first write issued, p50", "ms", 20.0),
    Figure("first_write_p95_ms", "event to first write issued, p95", "ms"),
    Figure("first_write_p99_ms", "event to first write issued, p99", "ms", 250.0),
    Figure("first_write_max_ms", "event to first write issued, max", "ms"),
    Figure("phase_written_p50_ms", "event to phase written, p50", "ms"),
    Figure("phase_written_p95_ms", "event to phase written, p95", "ms"),
    Figure("phase_written_p99_ms", "event to phase written, p99", "ms"),
    Figure("phase_seen_p50_ms", "event to phase seen by a watcher, p50", "ms"),
    Figure("phase_seen_p99_ms", "event to phase seen by a watcher, p99", "ms"),
    Figure("edits_per_s", "edits sent", "edits/s", better="higher", ratio=False),
    Figure("unanswered", "edits without a write", "", ratio=False),
    Figure("cpu_ms_per_edit", "operator CPU per edit (until drained)", "ms"),
    Figure("drained_after_s", "backlog drained after the last edit", "s"),
    Figure("operator_cpu_share", "operator CPU", "cores"),
]
KINDS = [EditKind.SUSPEND, EditKind.BACKFILL, EditKind.RESUME]


async def run(ctx: Context) -> ScenarioResult:
    result = ScenarioResult(NAME, "a steady stream of edits over running streams; event to reaction", FIGURES)
    sizes = ctx.sizes or ([30] if ctx.quick else [2_000])
    for size in sizes:
        for peer in ctx.peers:
            template = await ctx.template(peer)
            ctx.say(f"{NAME} {peer.value} N={size}: seeding kubesim")
            try:
                await ctx.quiet_machine()
                result.runs.append(await _one(ctx, peer, template, size))
            except (TimeoutError, RuntimeError) as error:
                ctx.say(f"{NAME} {peer.value} N={size}: FAILED: {error}")
                result.runs.append(Run(peer.value, size, error=str(error)[:2000]))
    return result


async def _one(ctx: Context, peer: Peer, template: object, size: int) -> Run:
    run = Run(peer.value, size)
    rate = ctx.rate or (10.0 if ctx.quick else 50.0)
    duration = ctx.duration or (3.0 if ctx.quick else 60.0)
    rest = 1.0 if ctx.quick else 10.0
    seed, names = seed_objects(template, size)  # type: ignore[arg-type]
    workdir = ctx.workdir / f"{NAME}-{peer.value}-{size}"
    timeout = ctx.timeout or (120.0 if ctx.quick else max(600.0, size * 0.5))
    with SimProcess(workdir, seed, job_seconds=ctx.job_seconds, timeout=3600) as sim:
        async with Api(sim.endpoint) as api:
            run.kubesim.update(await probe_writes(api, seconds=0.5 if ctx.quick else 3.0))
            operator = OperatorProcess(peer, workdir, sim.kubeconfig).start()
            watch: PhaseWatch | None = None
            depths: list[int] = []
            sampling: asyncio.Task[None] | None = None
            try:
                await wait_for(operator.ready, timeout=timeout, interval=0.1, what="the operator to be ready")

                async def evaluated() -> bool:
                    progress = await operator.progress()
                    return progress.evaluated >= size and not progress.queue_depth

                await wait_for(evaluated, timeout=timeout, interval=0.5, what="every stream evaluated")
                await wait_quiet(api, quiet=1.0, timeout=timeout)
                ctx.say(f"{NAME} {peer.value} N={size}: operator settled; {rate:g} edits/s for {duration:g} s")
                await api.clear_request_log()
                watch = await PhaseWatch(api, streams_path()).start()

                async def sample() -> None:
                    while True:
                        progress = await operator.progress()
                        if progress.queue_depth is not None:
                            depths.append(progress.queue_depth)
                        await asyncio.sleep(1.0)

                sampling = asyncio.get_running_loop().create_task(sample())
                editor = Editor(api, names, KINDS, rest)
                cpu = procstat.CpuWindow(operator.pid).start()
                sim_cpu = procstat.CpuWindow(sim.pid).start()
                background = procstat.Background([sim.pid, operator.pid, os.getpid()]).start()
                took = await editor.run(rate, duration, lambda m: ctx.say(f"{NAME} {peer.value}: {m}"))
                # Let the operator drain what it owes (a backlog is part of the figure), then read the log.
                drain = time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await wait_quiet(api, quiet=2.0 if ctx.quick else 3.0, timeout=max(120.0, duration * 10))
                run.figures["drained_after_s"] = rounded(time.monotonic() - drain, 1)
                cpu.stop()
                sim_cpu.stop()
                run.background_cores = round(background.stop().cores, 2)
                log = await api.request_log()
                run.figures["relists"] = (await operator.progress()).restarts
            finally:
                if sampling is not None:
                    sampling.cancel()
                    await asyncio.gather(sampling, return_exceptions=True)
                if watch is not None:
                    await watch.stop()
                code, _ = await operator.stop()
    reactions = attribute(editor.edits, log, watch)
    for figure, attr in (
        ("first_write", "first_write"),
        ("phase_written", "phase_written"),
        ("phase_seen", "phase_seen"),
    ):
        spread = percentiles(latencies_ms(reactions, attr))
        for point, value in spread.items():
            run.figures[f"{figure}_{point}_ms"] = rounded(value, 1)
    run.figures["edits"] = len(editor.edits)
    run.figures["edits_per_s"] = rounded(len(editor.edits) / took, 1)
    run.figures["edit_failures"] = sum(1 for e in editor.edits if e.status >= 300 or e.error)
    run.figures["unanswered"] = sum(1 for r in reactions if r.event_at is not None and r.first_write is None)
    run.figures["by_kind"] = {
        kind.value: percentiles(latencies_ms([r for r in reactions if r.edit.kind is kind], "first_write"))
        for kind in KINDS
    }
    run.figures["operator_cpu_share"] = rounded(cpu.core_share, 2)
    run.figures["cpu_ms_per_edit"] = rounded(cpu.seconds * 1000 / max(1, len(editor.edits)), 2)
    run.figures["queue_depth_max"] = max(depths, default=None)
    run.figures["requests"] = requests_summary(operator_records(log))
    run.figures["exit_code"] = code
    run.figures["log_problems"] = operator.log_problems()
    edits = [
        r for r in harness_records(log) if str((r.get("query") or {}).get("fieldManager", "")).startswith("bench-edit-")
    ]
    service = percentiles([float(r["duration"]) * 1000 for r in edits])
    run.kubesim["edit_service_p50_ms"] = rounded(service.get("p50", 0.0), 2)
    run.kubesim["edit_service_p99_ms"] = rounded(service.get("p99", 0.0), 2)
    run.kubesim["cpu_share"] = rounded(sim_cpu.core_share, 2)
    return run
