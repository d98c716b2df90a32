"""A small HTTP/1.1 client for one API server: keep-alive connections on asyncio protocols, nothing more.

Where this sits: under engine.kube.client, which owns every policy (retries, write budget, credentials,
errors as `ApiError`). This module moves bytes: it frames a request, parses the answer (Content-Length,
chunked or close-delimited bodies) and keeps idle connections for the next request. A watch is the same
request with its body handed over line by line as it arrives, from the protocol's callback: no task, no
stream reader, no copy per line.

Why not aiohttp: a request through aiohttp's client session cost about 300 µs of CPU (URL objects,
multidicts, tracing signals, cookie handling, connector bookkeeping), which made HTTP, not rules, the largest
share of the operator's CPU. The API server needs none of those features: one host, JSON bodies, no
cookies, no redirects, no compression.

Failures are `HttpError`; `ConnectError` when the request was never sent (the connection could not be
opened), which tells the caller that retrying cannot repeat a write.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from engine.kube import tls

MAX_HEAD_BYTES = 64 * 1024
_REUSABLE_RETRY = frozenset({"GET", "HEAD", "PUT", "DELETE"})
"""Methods sent again, once, when a kept-alive connection turns out closed before any answer (RFC 9110 9.2.2)."""


class HttpError(Exception):
    """No (complete) HTTP answer."""


class ConnectError(HttpError):
    """The connection could not be opened: the request was not sent."""


class Headers(Mapping[str, str]):
    """Response headers, read case-insensitively (repeated headers joined with ', ')."""

    __slots__ = ("_items",)

    def __init__(self, items: dict[str, str]) -> None:
        self._items = items

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def get(self, name: str, default: Any = None) -> Any:
        return self._items.get(name.lower(), default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def _parse_head(head: bytes) -> tuple[int, bool, Headers]:
    """(status, HTTP/1.1?, headers) of a response head (without its final blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise HttpError(f"malformed status line: {lines[0][:80]!r}")
    items: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(f"malformed header line: {line[:80]!r}")
        key = name.strip().lower()
        value = value.strip()
        items[key] = f"{items[key]}, {value}" if key in items else value
    return int(parts[1]), parts[0] == "HTTP/1.1", Headers(items)


class _Connection(asyncio.Protocol):
    """One connection: at most one exchange at a time. The answer's body goes to `sink` piece by piece."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.keep = False
        self._buffer = bytearray()
        self._state = "idle"  # idle | head | length | chunk-size | chunk-data | chunk-end | trailer | close
        self._remaining = 0
        self._method = ""
        self._head: asyncio.Future[tuple[int, Headers]] | None = None
        self._done: asyncio.Future[None] | None = None
        self._sink: Callable[[bytes], None] = _drop
        self._on_status: Callable[[int], None] | None = None
        self.received = False
        self.on_data: Callable[[], None] | None = None

    # --- asyncio.Protocol ---------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._state == "close":  # a close-delimited body ends here
            self._finish()
        elif self._state != "idle":
            self._fail(HttpError(f"connection closed by the server{f': {exc}' if exc else ''}"))

    def data_received(self, data: bytes) -> None:
        if self._state == "idle":  # nothing asked: a server talking out of turn cannot be trusted
            self.abort()
            return
        self.received = True
        if self.on_data is not None:
            self.on_data()
        try:
            self._feed(data)
        except Exception as error:  # a parse error or the sink's: the exchange fails with it
            self._fail(error)
            self.abort()

    # --- one exchange -------------------------------------------------------------------------------------

    def send(
        self,
        method: str,
        data: bytes,
        sink: Callable[[bytes], None],
        on_status: Callable[[int], None] | None = None,
    ) -> tuple[asyncio.Future[tuple[int, Headers]], asyncio.Future[None]]:
        """Write a framed request; return futures of the answer's head and of its body's end. `on_status` is
        called with the status as soon as the head is read, before any of the body reaches `sink`."""
        assert self.transport is not None
        assert self._state == "idle"
        loop = asyncio.get_running_loop()
        self._head = loop.create_future()
        self._done = loop.create_future()
        self._sink = sink
        self._on_status = on_status
        self._method = method
        self._state = "head"
        self.received = False
        self.transport.write(data)
        return self._head, self._done

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def expire(self) -> None:
        """The exchange took too long: it fails with `TimeoutError` and the connection is dropped."""
        self._fail(TimeoutError("no answer in time"))
        self.abort()

    def _feed(self, data: bytes) -> None:
        buffer = self._buffer
        if self._state == "head":
            buffer += data
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD_BYTES:
                    raise HttpError("response head too large")
                return
            status, http11, headers = _parse_head(bytes(buffer[:end]))
            rest = bytes(buffer[end + 4 :])
            buffer.clear()
            if 100 <= status < 200:  # an interim answer: the real one follows
                if rest:
                    self._feed(rest)
                return
            connection = headers.get("connection", "").lower()
            self.keep = http11 and "close" not in connection
            if self._method == "HEAD" or status in (204, 304):
                self._state, self._remaining = "length", 0
            elif "chunked" in headers.get("transfer-encoding", "").lower():
                self._state = "chunk-size"
            elif (length := headers.get("content-length")) is not None:
                self._state, self._remaining = "length", int(length)
            else:
                self._state, self.keep = "close", False
            if self._on_status is not None:
                self._on_status(status)
            assert self._head is not None
            if not self._head.done():
                self._head.set_result((status, headers))
            if self._state == "length" and self._remaining == 0:
                self._finish()
            elif rest:
                self._feed_body(rest)
            return
        self._feed_body(data)

    def _feed_body(self, data: bytes) -> None:
        state = self._state
        if state == "length":
            take = data[: self._remaining]
            self._remaining -= len(take)
            if take:
                self._sink(take)
            if self._remaining == 0:
                self._finish()
            return
        if state == "close":
            self._sink(data)
            return
        buffer = self._buffer
        buffer += data
        while True:
            state = self._state
            if state == "chunk-data":
                if not buffer:
                    return
                take = bytes(buffer[: self._remaining])
                del buffer[: len(take)]
                self._remaining -= len(take)
                self._sink(take)
                if self._remaining:
                    return
                self._state = "chunk-end"
                continue
            end = buffer.find(b"\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD_BYTES:
                    raise HttpError("malformed chunked body")
                return
            line = bytes(buffer[:end])
            del buffer[: end + 2]
            if state == "chunk-size":
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size:
                    self._state, self._remaining = "chunk-data", size
                else:
                    self._state = "trailer"
            elif state == "chunk-end":
                if line:
                    raise HttpError("malformed chunked body")
                self._state = "chunk-size"
            elif state == "trailer":
                if not line:
                    if buffer:
                        raise HttpError("data after the end of a response")
                    self._finish()
                    return
            else:
                return

    def _reset(self) -> None:
        """Back to waiting for the next exchange (no callbacks of the last one kept)."""
        self._state = "idle"
        self._sink = _drop
        self._on_status = self.on_data = None

    def _finish(self) -> None:
        self._reset()
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    def _fail(self, error: Exception) -> None:
        self._reset()
        self.keep = False
        for future in (self._head, self._done):
            if future is not None and not future.done():
                future.set_exception(error)
                future.exception()  # retrieved: a head failure leaves the done future unread


def _drop(_: bytes) -> None:
    return None


Address = tuple[int, int, int, str, tuple[Any, ...]]
"""One entry of socket.getaddrinfo: family, type, protocol, canonical name, socket address."""


def literal_address(host: str, port: int) -> list[Address] | None:
    """The address of a host written as an IP address, as getaddrinfo gives it, without asking the resolver; None for
    a name (or an IPv6 address with a zone, which needs the resolver's index). asyncio's loop.getaddrinfo asks in a
    thread of the default executor even for an address, and each thread that adds is one more thread, with its own
    malloc arena, for the life of the process; in a cluster the API server is an address (KUBERNETES_SERVICE_HOST)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv4Address):
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port))]
    if address.scope_id:
        return None
    return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port, 0, 0))]


