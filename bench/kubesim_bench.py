"""kubesim alone: creates/s, patches/s, watch events/s to 10 watchers, paginated list of 10,000 objects.

A benchmark, not a test: `run(quick)` returns the figures, `python bench/kubesim_bench.py [--quick]`
prints them as JSON. The simulator runs in this process (its own thread and loop: one core's worth of
GIL); the load (an aiohttp client over HTTPS, 32 concurrent writers, 10 watchers) runs in a child
process, as a client in one interpreter with the server would measure GIL hand-offs, not kubesim.
Watch fan-out: 10 watchers from one resourceVersion receive every event of a burst of patches.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import aiohttp

from kubesim import KubeSim, SimOptions
from kubesim.tlsdata import client_context

CONCURRENCY = 32
WATCHERS = 10


async def _writes(session: aiohttp.ClientSession, base: str, count: int, patch: bool) -> float:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    url = f"{base}/api/v1/namespaces/default/configmaps"

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            if patch:
                body = json.dumps({"data": {"n": str(i), "p": "x"}})
                headers = {"Content-Type": "application/merge-patch+json"}
                async with session.patch(f"{url}/cm-{i:05d}", data=body, headers=headers) as response:
                    assert response.status == 200, await response.text()
                    await response.read()
            else:
                body = json.dumps(
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": f"cm-{i:05d}", "labels": {"app": "bench"}},
                        "data": {"n": str(i)},
                    }
                )
                async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
                    assert response.status == 201, await response.text()
                    await response.read()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return count / (time.perf_counter() - started)


async def _list(session: aiohttp.ClientSession, base: str) -> tuple[float, int]:
    url = f"{base}/api/v1/namespaces/default/configmaps?limit=500"
    started = time.perf_counter()
    seen, token = 0, ""
    while True:
        async with session.get(url + (f"&continue={token}" if token else "")) as response:
            page = await response.json()
        seen += len(page["items"])
        token = page["metadata"].get("continue", "")
        if not token:
            break
    return time.perf_counter() - started, seen


async def _watch_fanout(session: aiohttp.ClientSession, base: str, objects: int, events: int) -> float:
    async with session.get(f"{base}/api/v1/namespaces/default/configmaps?limit=1") as response:
        rv = (await response.json())["metadata"]["resourceVersion"]
    received = [0] * WATCHERS
    ready = 0

    async def watcher(index: int) -> None:
        nonlocal ready
        url = f"{base}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=300"
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=None)) as response:
            ready += 1
            async for _line in response.content:
                received[index] += 1
                if received[index] >= events:
                    break

    tasks = [asyncio.create_task(watcher(i)) for i in range(WATCHERS)]
    while ready < WATCHERS:
        await asyncio.sleep(0.01)
    started = time.perf_counter()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(events):
        queue.put_nowait(i)
    url = f"{base}/api/v1/namespaces/default/configmaps"

    async def writer() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            body = json.dumps({"data": {"w": str(i)}})
            headers = {"Content-Type": "application/merge-patch+json"}
            async with session.patch(f"{url}/cm-{i % objects:05d}", data=body, headers=headers) as response:
                await response.read()

    await asyncio.gather(*(writer() for _ in range(CONCURRENCY)))
    await asyncio.wait_for(asyncio.gather(*tasks), 300)
    return WATCHERS * events / (time.perf_counter() - started)


async def _load(url: str, token: str, tls: bool, objects: int, events: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(ssl=client_context() if tls else False, limit=CONCURRENCY + WATCHERS + 2)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
        creates = await _writes(session, url, objects, patch=False)
        patches = await _writes(session, url, objects, patch=True)
        list_seconds, listed = await _list(session, url)
        assert listed == objects
        fanout = await _watch_fanout(session, url, objects, events)
    return {
        "objects": objects,
        "creates_per_s": round(creates),
        "patches_per_s": round(patches),
        "watch_events_per_s_10_watchers": round(fanout),
        "paginated_list_seconds": round(list_seconds, 3),
        "paginated_list_objects_per_s": round(objects / list_seconds),
    }


def _child(url: str, token: str, tls: bool, objects: int, events: int) -> dict[str, Any]:
    return asyncio.run(_load(url, token, tls, objects, events))


def run(quick: bool = False, tls: bool = True) -> dict[str, Any]:
    """Run the benchmark and return its figures."""
    objects = 1_000 if quick else 10_000
    events = 1_000 if quick else 5_000
    options = SimOptions(controllers=frozenset(), history_size=50_000, tls=tls)
    context = multiprocessing.get_context("spawn")
    with KubeSim(options) as sim, ProcessPoolExecutor(1, mp_context=context) as pool:
        figures = pool.submit(_child, sim.url, sim.token, tls, objects, events).result()
    figures["tls"] = tls
    return figures


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv[1:], tls="--plain" not in sys.argv[1:]), indent=2))
