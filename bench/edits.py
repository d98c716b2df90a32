"""A steady stream of user edits on running streams, and what kubesim's request log says about each.

Where this sits: the latency and soak scenarios. `Editor.run(rate, duration)` issues edits on an absolute
schedule (a slow answer never delays the next edit), each on a stream that has been left alone for a
while, so every operator write that follows an edit can be attributed to it: suspend (a Running stream),
resume (one this editor suspended), a BackfillRequest (a Running stream), and, in the soak, deleting a
stream's Job (the operator recreates it) and editing its spec (the operator replaces its Job).

Each edit carries its own `fieldManager` (bench.kube.edit_manager), so `attribute()` finds it in the
request log: the event time is when kubesim answered it (arrival + duration: the watch event is queued
before the answer); the first write is the operator's earliest write to the stream, its Jobs or its
requests after that (Events excluded: they name no object in their path); the phase written is the
operator's first status write of the stream; the phase seen is when the harness's own watch saw it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import heapq
import random
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.demo import JOBS, NAMESPACE, REQUESTS, streams_path
from bench.kube import JSON, Api, ApiFailure, edit_manager, resource_path
from bench.measure import harness_records, is_write, operator_records
from bench.observe import PhaseWatch


class EditKind(enum.StrEnum):
    SUSPEND = "suspend"
    RESUME = "resume"
    BACKFILL = "backfill-request"
    DELETE_JOB = "delete-job"
    EDIT_SPEC = "edit-spec"


EXPECTED_PHASE: dict[EditKind, str | None] = {
    EditKind.SUSPEND: "Suspended",
    EditKind.RESUME: "Pending",
    EditKind.BACKFILL: "Pending",
    EditKind.DELETE_JOB: None,
    EditKind.EDIT_SPEC: None,
}


@dataclass
class Edit:
    index: int
    kind: EditKind
    stream: str
    sent: float = 0.0
    status: int = 0
    error: str = ""

    @property
    def manager(self) -> str:
        return edit_manager(f"edit-{self.index}")


@dataclass
class Editor:
    """Picks streams and issues edits; `rest` seconds between two edits of the same stream."""

    api: Api
    streams: list[str]
    kinds: list[EditKind]
    rest: float
    edits: list[Edit] = field(default_factory=list)
    seed: int = 7
    _running: deque[str] = field(default_factory=deque)
    _suspended: list[tuple[float, str]] = field(default_factory=list)
    _resting: list[tuple[float, str]] = field(default_factory=list)
    replace_requests: dict[str, list[str]] | None = None
    """When set (stream -> its BackfillRequests), a new request replaces the stream's earlier ones, which are
    deleted once it is created: the number of stored objects stays constant (the soak measures drift)."""

    async def load_requests(self) -> None:
        """Remember every stream's BackfillRequests, so that new ones replace them (see `replace_requests`)."""
        items, _ = await self.api.list_all(resource_path(*REQUESTS, NAMESPACE))
        self.replace_requests = {}
        for item in items:
            stream = str((item.get("spec") or {}).get("streamId") or "")
            self.replace_requests.setdefault(stream, []).append(str(item["metadata"]["name"]))

    def __post_init__(self) -> None:
        shuffled = list(self.streams)
        random.Random(self.seed).shuffle(shuffled)
        self._running.extend(shuffled)

    def _release(self, now: float) -> None:
        while self._resting and self._resting[0][0] <= now:
            self._running.append(heapq.heappop(self._resting)[1])

    def _pick(self, index: int, now: float) -> Edit | None:
        self._release(now)
        kind = self.kinds[index % len(self.kinds)]
        if kind is EditKind.RESUME:
            if self._suspended and self._suspended[0][0] <= now:
                return Edit(index, kind, heapq.heappop(self._suspended)[1])
            kind = EditKind.SUSPEND
        if not self._running:
            return None
        name = self._running.popleft()
        if kind is EditKind.SUSPEND:
            heapq.heappush(self._suspended, (now + self.rest, name))
        else:
            heapq.heappush(self._resting, (now + self.rest, name))
        return Edit(index, kind, name)

    def _resumed(self, edit: Edit, now: float) -> None:
        if edit.kind is EditKind.RESUME:
            heapq.heappush(self._resting, (now + self.rest, edit.stream))

    async def _send(self, edit: Edit) -> None:
        edit.sent = time.time()
        try:
            match edit.kind:
                case EditKind.SUSPEND | EditKind.RESUME:
                    patch: JSON = {"spec": {"execution": {"suspended": edit.kind is EditKind.SUSPEND}}}
                    await self.api.merge_patch(streams_path(edit.stream), patch, manager=edit.manager)
                case EditKind.BACKFILL:
                    name = f"{edit.stream}-bench-{edit.index}"
                    request = {
                        "apiVersion": f"{REQUESTS[0]}/{REQUESTS[1]}",
                        "kind": "BackfillRequest",
                        "metadata": {"name": name},
                        "spec": {"streamClass": "demo", "streamId": edit.stream},
                    }
                    await self.api.create(resource_path(*REQUESTS, NAMESPACE), request, manager=edit.manager)
                    if self.replace_requests is not None:
                        for old in self.replace_requests.get(edit.stream, []):
                            with contextlib.suppress(ApiFailure):  # gone already: fine
                                await self.api.delete(resource_path(*REQUESTS, NAMESPACE, old), manager=edit.manager)
                        self.replace_requests[edit.stream] = [name]
                case EditKind.DELETE_JOB:
                    path = resource_path(*JOBS, NAMESPACE, edit.stream)
                    await self.api.delete(path, propagation="Background", manager=edit.manager)
                case EditKind.EDIT_SPEC:
                    patch = {"spec": {"destination": f"lake/orders-{edit.index}"}}
                    await self.api.merge_patch(streams_path(edit.stream), patch, manager=edit.manager)
            edit.status = 200
        except ApiFailure as error:
            edit.status, edit.error = error.status, str(error)[:300]
        except OSError as error:
            edit.error = repr(error)[:300]

    async def run(self, rate: float, duration: float, progress: Callable[[str], None] | None = None) -> float:
        """Issue `rate` edits per second for `duration` seconds; returns the seconds it took."""
        total = int(rate * duration)
        started = time.monotonic()
        tasks: set[asyncio.Task[None]] = set()
        next_report = started + 10
        for index in range(total):
            delay = started + index / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            now = time.monotonic()
            edit = self._pick(index, now)
            if edit is None:
                continue
            self.edits.append(edit)
            self._resumed(edit, now)
            task = asyncio.get_running_loop().create_task(self._send(edit))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if progress is not None and now >= next_report:
                next_report = now + 10
                progress(f"{len(self.edits)} edits sent in {now - started:.0f} s")
        await asyncio.gather(*tasks)
        return time.monotonic() - started


