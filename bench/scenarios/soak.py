"""Scenario 4, churn soak (long): 10 minutes of mixed edits on 10,000 running streams.

Edits (bench.edits) cycle through suspend, BackfillRequest, resume, deleting a stream's Job (the operator
recreates it) and editing a stream's spec (the operator replaces its Job). A new BackfillRequest replaces
the stream's earlier ones (deleted once it is created), so the cluster holds as many objects at the end as
at the start and RSS drift means memory kept, not more objects cached. Sampled every 5 s: the
operator's RSS and queue depth. Measured: RSS drift (end against the level after a warm-up of a tenth of
the run), the deepest queue, errors (5xx answers, error log lines, failed evaluations), and, once the
cluster is quiet again, streams not in the state their spec asks for (Suspended without a Job, or
Running with one). Beside them, kubesim's CPU share and its service time for the edits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

from bench import procstat
from bench.demo import JOBS, NAMESPACE, seed_objects, streams_path
from bench.edits import EditKind, Editor, attribute, latencies_ms
from bench.framework import Context, Figure, Run, ScenarioResult, percentiles, rounded
from bench.kube import Api, resource_path, wait_for
from bench.measure import operator_records, requests_summary
from bench.observe import PhaseWatch, wait_quiet
from bench.operators import OperatorProcess, Peer
from bench.sim import SimProcess

NAME = "soak"
FIGURES = [
    Figure("rss_growth_pct", "RSS growth after warm-up", "%", 5.0),
    Figure("rss_after_warmup_mib", "RSS after warm-up", "MiB", 300.0),
    Figure("rss_end_mib", "RSS at the end", "MiB", 300.0),
    Figure("queue_depth_max", "deepest queue", "keys"),
    Figure("errors", "errors", "", 0.0),
    Figure("inconsistent_streams", "streams not in the state their spec asks for", "", 0.0),
    Figure("first_write_p50_ms", "event to first write, p50", "ms"),
    Figure("first_write_p99_ms", "event to first write, p99", "ms"),
    Figure("edits_per_s", "edits sent", "edits/s", better="higher", ratio=False),
    Figure("cpu_ms_per_edit", "operator CPU per edit (until drained)", "ms"),
    Figure("drained_after_s", "backlog drained after the last edit", "s"),
    Figure("operator_cpu_share", "operator CPU while edits were sent", "cores"),
]
KINDS = [EditKind.SUSPEND, EditKind.BACKFILL, EditKind.RESUME, EditKind.DELETE_JOB, EditKind.EDIT_SPEC]


async def run(ctx: Context) -> ScenarioResult:
    result = ScenarioResult(NAME, "minutes of mixed edits on running streams: drift, queue, errors", FIGURES)
    sizes = ctx.sizes or ([30] if ctx.quick else [10_000])
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
    rate = ctx.rate or (10.0 if ctx.quick else 20.0)
    duration = ctx.duration or (4.0 if ctx.quick else 600.0)
    rest = 1.0 if ctx.quick else 30.0
    seed, names = seed_objects(template, size)  # type: ignore[arg-type]
    workdir = ctx.workdir / f"{NAME}-{peer.value}-{size}"
    timeout = ctx.timeout or (120.0 if ctx.quick else max(900.0, size * 0.5))
    samples: list[tuple[float, int, int | None]] = []
    with SimProcess(workdir, seed, job_seconds=ctx.job_seconds, timeout=3600) as sim:
        async with Api(sim.endpoint) as api:
            operator = OperatorProcess(peer, workdir, sim.kubeconfig).start()
            watch: PhaseWatch | None = None
            sampling: asyncio.Task[None] | None = None
            try:
                await wait_for(operator.ready, timeout=timeout, interval=0.1, what="the operator to be ready")

                async def evaluated() -> bool:
                    progress = await operator.progress()
                    return progress.evaluated >= size and not progress.queue_depth

                await wait_for(evaluated, timeout=timeout, interval=0.5, what="every stream evaluated")
                await wait_quiet(api, quiet=1.0, timeout=timeout)
                ctx.say(f"{NAME} {peer.value} N={size}: settled; {rate:g} edits/s for {duration:g} s")
                await api.clear_request_log()
                watch = await PhaseWatch(api, streams_path()).start()
                started = time.monotonic()

                async def sample() -> None:
                    while True:
                        progress = await operator.progress()
                        samples.append(
                            (time.monotonic() - started, procstat.rss_bytes(operator.pid), progress.queue_depth)
                        )
                        await asyncio.sleep(0.5 if ctx.quick else 5.0)

                sampling = asyncio.get_running_loop().create_task(sample())
                editor = Editor(api, names, KINDS, rest)
                await editor.load_requests()  # a new BackfillRequest replaces the stream's old one: constant size
                cpu = procstat.CpuWindow(operator.pid).start()
                sim_cpu = procstat.CpuWindow(sim.pid).start()
                background = procstat.Background([sim.pid, operator.pid, os.getpid()]).start()
                took = await editor.run(rate, duration, lambda m: ctx.say(f"{NAME} {peer.value}: {m}"))
                sending_cpu = cpu.stop().seconds
                sim_cpu.stop()
                run.background_cores = round(background.stop().cores, 2)
                sampling.cancel()
                await asyncio.gather(sampling, return_exceptions=True)
                sampling = None
                drain = time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await wait_quiet(api, quiet=3.0, timeout=timeout)
                run.figures["drained_after_s"] = rounded(time.monotonic() - drain, 1)
                run.figures["cpu_ms_per_edit"] = rounded(
                    (procstat.cpu_seconds(operator.pid) - cpu.started_cpu) * 1000 / max(1, len(editor.edits)), 2
                )
                progress = await operator.progress()
                run.figures["inconsistent_streams"], examples = await _inconsistent(api)
                if examples:
                    run.notes.append("inconsistent: " + "; ".join(examples))
                log = await api.request_log()
            finally:
                if sampling is not None:
                    sampling.cancel()
                    await asyncio.gather(sampling, return_exceptions=True)
                if watch is not None:
                    await watch.stop()
                code, _ = await operator.stop()
    warm = [s for s in samples if s[0] >= duration / 10] or samples
    base = warm[0][1] if warm else 0
    end = samples[-1][1] if samples else 0
    run.figures["rss_after_warmup_mib"] = rounded(base / procstat.MIB, 1)
    run.figures["rss_end_mib"] = rounded(end / procstat.MIB, 1)
    run.figures["rss_max_mib"] = rounded(max((s[1] for s in samples), default=0) / procstat.MIB, 1)
    run.figures["rss_growth_pct"] = rounded((end - base) / base * 100, 2) if base else None
    depths = [s[2] for s in samples if s[2] is not None]
    run.figures["queue_depth_max"] = max(depths, default=None)
    run.figures["queue_depth_end"] = depths[-1] if depths else None
    records = operator_records(log)
    summary = requests_summary(records)
    server_errors = sum(1 for r in records if int(r.get("status") or 0) >= 500)
    problems = operator.log_problems()
    run.figures["errors"] = server_errors + problems["error"] + progress.errors
    run.figures["error_parts"] = {
        "5xx": server_errors,
        "log_errors": problems["error"],
        "evaluation_errors": progress.errors,
    }
    run.figures["log_warnings"] = problems["warning"]
    reactions = attribute(editor.edits, log, watch)
    spread = percentiles(latencies_ms(reactions, "first_write"))
    run.figures["first_write_p50_ms"] = rounded(spread.get("p50", float("nan")), 1)
    run.figures["first_write_p99_ms"] = rounded(spread.get("p99", float("nan")), 1)
    run.figures["edits"] = len(editor.edits)
    run.figures["edits_per_s"] = rounded(len(editor.edits) / took, 1)
    run.figures["edit_failures"] = sum(1 for e in editor.edits if e.status >= 300 or e.error)
    run.figures["operator_cpu_share"] = rounded(sending_cpu / took, 2)
    run.figures["requests"] = summary
    run.figures["exit_code"] = code
    run.figures["samples"] = [[rounded(t, 1), rounded(r / procstat.MIB, 1), q] for t, r, q in samples]
    run.kubesim["cpu_share"] = rounded(sim_cpu.core_share, 2)
    return run


async def _inconsistent(api: Api) -> tuple[int, list[str]]:
    """Streams whose phase or Job does not match their spec once the operator is done."""
    streams, _ = await api.list_all(streams_path())
    jobs, _ = await api.list_all(resource_path(*JOBS, NAMESPACE))
    live = {j["metadata"]["name"] for j in jobs if not j["metadata"].get("deletionTimestamp")}
    bad: list[str] = []
    for obj in streams:
        name = obj["metadata"]["name"]
        suspended = bool(obj["spec"]["execution"].get("suspended"))
        phase = (obj.get("status") or {}).get("phase")
        if suspended and (phase != "Suspended" or name in live):
            bad.append(f"{name} suspended, phase {phase}, job {'present' if name in live else 'absent'}")
        elif not suspended and (phase != "Running" or name not in live):
            bad.append(f"{name} phase {phase}, job {'present' if name in live else 'absent'}")
    return len(bad), bad[:5]
