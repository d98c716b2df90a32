"""Leader election on a `coordination.k8s.io/v1` Lease, as client-go does it, on the event loop.

Where this sits: beside the reactor. With `--leader-elect`, the operator starts informers (a warm standby)
but acts only after `on_started`; when renewal fails it calls `on_lost` and the process must exit (a Lease
does not fence writes: an old leader that keeps writing is split-brain). On clean shutdown `stop()` blanks
the holder so a standby takes over within about one retry period instead of a full lease duration.

The algorithm (client-go `tools/leaderelection`, defaults 15 s / 10 s / 2 s):
- every retry period (with jitter) a candidate reads the Lease; it may take it when nobody holds it, or
  when the record (its spec or resourceVersion) has not changed for a full lease duration measured on its
  own monotonic clock from the moment it saw it change (tolerates clock skew between nodes);
- writes are create-or-replace with the observed resourceVersion, so two candidates cannot both win;
- the holder renews every retry period; if no renewal succeeds within the renew deadline, it has lost.
Lease requests skip the client's write token bucket and retries: a renewal must not wait behind a burst
of writes, and this loop has its own retry timing.

What it does not do: no exit (the `on_lost` callback decides), no watchdog thread for a blocked loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from engine.errors import ApiError
from engine.kube.client import KubeClient
from engine.kube.rest import Verb, resource_path
from engine.kube.timing import SYSTEM_CLOCK, Clock
from engine.model import GVK, ResourceType

log = logging.getLogger(__name__)

LEASES = ResourceType(GVK("coordination.k8s.io", "v1", "Lease"), "leases", True)


def default_identity() -> str:
    """Unique per process: the pod name (hostname) plus a random suffix, as client-go recommends."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def micro_time(moment: datetime) -> str:
    """Kubernetes MicroTime: RFC 3339 with microseconds, UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class LeaderOptions:
    """Which Lease, who we are, and client-go's timings (15 s / 10 s / 2 s)."""

    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    jitter: float = 0.2
    """A candidate retries every retry_period * (1 + uniform(0, jitter)) seconds."""
    release_on_stop: bool = True

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline > self.retry_period * 1.2:
            raise ValueError(
                "leader election needs lease_duration > renew_deadline > 1.2 * retry_period "
                f"(got {self.lease_duration:g} s, {self.renew_deadline:g} s, {self.retry_period:g} s)"
            )


class LeaderObserver(Protocol):
    """Told when this process starts or stops leading (a metrics gauge)."""

    def leader_changed(self, leading: bool) -> None: ...


