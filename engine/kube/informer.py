"""List+watch informers: keep one cache per (kind, namespace scope, selectors) equal to the server's state.

Where this sits: between `KubeClient` and whoever reacts to changes (the reactor enqueues keys). Each
informer runs one task doing what client-go's reflector does (controller-runtime.md §1.5):
- a paginated LIST (500 per page; resourceVersion "0" first, "" after a 410), swapped into the cache at
  once, with synthetic DELETEs for keys that vanished;
- a WATCH from the list's resourceVersion with bookmarks, a server timeout random in [300, 600) s and an
  inactivity timeout; a normal end re-watches at once from the last resourceVersion;
- relist ONLY on 410; every other failure backs off (0.8 s doubling to 30 s, full jitter, reset after two
  quiet minutes) and re-watches from the last resourceVersion; a 429 waits at least its Retry-After; a
  watch that ends within a second with no event counts as a failure (no hot loop against a proxy);
- a 404 (the kind is no longer served: its CRD was deleted) empties the cache, with DELETEs, and stops.
Objects are stripped (managedFields, last-applied) and projected before caching. The handler
`(kind, old, new)` runs on the loop after the cache changed; events delivered before `synced` is set come
from the initial list (a reactor enqueues those at low priority). The replaced object of a watch MODIFIED is
parsed from the cache only when `wants_old` (asked at each such event) says so, or when there is no
`wants_old`; otherwise `old` is None (parsing it cost as much as the new object, for consumers that mostly
never read it).

What it does not do: no queue, no rules, no resync timer (level-triggered consumers re-read the cache).
"""

from __future__ import annotations

import asyncio
import enum
import gc
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.errors import ApiError
from engine.kube.cache import EventKind, ObjectCache, Projection, drop_paths, encode, key_of, parse, strip
from engine.kube.client import KubeClient
from engine.kube.rest import REASON_INACTIVITY, WatchOptions
from engine.kube.timing import SYSTEM_CLOCK, Backoff, BackoffPolicy, Clock
from engine.model import GVK, Obj, ResourceType

log = logging.getLogger(__name__)

Handler = Callable[[EventKind, Obj | None, Obj | None], None]


class RestartReason(enum.StrEnum):
    """Why a watch (or the list before it) ended, as a metric label."""

    CLOSED = "closed"
    SHORT = "short"
    INACTIVITY = "inactivity"
    CONNECTION = "connection"
    THROTTLED = "throttled"
    UNAUTHORIZED = "unauthorized"
    SERVER_ERROR = "server_error"
    EXPIRED = "expired"
    ERROR = "error"


class RelistReason(enum.StrEnum):
    """Why a full LIST ran, as a metric label."""

    INITIAL = "initial"
    EXPIRED = "expired"


class InformerState(enum.StrEnum):
    """Where an informer's loop is; readiness and logs show it."""

    PENDING = "pending"
    LISTING = "listing"
    WATCHING = "watching"
    BACKING_OFF = "backing_off"
    GONE = "gone"
    """The server stopped serving the kind (404); the informer ended."""
    STOPPED = "stopped"


