"""Scenario 1, cold start: N streams already run with up-to-date Jobs; the operator starts.

Measured from the operator's launch: time to caches synced (ours: /readyz answers 200; the kopf peer has
no such notion, so the time its indexes are filled and it handles objects), time until every stream was
evaluated (ours: stream-rule decisions >= N and an empty queue, from /metrics; the peer: N distinct
streams reconciled), the writes it issued (kubesim's request log; a correct operator issues none), peak
RSS (VmHWM) and steady RSS and idle CPU after it settled. Beside them, kubesim's own figures: how fast the
harness lists the same objects from it, and kubesim's CPU while the operator synced.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from bench import procstat
from bench.demo import JOBS, NAMESPACE, seed_objects, streams_path
from bench.framework import Context, Figure, Run, ScenarioResult, rounded
from bench.kube import Api, resource_path, wait_for
from bench.measure import operator_records, probe_list, requests_summary
from bench.operators import OperatorProcess, Peer
from bench.sim import SimProcess

NAME = "cold-start"
FIGURES = [
    Figure("caches_synced_s", "caches synced", "s", 20.0),
    Figure("all_evaluated_s", "every stream evaluated", "s", 30.0),
    Figure("writes", "writes issued", "", 0.0),
    Figure("peak_rss_mib", "peak RSS", "MiB", 450.0),
    Figure("steady_rss_mib", "steady RSS", "MiB", 300.0),
    Figure("idle_cpu_pct", "idle CPU", "% of a core", 2.0),
    Figure("reads", "reads issued (list, watch, get)", ""),
    Figure("relists", "relists and watch restarts", "", ratio=False),
]


async def run(ctx: Context) -> ScenarioResult:
    result = ScenarioResult(NAME, "N streams already exist with up-to-date Jobs; the operator starts", FIGURES)
    sizes = ctx.sizes or ([30] if ctx.quick else [1_000, 10_000])
    for peer in ctx.peers:
        template = await ctx.template(peer)
        for size in sizes:
            ctx.say(f"{NAME} {peer.value} N={size}: seeding kubesim")
            try:
                await ctx.quiet_machine()
                result.runs.append(await _one(ctx, peer, template, size))
            except (TimeoutError, RuntimeError) as error:
                ctx.say(f"{NAME} {peer.value} N={size}: FAILED: {error}")
                result.runs.append(Run(peer.value, size, error=str(error)[:2000]))
    return result


async def _one(ctx: Context, peer: Peer, template: Any, size: int) -> Run:
    run = Run(peer.value, size)
    seed, _ = seed_objects(template, size)
    workdir = ctx.workdir / f"{NAME}-{peer.value}-{size}"
    timeout = ctx.timeout or (120.0 if ctx.quick else max(300.0, size * 0.5))
    steady = 2.0 if ctx.quick else 15.0
    idle = 2.0 if ctx.quick else 20.0
    with SimProcess(workdir, seed, job_seconds=ctx.job_seconds, timeout=3600) as sim:
        run.kubesim["seed_seconds"] = rounded(sim.seconds_to_serve, 1)
        async with Api(sim.endpoint) as api:
            for what, path in (("streams", streams_path()), ("jobs", resource_path(*JOBS, NAMESPACE))):
                probe = await probe_list(api, path)
                run.kubesim[f"list_{what}_per_s"] = probe["list_objects_per_s"]
                run.kubesim[f"list_{what}_s"] = probe["list_seconds"]
            run.kubesim["objects"] = sum(len(c["names"]) * len(c["objects"]) for c in seed.clones)
            await api.clear_request_log()
            sim_cpu = procstat.CpuWindow(sim.pid).start()
            operator = OperatorProcess(peer, workdir, sim.kubeconfig).start()
            sampler = procstat.Sampler(operator.pid, 0.25).start()
            background = procstat.Background([sim.pid, operator.pid, os.getpid()]).start()
            ctx.say(f"{NAME} {peer.value} N={size}: operator started (pid {operator.pid})")
            try:
                try:
                    synced = await wait_for(operator.ready, timeout=timeout, interval=0.05, what="caches synced")
                except TimeoutError as error:
                    return _partial(ctx, run, operator, error)
                run.figures["caches_synced_s"] = rounded(synced - operator.started_at, 2)
                ctx.say(f"{NAME} {peer.value} N={size}: synced after {run.figures['caches_synced_s']} s")
                last_report = [time.monotonic()]

                async def evaluated() -> bool:
                    progress = await operator.progress()
                    if time.monotonic() - last_report[0] > 5:
                        last_report[0] = time.monotonic()
                        ctx.say(
                            f"{NAME} {peer.value} N={size}: {progress.evaluated} evaluated, queue {progress.queue_depth}"
                        )
                    return progress.evaluated >= size and not progress.queue_depth

                try:
                    done = await wait_for(evaluated, timeout=timeout, interval=0.25, what="every stream evaluated")
                except TimeoutError as error:
                    return _partial(ctx, run, operator, error)
                run.figures["all_evaluated_s"] = rounded(done - operator.started_at, 2)
                run.figures["cpu_seconds_to_evaluated"] = rounded(procstat.cpu_seconds(operator.pid), 2)
                sim_cpu.stop()
                run.background_cores = round(background.stop().cores, 2)
                run.kubesim["cpu_share_during_sync"] = rounded(sim_cpu.core_share, 2)
                ctx.say(
                    f"{NAME} {peer.value} N={size}: every stream evaluated after {run.figures['all_evaluated_s']} s"
                )
                await asyncio.sleep(steady)
                cpu = procstat.CpuWindow(operator.pid).start()
                await asyncio.sleep(idle)
                cpu.stop()
                run.figures["idle_cpu_pct"] = rounded(cpu.core_share * 100, 2)
                run.figures["steady_rss_mib"] = rounded(procstat.rss_bytes(operator.pid) / procstat.MIB, 1)
                run.figures["peak_rss_mib"] = rounded(procstat.peak_rss_bytes(operator.pid) / procstat.MIB, 1)
                progress = await operator.progress()
                run.figures["relists"] = progress.restarts
                log = await api.request_log()
            finally:
                await sampler.stop()
                code, took = await operator.stop()
            run.figures["exit_code"] = code
            run.figures["shutdown_s"] = rounded(took, 2)
            summary = requests_summary(operator_records(log))
            run.figures["writes"] = summary["writes"]
            run.figures["reads"] = summary["requests"] - summary["writes"]
            run.figures["requests"] = summary
            run.figures["rss_samples_mib"] = [
                [rounded(t, 1), rounded(v / procstat.MIB, 1)]
                for t, v in sampler.samples[:: max(1, len(sampler.samples) // 60)]
            ]
            run.figures["log_problems"] = operator.log_problems()
            if summary["writes"]:
                writes = [r for r in operator_records(log) if r.get("verb") in ("create", "patch", "update", "delete")]
                run.notes.append(
                    "writes: " + ", ".join(sorted({f"{r['verb']} {r['resource']}/{r['subresource']}" for r in writes}))
                )
    return run


def _partial(ctx: Context, run: Run, operator: OperatorProcess, error: TimeoutError) -> Run:
    """A run that did not finish in time, with what it still tells: memory and CPU so far (lower bounds)."""
    run.figures["peak_rss_mib"] = rounded(procstat.peak_rss_bytes(operator.pid) / procstat.MIB, 1)
    run.figures["rss_at_timeout_mib"] = rounded(procstat.rss_bytes(operator.pid) / procstat.MIB, 1)
    run.figures["cpu_seconds_at_timeout"] = rounded(procstat.cpu_seconds(operator.pid), 1)
    run.error = str(error)[:2000]
    run.notes.append("peak RSS is what it had used when the wait ended (a lower bound)")
    ctx.say(f"{NAME} {run.peer} N={run.size}: FAILED: {error}")
    return run
