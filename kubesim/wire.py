"""HTTP/1.1 on the wire: kubesim's own lean server protocol, request and response types.

kubesim used aiohttp's web server; per request it cost about as much as the API call it carried (a
task, a request object with lazy URL parsing, header multidicts built twice, a payload writer). This
protocol parses each request (request line, headers, a Content-Length or chunked body) in one pass,
calls the handler synchronously, and writes the answer in one `transport.write`: most API calls never
touch a task or a future. A handler that must wait (a watch, injected latency, the admin endpoint)
returns a coroutine instead; it then runs as a task and later requests on that connection wait their
turn, as HTTP/1.1 requires. Keep-alive, pipelining, `Expect: 100-continue`, HEAD, chunked request
bodies and chunked streaming answers (watches, with write flow control) are supported; malformed
requests get 400 and a closed connection. Works over any transport (`kubesim.tlsserver` for TLS).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote

from multidict import CIMultiDict, MultiDict, MultiDictProxy

log = logging.getLogger("kubesim")
MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024
_STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n" for s in HTTPStatus}
_NO_QUERY: MultiDictProxy[str] = MultiDictProxy(MultiDict())
_DATE: list[Any] = [0, b""]


def _date() -> bytes:
    now = int(time.time())
    if _DATE[0] != now:
        _DATE[0], _DATE[1] = now, formatdate(now, usegmt=True).encode()
    return bytes(_DATE[1])


class Request:
    """One parsed request: method, path (decoded), query, headers, body."""

    __slots__ = ("_query", "body", "headers", "keep_alive", "method", "path", "protocol", "query_string", "raw_path")

    def __init__(  # noqa: PLR0917 - the parts of a request line and its head
        self,
        protocol: HttpProtocol | None,
        method: str,
        target: str,
        headers: CIMultiDict[str],
        body: bytes,
        keep: bool,
    ) -> None:
        self.protocol = protocol
        self.method = method
        raw_path, _, self.query_string = target.partition("?")
        if raw_path.startswith(("http://", "https://")):
            raw_path = "/" + raw_path.split("://", 1)[1].partition("/")[2]
        self.raw_path = raw_path
        self.path = unquote(raw_path) if "%" in raw_path else raw_path
        self.headers = headers
        self.body = body
        self.keep_alive = keep
        self._query: MultiDictProxy[str] | None = None

    @property
    def query(self) -> MultiDictProxy[str]:
        """Query parameters (`+` and percent escapes decoded; blank values kept)."""
        if self._query is None:
            if not self.query_string:
                return _NO_QUERY
            self._query = MultiDictProxy(MultiDict(parse_qsl(self.query_string, keep_blank_values=True)))
        return self._query

    @property
    def host(self) -> str:
        """The Host header."""
        return self.headers.get("Host", "")

    async def read(self) -> bytes:
        """The body (already received in full)."""
        return self.body


class Response:
    """A whole answer: status, headers, body."""

    __slots__ = ("body", "headers", "status")

    def __init__(
        self,
        body: bytes = b"",
        status: int = 200,
        headers: CIMultiDict[str] | dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> None:
        self.body = body
        self.status = status
        self.headers: CIMultiDict[str] = headers if isinstance(headers, CIMultiDict) else CIMultiDict(headers or {})
        if content_type is not None:
            self.headers["Content-Type"] = content_type

    def encode(self, head_only: bool = False) -> bytes:
        """Status line, headers (with Content-Length and Date) and body."""
        lines = [_STATUS_LINES.get(self.status) or f"HTTP/1.1 {self.status} Unknown\r\n"]
        lines.extend(f"{key}: {value}\r\n" for key, value in self.headers.items())
        lines.append(f"Content-Length: {len(self.body)}\r\n")
        head = "".join(lines).encode("latin-1") + b"Date: " + _date() + b"\r\n\r\n"
        return head if head_only else head + self.body


class StreamResponse:
    """A chunked answer written piece by piece (watches)."""

    def __init__(self, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.headers: CIMultiDict[str] = CIMultiDict(headers or {})
        self._protocol: HttpProtocol | None = None

    def enable_chunked_encoding(self) -> None:
        """Streams are always chunked."""

    async def prepare(self, request: Request) -> None:
        """Send the status line and headers."""
        assert request.protocol is not None
        self._protocol = request.protocol
        self._protocol.streaming = True
        head = Response(b"", self.status, self.headers).encode(head_only=True)
        head = head.replace(b"Content-Length: 0\r\n", b"Transfer-Encoding: chunked\r\n", 1)
        await self._protocol.send(head)

    async def write(self, data: bytes) -> None:
        """Send one chunk (waits while the client is not reading)."""
        if data:
            assert self._protocol is not None
            await self._protocol.send(b"%x\r\n%b\r\n" % (len(data), data))

    async def write_eof(self) -> None:
        """End the stream."""
        assert self._protocol is not None
        await self._protocol.send(b"0\r\n\r\n")


Answer = Response | Awaitable[Response | StreamResponse]
Handler = Callable[[Request], Answer]


class HttpProtocol(asyncio.Protocol):
    """One connection: parses requests in order, answers each before the next."""

    def __init__(self, handler: Handler, connections: set[HttpProtocol]) -> None:
        self.handler = handler
        self.connections = connections
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.task: asyncio.Task[None] | None = None
        self.closed = False
        self._drain: asyncio.Future[None] | None = None
        self._continued = False
        self.streaming = False  # a StreamResponse has sent its head: no other answer may follow

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.connections.discard(self)
        if self.task is not None:
            self.task.cancel()
        self._wake_writer()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.task is None:
            self._process()

    def pause_writing(self) -> None:
        if self._drain is None:
            self._drain = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        self._wake_writer()

    def _wake_writer(self) -> None:
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    async def send(self, data: bytes) -> None:
        """Write, then wait while the transport's buffer is over its high-water mark."""
        if self.closed or self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("the client closed the connection")
        self.transport.write(data)
        if self._drain is not None:
            await self._drain
            if self.closed:
                raise ConnectionResetError("the client closed the connection")

    def _process(self) -> None:
        while self.task is None and not self.closed and self.buf:
            request = self._parse()
            if request is None:
                return
            answer = self.handler(request)
            if isinstance(answer, Response):
                self._answer(request, answer)
            else:
                self.task = asyncio.get_running_loop().create_task(self._finish(request, answer))

    async def _finish(self, request: Request, answer: Awaitable[Response | StreamResponse]) -> None:
        try:
            response: Response | StreamResponse | None = await answer
        except (asyncio.CancelledError, ConnectionResetError):
            return
        except Exception:
            log.exception("kubesim failed to answer %s %s", request.method, request.path)
            response = None
        if isinstance(response, Response) and not self.streaming:
            self._answer(request, response)
        elif not isinstance(response, StreamResponse) or not request.keep_alive:
            self._close()  # a failure, or a stream that failed half-way: nothing more can be answered
        self.streaming = False
        self.task = None
        if self.buf and not self.closed:
            self._process()

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.closed = True

    def _answer(self, request: Request, response: Response) -> None:
        transport = self.transport
        if transport is None or self.closed:
            return
        transport.write(response.encode(head_only=request.method == "HEAD"))
        if not request.keep_alive:
            transport.close()
            self.closed = True

    def _fail(self, status: int, message: str) -> None:
        body = message.encode()
        response = Response(body, status, {"Content-Type": "text/plain; charset=utf-8", "Connection": "close"})
        if self.transport is not None:
            self.transport.write(response.encode())
            self.transport.close()
        self.closed = True
        self.buf.clear()

    def _parse(self) -> Request | None:
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEAD:
                self._fail(431, "Request Header Fields Too Large")
            return None
        lines = buf[:end].decode("latin-1").split("\r\n")
        while lines and not lines[0]:
            lines.pop(0)  # stray CRLFs between requests
        parts = lines[0].split(" ") if lines else []
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._fail(400, "Bad Request: invalid request line")
            return None
        method, target, version = parts
        pairs: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name[-1] in " \t":
                self._fail(400, "Bad Request: invalid header line")
                return None
            pairs.append((name, value.strip(" \t")))
        headers: CIMultiDict[str] = CIMultiDict(pairs)
        connection = headers.get("Connection", "").lower()
        keep = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
        start = end + 4
        if "chunked" in headers.get("Transfer-Encoding", "").lower():
            decoded = _dechunk(buf, start)
            if decoded is None:
                self._maybe_continue(headers)
                return None
            if decoded[0] is None:
                self._fail(400, "Bad Request: invalid chunked body")
                return None
            body, used = decoded[0], decoded[1]
        else:
            try:
                length = int(headers.get("Content-Length", "0") or "0")
            except ValueError:
                self._fail(400, "Bad Request: invalid Content-Length")
                return None
            if length > MAX_BODY:
                self._fail(413, "Request Entity Too Large")
                return None
            if len(buf) < start + length:
                self._maybe_continue(headers)
                return None
            body, used = bytes(buf[start : start + length]), start + length
        del buf[:used]
        self._continued = False
        return Request(self, method, target, headers, body, keep)

    def _maybe_continue(self, headers: CIMultiDict[str]) -> None:
        if not self._continued and headers.get("Expect", "").lower() == "100-continue" and self.transport is not None:
            self._continued = True
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")