class InformerObserver(Protocol):
    """Metrics hooks; `kind` is the informer's GVK as text (a bounded label)."""

    def event_received(self, kind: str, event_type: str) -> None: ...

    def watch_restarted(self, kind: str, reason: str) -> None: ...

    def relisted(self, kind: str, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class InformerKey:
    """What makes two informers the same: kind, namespace scope (None = all) and selectors."""

    gvk: GVK
    namespace: str | None = None
    label_selector: str = ""
    field_selector: str = ""

    def __str__(self) -> str:
        return self.described(f"in {self.namespace or 'all namespaces'}")

    def described(self, scope: str) -> str:
        """The kind, `scope` and the selectors, for logs and messages."""
        text = f"{self.gvk} {scope}"
        selectors = ",".join(s for s in (self.label_selector, self.field_selector) if s)
        return f"{text} [{selectors}]" if selectors else text


@dataclass(frozen=True, slots=True)
class InformerOptions:
    """What one informer watches (kind, namespace scope, selectors) and how (paging, timeouts, projection)."""

    resource: ResourceType
    namespace: str | None = None
    label_selector: str = ""
    field_selector: str = ""
    page_size: int = 500
    min_watch_timeout: float = 300.0
    """The server-side `timeoutSeconds` is random in [min, 2 * min): reconnects of many watches spread out."""
    inactivity_timeout: float = 90.0
    """Reconnect when nothing (not even a bookmark, sent about every 60 s) arrived for this long."""
    very_short_watch: float = 1.0
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    projection: Projection | Sequence[str] | None = None
    """A callable, or paths to drop (see engine.kube.cache.drop_paths), applied after `strip`."""
    freeze_gc: bool = False
    """`gc.freeze()` after each LIST page: the growing cache is not rescanned by the collector (3x faster
    bulk loads). Process-wide; cyclic garbage alive at that moment is never collected."""

    @property
    def key(self) -> InformerKey:
        return InformerKey(self.resource.gvk, self.namespace, self.label_selector, self.field_selector)

    def __str__(self) -> str:
        """The key, for logs; a cluster-scoped kind has no namespaces to be in."""
        return str(self.key) if self.resource.namespaced else self.key.described("(cluster-scoped)")


def _restart_reason(error: ApiError) -> RestartReason:
    if error.status == 0:
        return RestartReason.INACTIVITY if error.reason == REASON_INACTIVITY else RestartReason.CONNECTION
    if error.status == 429:
        return RestartReason.THROTTLED
    if error.status in (401, 403):
        return RestartReason.UNAUTHORIZED
    if error.status >= 500:
        return RestartReason.SERVER_ERROR
    return RestartReason.ERROR


class Informer:
    """One list+watch loop and its cache. `start()` or `run()`; `stop()` cancels it and drops the cache."""

    def __init__(
        self,
        client: KubeClient,
        options: InformerOptions,
        handler: Handler | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        observer: InformerObserver | None = None,
        wants_old: Callable[[], bool] | None = None,
    ) -> None:
        self.options = options
        self.key = options.key
        self.cache = ObjectCache(options.resource.gvk)
        self.synced = asyncio.Event()
        self.state = InformerState.PENDING
        self.last_error = ""
        self.resource_version = ""
        self._client = client
        self._handler = handler
        self._clock = clock
        self._rng = rng or random.Random()
        self._observer = observer
        self._wants_old = wants_old
        self._label = str(options.resource.gvk)
        self._api_version = options.resource.gvk.api_version
        self._kind = options.resource.gvk.kind
        projection = options.projection
        self._project = drop_paths(projection) if isinstance(projection, Sequence) else projection
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def __repr__(self) -> str:
        return f"<Informer {self.key}: {self.state.value}, {len(self.cache)} objects>"

    def start(self) -> asyncio.Task[None]:
        """Start the loop in its own task (idempotent)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._main(), name=f"informer {self.key}")
        return self._task

    async def run(self) -> None:
        """Start if needed and wait until the informer ends (stopped, or the kind is gone)."""
        await self.start()

    async def stop(self) -> None:
        """Cancel the loop, wait for it, drop the cache. No events are delivered for the dropped objects."""
        self._stopping = True
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])
        self.cache.clear()
        self.state = InformerState.STOPPED

    async def _main(self) -> None:
        try:
            await self._list_and_watch()
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()

    async def _list_and_watch(self) -> None:
        backoff = Backoff(self.options.backoff, self._clock, self._rng)
        relist: RelistReason | None = RelistReason.INITIAL
        fresh = False  # True between a list and the end of the first watch after it
        while True:
            delay = 0.0
            try:
                if relist is not None:
                    self.state = InformerState.LISTING
                    await self._list(relist)
                    relist, fresh = None, True
                self.state = InformerState.WATCHING
                started = self._clock.monotonic()
                events = await self._client.watch(
                    self.options.resource, self.options.namespace, self._watch_options(), self._on_event
                )
                fresh = False
                short = events == 0 and self._clock.monotonic() - started < self.options.very_short_watch
                reason = RestartReason.SHORT if short else RestartReason.CLOSED
                if short:
                    delay = backoff.next_delay()
            except ApiError as error:
                self.last_error = str(error)
                if error.status == 410:
                    reason = RestartReason.EXPIRED
                    if fresh:
                        # The list's own resourceVersion is already too old: do not spin list→410→list.
                        delay = backoff.next_delay()
                    relist, fresh = RelistReason.EXPIRED, False
                elif error.status == 404:
                    self._gone(error)
                    return
                else:
                    reason = _restart_reason(error)
                    delay = max(backoff.next_delay(), error.retry_after or 0.0)
                log.info("watch of %s ended (%s): %s", self.key, reason.value, error, extra={"retry_in": delay})
            if self._observer is not None:
                self._observer.watch_restarted(self._label, reason.value)
            if delay > 0:
                self.state = InformerState.BACKING_OFF
                await self._clock.sleep(delay)

    def _watch_options(self) -> WatchOptions:
        low = self.options.min_watch_timeout
        return WatchOptions(
            resource_version=self.resource_version,
            timeout_seconds=int(self._rng.uniform(low, 2 * low)),
            label_selector=self.options.label_selector,
            field_selector=self.options.field_selector,
            inactivity_timeout=self.options.inactivity_timeout,
        )

    async def _list(self, reason: RelistReason) -> None:
        """Read every page, then swap the cache and deliver the differences in one go."""
        opts = self.options
        version: str | None = "0" if reason is RelistReason.INITIAL else ""
        listed: dict[tuple[str, str], bytes] = {}  # JSON, not dicts: a list of 10,000 objects is never all parsed
        token = ""
        while True:
            try:
                page: dict[str, Any] = await self._client.list(
                    opts.resource,
                    opts.namespace,
                    limit=opts.page_size,
                    continue_token=token,
                    resource_version=version,
                    label_selector=opts.label_selector,
                    field_selector=opts.field_selector,
                    retry=False,
                )
            except ApiError as error:
                if error.status == 410 and token:
                    # The continue token expired (compaction): start over with a consistent read.
                    listed, token, version = {}, "", ""
                    continue
                raise
            for item in page.get("items") or ():
                obj = self._prepare(item)
                listed[key_of(obj)] = encode(obj)
            if opts.freeze_gc:
                gc.freeze()
            meta = page.get("metadata") or {}
            token = str(meta.get("continue") or "")
            if not token:
                break
        changes = self.cache.swap(listed)
        self.resource_version = str(meta.get("resourceVersion") or "")
        if self._observer is not None:
            self._observer.relisted(self._label, reason.value)
        log.debug("listed %s: %d objects, %d changes", self.key, len(listed), len(changes))
        del listed
        changes.reverse()  # delivered in order, each dropped once delivered
        while changes:
            kind, old, new = changes.pop()
            self._deliver(kind, parse(old), parse(new))
        self.synced.set()

    def _prepare(self, obj: dict[str, Any]) -> dict[str, Any]:
        if "kind" not in obj:
            obj["apiVersion"] = self._api_version
            obj["kind"] = self._kind
        strip(obj)
        return self._project(obj) if self._project is not None else obj

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        obj = event.get("object") or {}
        if self._observer is not None:
            self._observer.event_received(self._label, str(kind))
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if kind == "BOOKMARK":
            if version:
                self.resource_version = version
            return
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            log.warning("watch of %s: unknown event type %r skipped", self.key, kind)
            return
        obj = self._prepare(obj)
        if version:
            self.resource_version = version
        if kind == "DELETED":
            self.cache.remove(*key_of(obj))
            self._deliver(EventKind.DELETED, obj, None)
            return
        previous = self.cache.put(obj)
        if previous is None:
            self._deliver(EventKind.ADDED, None, obj)
        else:
            wants_old = self._wants_old
            self._deliver(EventKind.MODIFIED, parse(previous) if wants_old is None or wants_old() else None, obj)

    def _deliver(self, kind: EventKind, old: Obj | None, new: Obj | None) -> None:
        if self._handler is None:
            return
        try:
            self._handler(kind, old, new)
        except Exception:
            log.exception("handler of %s failed on %s", self.key, kind.value)

    def _gone(self, error: ApiError) -> None:
        """The kind is not served any more: what was cached is deleted, and the informer ends."""
        log.warning("watch of %s stopped: the kind is not served (%s)", self.key, error)
        for kind, old, new in self.cache.replace([]):
            self._deliver(kind, old, new)
        self.state = InformerState.GONE
        self.synced.set()
