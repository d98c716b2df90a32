"""Watch streams: resourceVersion semantics, selector transitions, bookmarks, timeouts, 410, stalls.

A watch from `""`/`"0"` sends synthetic ADDED events for the current state, then live events; from
`N` it replays the history after N exactly, or sends an ERROR event with a 410 Expired Status when N
is older than the history. Filtered watches turn "stopped matching" into DELETED and "started
matching" into ADDED. BOOKMARKs come every `bookmark_interval` when asked for; `sendInitialEvents`
ends the initial burst with the `k8s.io/initial-events-end` bookmark. Lines are encoded once per event
and shared by every watcher of the same view. Stalled watches go silent until closed.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubesim import errors
from kubesim.api import ListQuery
from kubesim.meta import JSON, dumps
from kubesim.resources import ResourceType
from kubesim.runtime import Runtime
from kubesim.store import Event, EventType
from kubesim.wire import Request, StreamResponse


@dataclass
class WatchParams:
    """Query parameters of a watch."""

    resource_version: str = ""
    timeout: float | None = None
    bookmarks: bool = False
    send_initial: bool = False
    table: bool = False
    table_version: str = "v1"
    include: str = "Metadata"


class WatchStream:
    """One open watch: filters store events into its queue; the response loop drains it."""

    def __init__(self, runtime: Runtime, rt: ResourceType, namespace: str | None, query: ListQuery) -> None:
        self.runtime = runtime
        self.rt = rt
        self.resource = rt.plural
        self.namespace = namespace
        self.query = query
        self.queue: deque[tuple[EventType, Event | None, JSON]] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.timer_fired = False
        self.closed = False
        self.unselective = query.labels.empty and not query.fields.terms

    def _visible(self, obj: JSON | None) -> bool:
        if obj is None:
            return False
        if self.namespace is not None and obj["metadata"].get("namespace", "") != self.namespace:
            return False
        if self.unselective:
            return True
        return self.runtime.api.matches(self.rt, obj, self.query)

    def offer(self, event: Event) -> None:
        """Called by the store for every event of the resource."""
        now = self._visible(event.obj)
        if event.type is EventType.MODIFIED:
            before = self._visible(event.old)
            if now and before:
                kind = EventType.MODIFIED
            elif now:
                kind = EventType.ADDED
            elif before:
                kind = EventType.DELETED
            else:
                return
        elif not now:
            return
        else:
            kind = event.type
        self.queue.append((kind, event, event.obj))
        self.wake()

    def wake(self) -> None:
        """Let the response loop run (it waits on a plain future: cheaper than an Event plus wait_for)."""
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def alarm(self) -> None:
        """The loop's timer (timeout or bookmark) fired."""
        self.timer_fired = True
        self.wake()

    def close(self) -> None:
        """End the stream (server side)."""
        self.closed = True
        self.wake()


def _line(
    stream: WatchStream, kind: EventType, event: Event | None, obj: JSON, render: Callable[[JSON], JSON] | None
) -> bytes:
    rt = stream.rt
    if render is not None:
        return dumps({"type": kind.value, "object": render(rt.strategy.from_storage(obj, rt))}) + b"\n"
    if event is not None and kind is event.type:
        if rt.extra.get("crd") or rt.storage_key != (rt.group, rt.plural):
            return event.line(rt.api_version, rt.strategy.from_storage(obj, rt))
        return event.line(None)
    return dumps({"type": kind.value, "object": rt.strategy.from_storage(obj, rt)}) + b"\n"


async def serve(  # noqa: PLR0917, PLR0915 - one streaming loop over the request's already-parsed parts
    request: Request,
    runtime: Runtime,
    rt: ResourceType,
    namespace: str | None,
    query: ListQuery,
    params: WatchParams,
    stalled: bool,
    render_table: Callable[[JSON, bool], JSON] | None,
    content_type: str,
) -> StreamResponse:
    """Stream a watch until timeout, client disconnect, or a server-side close."""
    runtime.api.check_field_selector(rt, query.fields)
    store = runtime.store
    bucket = store.bucket(rt.storage_key)
    stream = WatchStream(runtime, rt, namespace, query)
    initial: list[tuple[EventType, Event | None, JSON]] = []
    expired: errors.ApiError | None = None
    rv_text = params.resource_version
    if rv_text in ("", "0") or params.send_initial:
        for obj in bucket.objects(namespace if rt.namespaced else None):
            if stream._visible(obj):
                initial.append((EventType.ADDED, None, obj))
    if rv_text not in ("", "0"):
        try:
            since = int(rv_text)
        except ValueError:
            raise errors.bad_request(f'invalid resource version "{rv_text}"') from None
        if not params.send_initial:
            events = bucket.events_after(since)
            if events is None:
                expired = errors.expired(f"too old resource version: {since} ({bucket.floor + 1})")
            else:
                for replay in events:
                    stream.offer(replay)
    response = StreamResponse(status=200, headers={"Content-Type": content_type, "Cache-Control": "no-cache"})
    response.enable_chunked_encoding()
    if expired is not None:
        await response.prepare(request)
        await response.write(dumps({"type": "ERROR", "object": expired.status()}) + b"\n")
        await response.write_eof()
        return response
    # Subscribe before the first await, so no event committed meanwhile is missed.
    bucket.watchers.add(stream)
    runtime.watchers.add(stream)
    headers_sent = False

    def table_render(obj: JSON) -> JSON:
        nonlocal headers_sent
        assert render_table is not None
        table = render_table(obj, not headers_sent)
        headers_sent = True
        return table

    render = table_render if render_table is not None else None
    loop = asyncio.get_running_loop()
    timeout = params.timeout
    if timeout is None:
        base = runtime.settings.watch_timeout
        timeout = random.uniform(base, 2 * base)
    deadline = loop.time() + timeout
    next_bookmark = loop.time() + runtime.settings.bookmark_interval
    timer: asyncio.TimerHandle | None = None
    timer_at = 0.0
    try:
        await response.prepare(request)
        chunks = [_line(stream, kind, event, obj, render) for kind, event, obj in initial]
        if params.send_initial and params.bookmarks:
            chunks.append(_bookmark(rt, store.rv, initial_end=True))
        if chunks and not stalled:
            await response.write(b"".join(chunks))
        while not stream.closed:
            now = loop.time()
            if now >= deadline:
                break
            stalled = stalled or runtime.faults.is_stalled(rt.plural)
            if stream.queue and not stalled:
                batch = []
                while stream.queue:
                    kind, event, obj = stream.queue.popleft()
                    batch.append(_line(stream, kind, event, obj, render))
                await response.write(b"".join(batch))
                continue
            if params.bookmarks and not stalled and now >= next_bookmark:
                await response.write(_bookmark(rt, store.rv))
                next_bookmark = now + runtime.settings.bookmark_interval
            wake_at = deadline
            if params.bookmarks and not stalled:
                wake_at = min(wake_at, max(now, next_bookmark))
            wake_at = max(wake_at, now + 0.001)
            if timer is None or stream.timer_fired or wake_at != timer_at:
                if timer is not None:
                    timer.cancel()
                stream.timer_fired = False
                timer, timer_at = loop.call_at(wake_at, stream.alarm), wake_at
            stream.waiter = loop.create_future()
            await stream.waiter
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away: nothing left to tell it
    finally:
        if timer is not None:
            timer.cancel()
        bucket.watchers.discard(stream)
        runtime.watchers.discard(stream)
    return response


def _bookmark(rt: ResourceType, rv: int, initial_end: bool = False) -> bytes:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return (
        dumps({"type": "BOOKMARK", "object": {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}}) + b"\n"
    )