def _dechunk(buf: bytearray, start: int) -> tuple[bytes | None, int] | None:
    """A chunked body: (body, end offset); (None, 0) when malformed; None when incomplete."""
    parts: list[bytes] = []
    at, total = start, 0
    while True:
        line_end = buf.find(b"\r\n", at)
        if line_end < 0:
            return None
        try:
            size = int(buf[at:line_end].split(b";", 1)[0].strip(), 16)
        except ValueError:
            return (None, 0)
        if size == 0:
            trailer_end = buf.find(b"\r\n\r\n", line_end)
            if buf[line_end : line_end + 4] == b"\r\n\r\n":
                return b"".join(parts), line_end + 4
            return None if trailer_end < 0 else (b"".join(parts), trailer_end + 4)
        total += size
        if total > MAX_BODY:
            return (None, 0)
        if len(buf) < line_end + 2 + size + 2:
            return None
        parts.append(bytes(buf[line_end + 2 : line_end + 2 + size]))
        at = line_end + 2 + size + 2


class HttpServer:
    """The connections of one simulator and the factory of their protocols."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections: set[HttpProtocol] = set()

    def __call__(self) -> HttpProtocol:
        return HttpProtocol(self.handler, self.connections)

    def abort_all(self) -> None:
        """Close every connection now (restart faults, shutdown)."""
        for protocol in list(self.connections):
            if protocol.transport is not None:
                with contextlib.suppress(Exception):
                    protocol.transport.abort()