class LeaderElector:
    """Run with `run()` (returns after `stop()` or after losing); `leading` is set while this process leads."""

    def __init__(
        self,
        client: KubeClient,
        options: LeaderOptions,
        *,
        on_lost: Callable[[], object],
        on_started: Callable[[], object] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
        observer: LeaderObserver | None = None,
    ) -> None:
        self.options = options
        self.leading = asyncio.Event()
        self._client = client
        self._on_lost = on_lost
        self._on_started = on_started
        self._clock = clock
        self._wall = wall
        self._rng = rng or random.Random()
        self._observer = observer
        self._path = resource_path(LEASES, options.namespace, options.name)
        self._observed: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._observed_version = ""
        self._renewed_at = 0.0
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    @property
    def is_leader(self) -> bool:
        return self.leading.is_set()

    async def run(self) -> None:
        self._task = asyncio.current_task()
        try:
            while not await self._attempt():
                await self._clock.sleep(self.options.retry_period * (1 + self._rng.uniform(0, self.options.jitter)))
            self._set_leading(True)
            if self._on_started is not None:
                self._on_started()
            while await self._renew():
                pass
        except asyncio.CancelledError:
            if not self._stopping:
                raise
        if self.is_leader and not self._stopping:
            log.error(
                "leader election lost: no renewal of lease %s within %g s", self._path, self.options.renew_deadline
            )
            self._set_leading(False)
            self._on_lost()

    async def _renew(self) -> bool:
        """Sleep a retry period, then renew, retrying until the renew deadline. False when lost."""
        await self._clock.sleep(self.options.retry_period)
        deadline = self._renewed_at + self.options.renew_deadline
        while (remaining := deadline - self._clock.monotonic()) > 0:
            if await self._attempt(timeout=remaining):
                return True
            await self._clock.sleep(min(self.options.retry_period, max(0.0, deadline - self._clock.monotonic())))
        return False

    async def stop(self) -> None:
        """Stop campaigning or renewing; as the holder, release the lease (blank holder) when configured."""
        self._stopping = True
        task = self._task
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
            await asyncio.wait([task])
        if self.is_leader and self.options.release_on_stop:
            await self._release()
        self._set_leading(False)

    async def _attempt(self, timeout: float | None = None) -> bool:
        try:
            async with asyncio.timeout(timeout):
                return await self.try_acquire_or_renew()
        except (ApiError, TimeoutError) as exc:
            log.info("lease %s: %s", self._path, exc or "timed out")
            return False

    async def try_acquire_or_renew(self) -> bool:
        """One round of the algorithm: True when this process holds the lease afterwards."""
        opts = self.options
        wall = micro_time(self._wall())
        try:
            lease = await self._call("GET", Verb.GET)
        except ApiError as exc:
            if exc.status != 404:
                raise
            now = self._clock.monotonic()
            record: dict[str, Any] = {
                "holderIdentity": opts.identity,
                "leaseDurationSeconds": round(opts.lease_duration),
                "acquireTime": wall,
                "renewTime": wall,
                "leaseTransitions": 0,
            }
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": opts.name}}
            created = await self._call("POST", Verb.CREATE, {**body, "spec": record}, collection=True)
            self._observe(created, now)
            self._renewed_at = now
            return True
        now = self._clock.monotonic()
        spec: dict[str, Any] = lease.get("spec") or {}
        version = str((lease.get("metadata") or {}).get("resourceVersion") or "")
        if spec != self._observed or version != self._observed_version:
            self._observe(lease, now)
        holder = spec.get("holderIdentity") or ""
        duration = float(spec.get("leaseDurationSeconds") or opts.lease_duration)
        if holder and holder != opts.identity and now < self._observed_at + duration:
            return False
        new = dict(spec, holderIdentity=opts.identity, leaseDurationSeconds=round(opts.lease_duration), renewTime=wall)
        if holder != opts.identity:
            new["acquireTime"] = wall
            new["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        updated = await self._call("PUT", Verb.UPDATE, {**lease, "spec": new})
        self._observe(updated, now)
        self._renewed_at = now
        return True

    async def _release(self) -> None:
        wall = micro_time(self._wall())
        spec = dict(self._observed or {}, holderIdentity="", leaseDurationSeconds=1, renewTime=wall, acquireTime=wall)
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.options.name, "resourceVersion": self._observed_version},
            "spec": spec,
        }
        try:
            await self._call("PUT", Verb.UPDATE, body)
            log.info("released lease %s", self._path)
        except ApiError as exc:
            log.warning("could not release lease %s: %s", self._path, exc)

    async def _call(self, method: str, verb: Verb, body: Any = None, *, collection: bool = False) -> Any:
        path = resource_path(LEASES, self.options.namespace) if collection else self._path
        return await self._client.request(method, path, body=body, verb=verb, retry=False, limited=False)

    def _observe(self, lease: dict[str, Any], now: float) -> None:
        self._observed = lease.get("spec") or {}
        self._observed_at = now
        self._observed_version = str((lease.get("metadata") or {}).get("resourceVersion") or "")

    def _set_leading(self, leading: bool) -> None:
        if leading == self.is_leader:
            return
        if leading:
            self.leading.set()
            log.info("became leader (lease %s, identity %s)", self._path, self.options.identity)
        else:
            self.leading.clear()
        if self._observer is not None:
            self._observer.leader_changed(leading)
