"""Scenario 2, converge: N new streams created at once; time until every one is `Running`.

Each stream goes New -> Pending (initial BackfillRequest) -> Backfilling (backfill Job, which kubesim
completes after 1 s) -> Pending (request completed) -> Running (streaming Job): four phase changes. The
harness creates the N streams as fast as kubesim takes them (32 in flight) and watches the phases.
Measured: seconds from the first create to the last stream Running, throughput, the operator's API
requests (and writes) per stream and per phase change (kubesim's request log, until the cluster is
quiet again), CPU seconds per 1,000 streams (/proc), peak RSS. Beside them, kubesim's write capacity
(probed before the operator starts), how fast it took the creation burst, and its CPU share.
"""

from __future__ import annotations

import asyncio
import os
import time

from bench import procstat
from bench.demo import base_manifests, stream, stream_name, streams_path
from bench.framework import Context, Figure, Run, ScenarioResult, percentiles, rounded
from bench.kube import Api, wait_for
from bench.measure import operator_records, probe_writes, requests_summary
from bench.observe import PhaseWatch, wait_quiet
from bench.operators import OperatorProcess, Peer
from bench.sim import Seed, SimProcess

NAME = "converge"
PHASE_CHANGES = 4
FIGURES = [
    Figure("seconds_to_running", "all streams Running", "s", 60.0),
    Figure("streams_per_s", "throughput", "streams/s", better="higher"),
    Figure("requests_per_phase_change", "API requests per stream per phase change", "", 4.0),
    Figure("requests_per_stream", "API requests per stream", ""),
    Figure("writes_per_stream", "writes per stream", ""),
    Figure("cpu_s_per_1000", "CPU per 1,000 streams", "s"),
    Figure("peak_rss_mib", "peak RSS", "MiB"),
    Figure("time_to_running_p50_s", "per stream, create to Running, p50", "s"),
    Figure("time_to_running_p99_s", "per stream, create to Running, p99", "s"),
]


async def run(ctx: Context) -> ScenarioResult:
    result = ScenarioResult(NAME, "N new streams at once, until every one is Running", FIGURES)
    sizes = ctx.sizes or ([20] if ctx.quick else [1_000])
    for size in sizes:
        for peer in ctx.peers:
            ctx.say(f"{NAME} {peer.value} N={size}: starting")
            try:
                await ctx.quiet_machine()
                result.runs.append(await _one(ctx, peer, size))
            except (TimeoutError, RuntimeError) as error:
                ctx.say(f"{NAME} {peer.value} N={size}: FAILED: {error}")
                result.runs.append(Run(peer.value, size, error=str(error)[:2000]))
    return result


async def _one(ctx: Context, peer: Peer, size: int) -> Run:
    run = Run(peer.value, size)
    workdir = ctx.workdir / f"{NAME}-{peer.value}-{size}"
    timeout = ctx.timeout or (120.0 if ctx.quick else max(600.0, size * 1.0))
    with SimProcess(workdir, Seed(base=base_manifests()), job_seconds=ctx.job_seconds) as sim:
        async with Api(sim.endpoint) as api:
            run.kubesim.update(await probe_writes(api, seconds=0.5 if ctx.quick else 3.0))
            operator = OperatorProcess(peer, workdir, sim.kubeconfig).start()
            sampler = procstat.Sampler(operator.pid, 0.25).start()
            watch: PhaseWatch | None = None
            try:
                await wait_for(operator.ready, timeout=120, interval=0.05, what="the operator to be ready")
                await wait_quiet(api, quiet=1.0)
                await api.clear_request_log()
                watch = await PhaseWatch(api, streams_path()).start()
                names = [stream_name(i) for i in range(1, size + 1)]
                cpu = procstat.CpuWindow(operator.pid).start()
                sim_cpu = procstat.CpuWindow(sim.pid).start()
                harness_cpu = procstat.CpuWindow(os.getpid()).start()
                background = procstat.Background([sim.pid, operator.pid, os.getpid()]).start()
                created_at: dict[str, float] = {}
                limit = asyncio.Semaphore(32)

                async def create(name: str) -> None:
                    async with limit:
                        created_at[name] = time.time()
                        await api.create(streams_path(), stream(name))

                t0 = time.time()
                await asyncio.gather(*(create(name) for name in names))
                burst = time.time() - t0
                run.kubesim["create_burst_per_s"] = rounded(size / burst, 1)
                ctx.say(f"{NAME} {peer.value} N={size}: {size} streams created in {burst:.1f} s")
                last = [time.monotonic()]

                def report() -> None:
                    if time.monotonic() - last[0] > 5:
                        last[0] = time.monotonic()
                        assert watch is not None
                        phases = {p: watch.count(p) for p in ("", "Pending", "Backfilling", "Running", "Failed")}
                        ctx.say(f"{NAME} {peer.value} N={size}: {phases}")

                def all_running() -> bool:
                    assert watch is not None
                    if watch.count("Running") < size:  # cheap, and wrong only in the safe direction
                        return False
                    return all(watch.states.get(n) is not None and watch.states[n].phase == "Running" for n in names)

                if not await watch.wait(all_running, timeout, on_change=report):
                    phases = {p: watch.count(p) for p in ("", "Pending", "Backfilling", "Running", "Failed")}
                    raise TimeoutError(f"not every stream Running after {timeout:g} s: {phases}")
                cpu.stop()
                sim_cpu.stop()
                harness_cpu.stop()
                run.background_cores = round(background.stop().cores, 2)
                running_at = {n: watch.states[n].seen["Running"] for n in names}
                finished = max(running_at.values())
                run.figures["seconds_to_running"] = rounded(finished - t0, 2)
                run.figures["streams_per_s"] = rounded(size / (finished - t0), 2)
                run.figures["cpu_s_per_1000"] = rounded(cpu.seconds / size * 1000, 2)
                run.figures["operator_cpu_share"] = rounded(cpu.core_share, 2)
                run.kubesim["cpu_share"] = rounded(sim_cpu.core_share, 2)
                run.figures["harness_cpu_share"] = rounded(harness_cpu.core_share, 2)
                spread = percentiles([running_at[n] - created_at[n] for n in names])
                run.figures["time_to_running_p50_s"] = rounded(spread["p50"], 2)
                run.figures["time_to_running_p99_s"] = rounded(spread["p99"], 2)
                ctx.say(
                    f"{NAME} {peer.value} N={size}: every stream Running after {run.figures['seconds_to_running']} s"
                )
                await wait_quiet(api, quiet=2.0, timeout=timeout)
                run.figures["peak_rss_mib"] = rounded(procstat.peak_rss_bytes(operator.pid) / procstat.MIB, 1)
                log = await api.request_log()
                progress = await operator.progress()
                transitions = watch.transitions
            finally:
                if watch is not None:
                    await watch.stop()
                await sampler.stop()
                code, _ = await operator.stop()
    summary = requests_summary(operator_records(log))
    run.figures["requests_per_stream"] = rounded(summary["requests"] / size, 2)
    run.figures["writes_per_stream"] = rounded(summary["writes"] / size, 2)
    run.figures["phase_changes"] = transitions
    run.figures["requests_per_phase_change"] = rounded(summary["requests"] / (size * PHASE_CHANGES), 2)
    run.figures["requests"] = summary
    run.figures["errors"] = progress.errors
    run.figures["relists"] = progress.restarts
    if peer is Peer.OURS:  # the peer counts streams reconciled, not evaluations
        run.figures["evaluations_per_stream"] = rounded(progress.evaluated / size, 2)
    run.figures["exit_code"] = code
    run.figures["log_problems"] = operator.log_problems()
    return run
