"""Not a test: measures the informer's own costs (no HTTP), for the numbers quoted in reports.

Times are CPU seconds of this process (`time.process_time`), so a busy machine distorts them less.
Run from the repository root: `.venv/bin/python -m tests.kube.measure_informer` (or with `PYTHONPATH=tests`,
`python -m kube.measure_informer`). It builds 10,000 realistic Job objects (about 3.9 KB of JSON each, two
managedFields entries, like controller-runtime.md §6.2), then measures:
- a cold LIST of 20 pages of 500 through `Informer._list` (orjson parse + strip + atomic replace), with the
  collector running normally and with `freeze_gc=True`;
- retained memory per cached object (tracemalloc), stripped, and unstripped for comparison;
- steady-state watch events (30,000 MODIFIED) through `Informer._on_event` into a `WorkQueue`;
- a full `gc.collect()` with the cache held, before and after `gc.freeze()`.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
import tracemalloc
from typing import Any

import orjson

from engine.kube.informer import Informer, InformerOptions, RelistReason
from engine.model import GVK, ResourceType
from engine.runtime.queue import Priority, WorkQueue

JOBS = ResourceType(GVK("batch", "v1", "Job"), "jobs", True)
N = 10_000
PAGE = 500


def job(i: int, rv: int) -> dict[str, Any]:
    name = f"stream-{i:05d}"
    env = [{"name": f"VAR_{k}", "value": f"value-{k}-{i}"} for k in range(8)]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": f"team-{i % 20}",
            "uid": f"0b6f{i:08d}-6f2e-4c1a-9d3e-1a2b3c4d5e6f",
            "resourceVersion": str(rv),
            "generation": 1,
            "creationTimestamp": "2026-11-01T10:00:00Z",
            "labels": {"app.kubernetes.io/managed-by": "operator", "stream": name, "kind": "batch"},
            "annotations": {"checksum/config": f"{i:064x}", "owner": "data-platform"},
            "ownerReferences": [
                {"apiVersion": "example.com/v1", "kind": "Source", "name": name, "uid": f"u-{i}", "controller": True}
            ],
            "managedFields": [
                {
                    "manager": "operator",
                    "operation": "Update",
                    "apiVersion": "batch/v1",
                    "time": "2026-11-01T10:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:metadata": {"f:labels": {f"f:{k}": {} for k in ("a", "b", "c", "d")}},
                        "f:spec": {
                            f"f:{k}": {} for k in ("backoffLimit", "completions", "parallelism", "template", "suspend")
                        },
                    },
                },
                {
                    "manager": "kube-controller-manager",
                    "operation": "Update",
                    "apiVersion": "batch/v1",
                    "time": "2026-11-01T10:00:05Z",
                    "fieldsType": "FieldsV1",
                    "subresource": "status",
                    "fieldsV1": {"f:status": {f"f:{k}": {} for k in ("active", "ready", "startTime", "terminating")}},
                },
            ],
        },
        "spec": {
            "backoffLimit": 3,
            "completions": 1,
            "parallelism": 1,
            "template": {
                "metadata": {"labels": {"stream": name}},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": "runner",
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 1000,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "main",
                            "image": "registry.example.com/runner:1.2.3",
                            "args": ["--source", name, "--mode", "continuous"],
                            "env": env,
                            "envFrom": [{"secretRef": {"name": f"{name}-secret"}}],
                            "resources": {
                                "limits": {"cpu": "1", "memory": "1Gi"},
                                "requests": {"cpu": "100m", "memory": "256Mi"},
                            },
                            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                        }
                    ],
                },
            },
        },
        "status": {"active": 1, "ready": 1, "startTime": "2026-11-01T10:00:05Z", "terminating": 0},
    }


class PagedClient:
    """Serves pre-encoded LIST pages; parsing happens here, as it does in KubeClient."""

    def __init__(self, pages: list[bytes]) -> None:
        self.pages = pages

    async def list(self, rt: ResourceType, namespace: str | None, **kw: Any) -> dict[str, Any]:
        index = int(kw.get("continue_token") or 0)
        return orjson.loads(self.pages[index])  # type: ignore[no-any-return]


def encoded_pages() -> list[bytes]:
    pages = []
    for start in range(0, N, PAGE):
        items = [job(i, 1000 + i) for i in range(start, start + PAGE)]
        meta: dict[str, Any] = {"resourceVersion": "99999"}
        if start + PAGE < N:
            meta["continue"] = str(start // PAGE + 1)
        pages.append(orjson.dumps({"kind": "JobList", "apiVersion": "batch/v1", "metadata": meta, "items": items}))
    return pages


async def cold_list(pages: list[bytes], freeze: bool, trace: bool = False) -> tuple[float, int, Informer]:
    """One cold LIST into a fresh informer: seconds, and bytes retained when `trace` (slower: not timed)."""
    gc.collect()
    gc.unfreeze()
    informer = Informer(PagedClient(pages), InformerOptions(JOBS, freeze_gc=freeze))  # type: ignore[arg-type]
    if trace:
        tracemalloc.start()
    started = time.process_time()
    await informer._list(RelistReason.INITIAL)
    elapsed = time.process_time() - started
    retained = 0
    if trace:
        retained, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return elapsed, retained, informer


async def main() -> None:
    pages = encoded_pages()
    size = sum(len(p) for p in pages) / N
    print(f"objects: {N}, JSON per object {size / 1024:.1f} KiB (with managedFields)")
    for freeze in (False, True):
        elapsed, _, informer = await cold_list(pages, freeze)
        print(f"cold list, freeze_gc={freeze}: {elapsed:.2f} s, {elapsed / N * 1e6:.0f} us/object")
        del informer
        gc.unfreeze()
        gc.collect()
    _, retained, informer = await cold_list(pages, False, trace=True)
    print(f"retained per cached object (stripped): {retained / N / 1024:.1f} KiB")
    tracemalloc.start()
    raw = [orjson.loads(orjson.dumps(job(i, 1))) for i in range(N)]
    unstripped, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"retained per object (not stripped): {unstripped / N / 1024:.1f} KiB")
    del raw
    gc.collect()

    started = time.process_time()
    gc.collect()
    print(f"full gc.collect() with the cache held: {(time.process_time() - started) * 1000:.0f} ms")
    gc.freeze()
    started = time.process_time()
    gc.collect()
    print(f"full gc.collect() after gc.freeze(): {(time.process_time() - started) * 1000:.1f} ms")
    gc.unfreeze()

    queue: WorkQueue[tuple[str, str]] = WorkQueue()
    informer._handler = lambda kind, old, new: queue.add(("ns", "name"), Priority.NORMAL)
    lines = [orjson.dumps({"type": "MODIFIED", "object": job(i % N, 200000 + i)}) for i in range(30_000)]
    timings = []
    for line in lines:
        started = time.process_time()
        informer._on_event(orjson.loads(line))
        timings.append(time.process_time() - started)
    timings.sort()
    print(
        "watch event (parse + strip + cache + handler + enqueue): "
        f"p50 {statistics.median(timings) * 1e6:.0f} us, p99 {timings[int(len(timings) * 0.99)] * 1e6:.0f} us, "
        f"max {timings[-1] * 1e3:.2f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