@dataclass
class Reaction:
    edit: Edit
    event_at: float | None = None
    first_write: float | None = None
    phase_written: float | None = None
    phase_seen: float | None = None


def attribute(edits: list[Edit], log: list[JSON], watch: PhaseWatch | None) -> list[Reaction]:
    """Each edit's event time and the operator's reactions to it, from the request log and the watch."""
    by_manager = {edit.manager: edit for edit in edits}
    arrivals: dict[int, float] = {}
    reactions = {edit.index: Reaction(edit) for edit in edits}
    for record in harness_records(log):
        edit = by_manager.get(str((record.get("query") or {}).get("fieldManager", "")))
        if edit is not None and int(record.get("status") or 0) < 300:
            arrivals[edit.index] = float(record["timestamp"])
            reactions[edit.index].event_at = float(record["timestamp"]) + float(record["duration"])
    writes: defaultdict[str, list[JSON]] = defaultdict(list)
    for record in operator_records(log):
        name = str(record.get("name") or "")
        if is_write(record) and record.get("resource") != "events" and name.startswith("s-"):
            writes[name[:8]].append(record)
    for stream_writes in writes.values():
        stream_writes.sort(key=lambda r: float(r["timestamp"]))
    for reaction in reactions.values():
        edit = reaction.edit
        arrival = arrivals.get(edit.index)
        if arrival is None or reaction.event_at is None:
            continue
        after = [r for r in writes.get(edit.stream, ()) if float(r["timestamp"]) >= arrival]
        if after:
            reaction.first_write = float(after[0]["timestamp"])
        status = next(
            (r for r in after if r.get("resource") == "demostreams" and r.get("subresource") == "status"), None
        )
        if status is not None and EXPECTED_PHASE[edit.kind] is not None:
            reaction.phase_written = float(status["timestamp"]) + float(status["duration"])
        expected = EXPECTED_PHASE[edit.kind]
        if watch is not None and expected is not None and edit.stream in watch.states:
            reaction.phase_seen = watch.states[edit.stream].entered_after(expected, arrival)
    return list(reactions.values())


def latencies_ms(reactions: list[Reaction], attribute_name: str) -> list[float]:
    out: list[float] = []
    for reaction in reactions:
        value: Any = getattr(reaction, attribute_name)
        if value is not None and reaction.event_at is not None:
            out.append(max(0.0, value - reaction.event_at) * 1000)
    return out
