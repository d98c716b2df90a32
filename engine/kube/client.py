"""The raw-JSON Kubernetes HTTP client: one pool of keep-alive connections, dicts in and out, errors as `ApiError`.

Where this sits: under the informers (list, watch), the REST mapper (discovery), `HttpCluster` (writes for
the executor) and leader election (Lease get/create/replace). It speaks the REST paths directly over engine.kube.http
(a small HTTP/1.1 client) and parses with orjson: no typed client models (10-25x the CPU, and they drop unknown
fields).

Policy it owns:
- writes (create, replace, patch, delete) pass a token bucket (default 50 QPS, burst 100; 0 = unlimited);
  a 429 with Retry-After on a write holds the whole write path for that long;
- 429, 5xx and connection failures are retried with exponential backoff and full jitter, at most
  `retries` times, never sooner than Retry-After; a request that might have been applied already (a POST
  with `generateName`, a JSON patch without a leading `test`) is retried only when the server cannot have
  acted on it (429, connection refused);
- a 401 re-reads the credentials and, when they changed, retries once.
A failure with no HTTP answer is an `ApiError` with status 0 and reason `ConnectionError`, `Timeout` or
`InactivityTimeout`.

What it does not do: no caching, no relisting, no watch restarts (engine.kube.informer owns those), no
discovery (engine.kube.mapper).
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson

from engine.errors import ApiError
from engine.kube.config import Credentials, KubeSettings
from engine.kube.http import ConnectError, HttpError, HttpPool
from engine.kube.rest import (
    REASON_CONNECTION,
    REASON_INACTIVITY,
    REASON_TIMEOUT,
    WRITES,
    ApiObserver,
    Verb,
    WatchOptions,
    encode_default,
    error_from_response,
    error_from_status,
    resource_path,
    retryable_status,
    watch_params,
)
from engine.kube.timing import SYSTEM_CLOCK, Backoff, BackoffPolicy, Clock, TokenBucket
from engine.model import JSON, PatchType, Propagation, ResourceType

__all__ = ["ApiObserver", "ClientOptions", "KubeClient", "Verb", "WatchOptions", "resource_path"]


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """How the client talks: write budget, concurrency, timeouts, retries, identity."""

    write_qps: float = 50.0
    write_burst: int = 100
    max_inflight: int = 32
    """Concurrent non-watch requests (the connector also keeps `max_watches` slots for watches)."""
    max_watches: int = 256
    connect_timeout: float = 10.0
    request_timeout: float = 60.0
    retries: int = 4
    retry_backoff: BackoffPolicy = field(default_factory=lambda: BackoffPolicy(initial=0.2, cap=10.0))
    token_refresh_interval: float = 60.0
    user_agent: str = "kube-engine"
    field_manager: str = ""
    """Sent as `fieldManager` on writes when set."""
    max_line_bytes: int = 16 * 1024 * 1024
    """Longest watch line accepted (one object; etcd caps objects at 1.5 MiB)."""
    tcp_keepalive: bool = True


def _keepalive(sock: socket.socket) -> None:
    """TCP keepalive with client-go's timings (idle 30 s, interval 15 s, 9 probes): dead peers are found."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 15), ("TCP_KEEPCNT", 9)):
        if hasattr(socket, option):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


def _ssl_context(settings: KubeSettings) -> ssl.SSLContext | None:
    if not settings.host.startswith("https"):
        return None
    context = ssl.create_default_context(cafile=settings.ca_file)
    if not settings.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if settings.cert_file:
        context.load_cert_chain(settings.cert_file, settings.key_file)
    return context