class HttpPool:
    """Keep-alive connections to one `http://` or `https://` origin. Callers bound concurrency themselves."""

    def __init__(
        self,
        url: str,
        *,
        ssl_context: ssl.SSLContext | None,
        server_hostname: str | None = None,
        connect_timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        socket_options: Callable[[socket.socket], None] | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self._address = literal_address(self.host, self.port)
        self.prefix = parts.path.rstrip("/")
        self._ssl = ssl_context if self.https else None
        self._server_hostname = (server_hostname or self.host) if self.https else None
        self._connect_timeout = connect_timeout
        self._socket_options = socket_options
        authority = f"[{self.host}]" if ":" in self.host else self.host
        if parts.port:
            authority += f":{parts.port}"
        fixed = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self._fixed = f"Host: {authority}\r\n{fixed}"
        self._idle: deque[_Connection] = deque()
        self._open: set[_Connection] = set()

    async def request(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes | None, *, timeout: float | None = None
    ) -> tuple[int, Headers, bytes]:
        """One exchange; the whole answer. Past `timeout` seconds it fails with `TimeoutError`: one timer on the
        connection, cheaper than a timeout context around the call (a cancelled request drops its connection)."""
        data = self._frame(method, target, headers, body)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            connection, reused = await self._connection(deadline)
            pieces: list[bytes] = []
            timer = None if deadline is None else loop.call_at(deadline, connection.expire)
            try:
                head, done = connection.send(method, data, pieces.append)
                status, answer = await head
                await done
            except BaseException as error:
                self._drop(connection)
                if isinstance(error, HttpError) and reused and not connection.received and method in _REUSABLE_RETRY:
                    continue  # the server had closed the idle connection: once more on a new one
                raise
            finally:
                if timer is not None:
                    timer.cancel()
            self._release(connection)
            return status, answer, b"".join(pieces)

    async def stream(
        self,
        target: str,
        headers: Mapping[str, str],
        on_line: Callable[[bytes], None],
        *,
        on_data: Callable[[], None],
        max_line: int,
        on_head: Callable[[int], None] | None = None,
    ) -> tuple[int, Headers, bytes]:
        """A GET whose body is a stream of lines: a 2xx answer's lines go to `on_line` as they arrive (the end
        of the body ends the call, with b""); any other answer's body is returned whole. `on_data` is called at
        every read (an inactivity deadline), `on_head` with the status once it is known. An exception from
        `on_line` ends the exchange with it."""
        data = self._frame("GET", target, headers, None)
        connection, _ = await self._connection()
        pending = bytearray()
        error_body: list[bytes] = []
        streaming = False

        def sink(piece: bytes) -> None:
            if not streaming:
                error_body.append(piece)
                return
            pending.extend(piece)
            start = 0
            while True:
                end = pending.find(b"\n", start)
                if end < 0:
                    break
                line = bytes(pending[start:end])
                start = end + 1
                on_line(line)
            if start:
                del pending[:start]
            if len(pending) > max_line:
                raise HttpError(f"a line longer than {max_line} bytes")

        def on_status(status: int) -> None:
            nonlocal streaming
            streaming = 200 <= status < 300
            if on_head is not None:
                on_head(status)

        try:
            connection.on_data = on_data
            head, done = connection.send("GET", data, sink, on_status)
            status, answer = await head
            await done
            if streaming and pending.strip():
                on_line(bytes(pending))
        except BaseException:
            self._drop(connection)
            raise
        self._release(connection)
        return status, answer, b"".join(error_body)

    def close(self) -> None:
        """Drop every connection at once (TLS ones without the goodbye handshake)."""
        for connection in list(self._open):
            connection.abort()
        self._open.clear()
        self._idle.clear()

    def _frame(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None) -> bytes:
        lines = [f"{method} {self.prefix}{target} HTTP/1.1\r\n", self._fixed]
        lines.extend(f"{name}: {value}\r\n" for name, value in headers.items())
        if body is not None:
            lines.append(f"Content-Length: {len(body)}\r\n")
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        return head + body if body is not None else head

    async def _connection(self, deadline: float | None = None) -> tuple[_Connection, bool]:
        """An idle connection (reused: True), else a new one, opened before `deadline` (loop time)."""
        idle = self._idle
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection, True
            self._open.discard(connection)
        if deadline is None:
            return await self._connect(), False
        async with asyncio.timeout_at(deadline):
            return await self._connect(), False

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                infos = self._address or await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
                error: OSError | None = None
                for family, type_, proto, _, address in infos:
                    sock = socket.socket(family, type_, proto)
                    try:  # until a connection owns the socket, every way out but the next address closes it
                        try:
                            sock.setblocking(False)
                            if self._socket_options is not None:
                                self._socket_options(sock)
                            await loop.sock_connect(sock, address)
                        except OSError as failure:  # this address refused: the next one
                            sock.close()
                            error = failure
                            continue
                        if self._ssl is not None:
                            _, opened = await tls.connect(sock, self._ssl, self._server_hostname, _Connection)
                        else:
                            _, opened = await loop.create_connection(_Connection, sock=sock)
                    except BaseException:  # a failed handshake, or cancelled (a stop, the timeout) on the way
                        sock.close()
                        raise
                    assert isinstance(opened, _Connection)
                    self._open.add(opened)
                    return opened
                raise error or OSError(f"no address for {self.host}")
        except TimeoutError as failure:
            raise ConnectError(f"connecting to {self.host}:{self.port}: timed out") from failure
        except (OSError, ssl.SSLError) as failure:
            raise ConnectError(
                f"connecting to {self.host}:{self.port}: {type(failure).__name__}: {failure}"
            ) from failure

    def _release(self, connection: _Connection) -> None:
        if connection.keep and not connection.closed:
            self._idle.append(connection)
        else:
            self._drop(connection)

    def _drop(self, connection: _Connection) -> None:
        connection.abort()
        self._open.discard(connection)
