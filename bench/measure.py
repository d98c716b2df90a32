"""Measurements shared by the scenarios: kubesim's own capacity, and what the request log says.

Where this sits: every scenario reports kubesim's capacity beside the operator's figures, measured on the
same simulator process just before the operator starts (`probe_writes`, `probe_list`) and during the
scenario (its CPU share), so that a figure limited by the simulator would show it. `requests_summary`
splits kubesim's request log into what the operator under test did, by verb and outcome.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from bench.framework import percentiles, rounded
from bench.kube import JSON, USER_AGENT, WRITE_VERBS, Api, ApiFailure, resource_path

PROBE_NAMESPACE = "bench-probe"


def operator_records(log: Iterable[JSON]) -> list[JSON]:
    """Requests the operator under test made (not the harness's, not kubesim's admin endpoint)."""
    return [r for r in log if r.get("user_agent") != USER_AGENT and not str(r.get("path", "")).startswith("/kubesim/")]


def harness_records(log: Iterable[JSON]) -> list[JSON]:
    return [r for r in log if r.get("user_agent") == USER_AGENT]


def is_write(record: JSON) -> bool:
    return record.get("verb") in WRITE_VERBS


def requests_summary(records: list[JSON]) -> dict[str, Any]:
    """Totals of a set of requests: all, writes, by verb, non-2xx by status, Events created."""
    by_verb = Counter(str(r.get("verb")) for r in records)
    failures = Counter(str(r.get("status")) for r in records if int(r.get("status") or 0) >= 400)
    return {
        "requests": len(records),
        "writes": sum(1 for r in records if is_write(r)),
        "event_writes": sum(1 for r in records if is_write(r) and r.get("resource") == "events"),
        "by_verb": dict(sorted(by_verb.items())),
        "failures_by_status": dict(sorted(failures.items())),
    }


async def _ensure_namespace(api: Api, name: str) -> None:
    try:
        await api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    except ApiFailure as error:
        if error.status != 409:
            raise


async def probe_writes(api: Api, *, seconds: float, concurrency: int = 16) -> dict[str, Any]:
    """kubesim's write capacity from this client: merge patches of ConfigMaps (a kind no operator watches)."""
    await _ensure_namespace(api, PROBE_NAMESPACE)
    path = resource_path("", "v1", "configmaps", PROBE_NAMESPACE)
    for i in range(concurrency):
        obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"probe-{i}"}, "data": {"n": "0"}}
        try:
            await api.create(path, obj)
        except ApiFailure as error:
            if error.status != 409:
                raise
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def worker(i: int) -> None:
        n = 0
        while time.monotonic() < deadline:
            n += 1
            started = time.monotonic()
            await api.merge_patch(f"{path}/probe-{i}", {"data": {"n": str(n)}})
            latencies.append(time.monotonic() - started)

    started = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    wall = time.monotonic() - started
    spread = percentiles([x * 1000 for x in latencies])
    return {
        "write_probe_per_s": rounded(len(latencies) / wall, 1),
        "write_probe_p50_ms": rounded(spread.get("p50", 0.0), 2),
        "write_probe_p99_ms": rounded(spread.get("p99", 0.0), 2),
    }


async def probe_list(api: Api, path: str) -> dict[str, Any]:
    """kubesim's list capacity: every object of a collection, paginated by 500, as the operator lists it."""
    started = time.monotonic()
    items, _ = await api.list_all(path)
    wall = time.monotonic() - started
    return {
        "list_objects": len(items),
        "list_seconds": rounded(wall),
        "list_objects_per_s": rounded(len(items) / wall, 1),
    }