class KubeClient:
    """See the module docstring. Create it inside the event loop; `close()` it (or use `async with`)."""

    def __init__(
        self,
        settings: KubeSettings,
        options: ClientOptions | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        observer: ApiObserver | None = None,
    ) -> None:
        self.settings = settings
        self.options = options or ClientOptions()
        self.credentials = Credentials(settings, refresh_interval=self.options.token_refresh_interval, clock=clock)
        self.write_limiter = TokenBucket(self.options.write_qps, self.options.write_burst, clock)
        self._clock = clock
        self._rng = rng or random.Random()
        self._observer = observer
        self._ssl = _ssl_context(settings)
        self._pool: HttpPool | None = None
        self._inflight = asyncio.Semaphore(self.options.max_inflight)
        self._watch_slots = asyncio.Semaphore(self.options.max_watches)
        self._manager_query = urlencode({"fieldManager": self.options.field_manager})

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every connection at once (TLS ones without the goodbye handshake)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _http(self) -> HttpPool:
        if self._pool is None:
            self._pool = HttpPool(
                self.settings.host,
                ssl_context=self._ssl,
                server_hostname=self.settings.tls_server_name,
                connect_timeout=self.options.connect_timeout,
                headers={"Accept": "application/json", "User-Agent": self.options.user_agent},
                socket_options=_keepalive if self.options.tcp_keepalive else None,
            )
        return self._pool

    # --- resource-level calls ---------------------------------------------------------------------------

    async def get(self, rt: ResourceType, namespace: str, name: str, *, subresource: str = "") -> dict[str, Any]:
        return await self.request("GET", resource_path(rt, namespace, name, subresource), verb=Verb.GET)  # type: ignore[no-any-return]

    async def list(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        limit: int = 0,
        continue_token: str = "",
        resource_version: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        retry: bool = True,
    ) -> dict[str, Any]:
        """One page of a LIST, as the server sent it (`items` lack apiVersion/kind for built-in kinds)."""
        params: dict[str, str] = {}
        if limit:
            params["limit"] = str(limit)
        if continue_token:
            params["continue"] = continue_token
        elif resource_version is not None:
            params["resourceVersion"] = resource_version
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        path = resource_path(rt, namespace)
        return await self.request("GET", path, params=params, verb=Verb.LIST, retry=retry)  # type: ignore[no-any-return]

    async def create(self, rt: ResourceType, namespace: str, body: JSON) -> dict[str, Any]:
        name = (body.get("metadata") or {}).get("name")
        return await self.request(  # type: ignore[no-any-return]
            "POST", resource_path(rt, namespace), body=body, verb=Verb.CREATE, idempotent=bool(name)
        )

    async def replace(
        self, rt: ResourceType, namespace: str, name: str, body: JSON, *, subresource: str = ""
    ) -> dict[str, Any]:
        path = resource_path(rt, namespace, name, subresource)
        return await self.request("PUT", path, body=body, verb=Verb.UPDATE)  # type: ignore[no-any-return]

    async def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: JSON,
        patch_type: PatchType = PatchType.MERGE,
        *,
        subresource: str = "",
    ) -> dict[str, Any]:
        idempotent = patch_type is not PatchType.JSON or bool(body and body[0].get("op") == "test")
        path = resource_path(rt, namespace, name, subresource)
        return await self.request(  # type: ignore[no-any-return]
            "PATCH", path, body=body, content_type=patch_type.value, verb=Verb.PATCH, idempotent=idempotent
        )

    async def delete(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        *,
        propagation: Propagation | None = None,
        uid: str = "",
        resource_version: str = "",
    ) -> dict[str, Any]:
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation is not None:
            options["propagationPolicy"] = propagation.value
        preconditions = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
        if preconditions:
            options["preconditions"] = preconditions
        path = resource_path(rt, namespace, name)
        return await self.request("DELETE", path, body=options, verb=Verb.DELETE)  # type: ignore[no-any-return]

    # --- the request loop -------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: JSON = None,
        content_type: str = "application/json",
        verb: Verb = Verb.GET,
        idempotent: bool = True,
        retry: bool = True,
        limited: bool = True,
    ) -> Any:
        """Send one request with the policy of the module docstring; return the decoded JSON answer.
        `retry=False` makes one attempt (plus the 401 re-authentication); `limited=False` skips the write
        token bucket (leader election: a renewal must never queue behind a burst of writes)."""
        write = verb in WRITES
        manager = self.options.field_manager if write and method != "DELETE" else ""
        if params:
            query = dict(params)
            if manager:
                query["fieldManager"] = manager
            target = f"{path}?{urlencode(query)}"
        else:  # most requests: a write with only its field manager, or a read with no parameters at all
            target = f"{path}?{self._manager_query}" if manager else path
        data = orjson.dumps(body, default=encode_default) if body is not None else None
        backoff: Backoff | None = None
        retries = self.options.retries if retry else 0
        auth_retried = False
        attempt = 0
        while True:
            if write and limited:
                await self.write_limiter.acquire()
            try:
                status, headers, raw = await self._send(method, target, data=data, content_type=content_type, verb=verb)
            except ApiError as exc:
                safe = idempotent or isinstance(exc.__cause__, _CONNECT_ERRORS)
                if not safe or attempt >= retries:
                    raise
                attempt += 1
                backoff = backoff or Backoff(self.options.retry_backoff, self._clock, self._rng)
                await self._clock.sleep(backoff.next_delay())
                continue
            if status < 400:
                return orjson.loads(raw) if raw else {}
            error = error_from_response(status, headers, raw)
            if status == 401 and not auth_retried:
                auth_retried = True
                if await self.credentials.refresh():
                    continue
            if not retryable_status(status) or attempt >= retries or (not idempotent and status != 429):
                raise error
            retry_after = error.retry_after or 0.0
            if write and status == 429 and retry_after:
                self.write_limiter.hold(retry_after)
            attempt += 1
            backoff = backoff or Backoff(self.options.retry_backoff, self._clock, self._rng)
            await self._clock.sleep(max(backoff.next_delay(), retry_after))

    async def _send(
        self, method: str, target: str, *, data: bytes | None, content_type: str, verb: Verb
    ) -> tuple[int, Mapping[str, str], bytes]:
        """One attempt at `target` (the path and its query)."""
        headers = {"Content-Type": content_type} if data is not None else {}
        auth = self.credentials.header()
        if auth:
            headers["Authorization"] = auth
        started = self._clock.monotonic()
        code = 0
        try:
            async with self._inflight:
                code, answer, raw = await self._http().request(
                    method, target, headers, data, timeout=self.options.request_timeout
                )
                return code, answer, raw
        except TimeoutError as exc:
            raise ApiError(0, REASON_TIMEOUT, f"{method} {_path(target)}: no answer in time") from exc
        except (HttpError, OSError) as exc:
            raise ApiError(0, REASON_CONNECTION, f"{method} {_path(target)}: {type(exc).__name__}: {exc}") from exc
        finally:
            if self._observer is not None:
                self._observer.api_request(verb.value, code, self._clock.monotonic() - started)

    async def watch(
        self,
        rt: ResourceType,
        namespace: str | None,
        options: WatchOptions,
        on_event: Callable[[dict[str, Any]], None],
    ) -> int:
        """Watch until the server ends the response; call `on_event` with each decoded event (BOOKMARK
        included); return how many events came. An ERROR event raises its status as `ApiError` (410 means
        relist), as does silence longer than `options.inactivity_timeout` (reason `InactivityTimeout`)."""
        path = resource_path(rt, namespace)
        target = f"{path}?{urlencode(watch_params(options))}"
        headers = {}
        auth = self.credentials.header()
        if auth:
            headers["Authorization"] = auth
        idle = options.inactivity_timeout
        loop = asyncio.get_running_loop()
        started = self._clock.monotonic()
        answered = False
        count = 0

        def on_head(status: int) -> None:
            nonlocal answered
            answered = True
            if self._observer is not None:
                self._observer.api_request(Verb.WATCH.value, status, self._clock.monotonic() - started)

        def on_line(line: bytes) -> None:
            nonlocal count
            if not line or line.isspace():
                return
            event = orjson.loads(line)
            if event.get("type") == "ERROR":
                raise error_from_status(event.get("object") or {})
            count += 1
            on_event(event)

        try:
            async with self._watch_slots, asyncio.timeout(None) as deadline:
                silence = _Silence(loop, idle, deadline)
                try:
                    status, answer, raw = await self._http().stream(
                        target,
                        headers,
                        on_line,
                        on_data=silence.heard,
                        max_line=self.options.max_line_bytes,
                        on_head=on_head,
                    )
                finally:
                    silence.stop()
        except TimeoutError as exc:
            if deadline.expired():
                raise ApiError(0, REASON_INACTIVITY, f"watch {path}: nothing received for {idle:g} s") from exc
            raise ApiError(0, REASON_TIMEOUT, f"watch {path}: {exc}") from exc
        except orjson.JSONDecodeError as exc:
            raise ApiError(0, REASON_CONNECTION, f"watch {path}: undecodable line: {exc}") from exc
        except (HttpError, OSError) as exc:
            if self._observer is not None and not answered:
                self._observer.api_request(Verb.WATCH.value, 0, self._clock.monotonic() - started)
            raise ApiError(0, REASON_CONNECTION, f"watch {path}: {type(exc).__name__}: {exc}") from exc
        if status >= 400:
            if status == 401:
                await self.credentials.refresh()
            raise error_from_response(status, answer, raw)
        return count


_CONNECT_ERRORS = (ConnectError,)


class _Silence:
    """Expires `timeout` once nothing was heard for `idle` seconds. A read only notes its time; one timer looks
    at the earliest moment the silence could have lasted `idle`, and moves itself on when something was heard
    since (moving the timeout itself at every read made and cancelled a timer handle per watch event)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, idle: float, timeout: asyncio.Timeout) -> None:
        self._loop = loop
        self._idle = idle
        self._timeout = timeout
        self._last = loop.time()
        self._handle = loop.call_at(self._last + idle, self._check)

    def heard(self) -> None:
        self._last = self._loop.time()

    def stop(self) -> None:
        self._handle.cancel()

    def _check(self) -> None:
        now = self._loop.time()
        if now >= self._last + self._idle:
            self._timeout.reschedule(now)
        else:
            self._handle = self._loop.call_at(self._last + self._idle, self._check)


def _path(target: str) -> str:
    """A request target without its query (errors name the path)."""
    return target.partition("?")[0]
