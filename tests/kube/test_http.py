"""engine.kube.http against a raw TCP server that answers with scripted bytes: framing, reuse, failures."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from engine.kube.http import ConnectError, HttpError, HttpPool, literal_address


@dataclass
class Script:
    """A server that reads one request head (and its Content-Length body) and writes `answers` in turn;
    an answer is a list of byte pieces sent with a short pause between them (to split reads), or a callable
    deciding what to do with the connection."""

    answers: list[list[bytes] | Callable[[asyncio.StreamWriter], None]] = field(default_factory=list)
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length) if length else b""
                self.requests.append(head + body)
                answer = self.answers.pop(0)
                if callable(answer):
                    answer(writer)
                    return
                for piece in answer:
                    writer.write(piece)
                    await writer.drain()
                    await asyncio.sleep(0.01)
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.transport.abort()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"


@pytest.fixture
async def script() -> AsyncIterator[Script]:
    script = Script()
    script.server = await asyncio.start_server(script.handle, "127.0.0.1", 0)
    yield script
    script.server.close()
    await script.server.wait_closed()


def ok(body: bytes, *extra: str) -> list[bytes]:
    head = "".join(f"{line}\r\n" for line in ("HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *extra))
    return [head.encode() + b"\r\n" + body]


def chunked(*chunks: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"


async def test_request_frames_headers_and_body_and_reuses_the_connection(script: Script) -> None:
    script.answers = [ok(b'{"a":1}'), ok(b"{}")]
    pool = HttpPool(script.url, ssl_context=None, headers={"Accept": "application/json"})
    status, headers, body = await pool.request(
        "PATCH", "/x?y=1", {"Content-Type": "application/merge-patch+json"}, b"{}"
    )
    assert (status, body) == (200, b'{"a":1}')
    assert headers["content-length"] == headers["Content-Length"] == "7"
    sent = script.requests[0]
    assert sent.startswith(b"PATCH /x?y=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    for line in (b"Accept: application/json", b"Content-Type: application/merge-patch+json", b"Content-Length: 2"):
        assert line in sent
    assert sent.endswith(b"\r\n\r\n{}")
    await pool.request("GET", "/z", {}, None)
    assert script.connections == 1
    assert b"Content-Length" not in script.requests[1]
    pool.close()


async def test_chunked_body_split_anywhere_and_interim_answers(script: Script) -> None:
    body = chunked(b'{"items":', b"[1,2,3]", b"}")
    whole = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    script.answers = [[whole[i : i + 7] for i in range(0, len(whole), 7)]]
    pool = HttpPool(script.url, ssl_context=None)
    status, headers, answer = await pool.request("GET", "/", {}, None)
    assert (status, dict(headers), answer) == (200, {"transfer-encoding": "chunked"}, b'{"items":[1,2,3]}')
    pool.close()


async def test_connection_close_and_close_delimited_bodies_are_not_reused(script: Script) -> None:
    def close_delimited(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\n\r\nuntil the end")
        writer.close()

    script.answers = [ok(b"1", "Connection: close"), close_delimited, ok(b"3")]
    pool = HttpPool(script.url, ssl_context=None)
    assert (await pool.request("GET", "/", {}, None))[2] == b"1"
    assert (await pool.request("GET", "/", {}, None))[2] == b"until the end"
    assert (await pool.request("GET", "/", {}, None))[2] == b"3"
    assert script.connections == 3
    pool.close()


async def test_a_kept_connection_closed_by_the_server_is_retried_for_get_but_not_for_post(script: Script) -> None:
    def hang_up(writer: asyncio.StreamWriter) -> None:
        writer.transport.abort()

    pool = HttpPool(script.url, ssl_context=None)
    script.answers = [ok(b"1"), hang_up, ok(b"2")]
    await pool.request("GET", "/", {}, None)
    assert (await pool.request("GET", "/", {}, None))[2] == b"2"  # sent again on a new connection
    script.answers = [hang_up]
    with pytest.raises(HttpError, match="closed by the server"):
        await pool.request("POST", "/", {}, b"{}")
    pool.close()


async def test_refused_connections_are_connect_errors() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    pool = HttpPool(f"http://127.0.0.1:{port}", ssl_context=None)
    with pytest.raises(ConnectError, match="ConnectionRefusedError"):
        await pool.request("POST", "/", {}, b"{}")


async def test_stream_hands_over_lines_as_they_come_split_across_reads(script: Script) -> None:
    lines = [b'{"n":%d}' % i for i in range(5)]
    body = chunked(lines[0] + b"\n" + lines[1][:3], lines[1][3:] + b"\n", b"\n".join(lines[2:]) + b"\n")
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    script.answers = [[head + body[:10], body[10:25], body[25:]]]
    pool = HttpPool(script.url, ssl_context=None)
    got: list[bytes] = []
    statuses: list[int] = []
    reads = 0

    def on_data() -> None:
        nonlocal reads
        reads += 1

    status, _, rest = await pool.stream("/w", {}, got.append, on_data=on_data, max_line=100, on_head=statuses.append)
    assert (status, rest, got, statuses) == (200, b"", lines, [200])
    assert reads == 3
    pool.close()


async def test_stream_returns_an_error_answer_whole(script: Script) -> None:
    script.answers = [[b'HTTP/1.1 410 Gone\r\nContent-Length: 12\r\n\r\n{"code":41', b"0}"]]
    pool = HttpPool(script.url, ssl_context=None)
    got: list[bytes] = []
    status, _, body = await pool.stream("/w", {}, got.append, on_data=lambda: None, max_line=100)
    assert (status, body, got) == (410, b'{"code":410}', [])
    pool.close()


async def test_stream_fails_on_a_line_too_long_and_on_the_line_handlers_error(script: Script) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    script.answers = [[head + chunked(b"x" * 200)], [head + chunked(b"bad\n")]]
    pool = HttpPool(script.url, ssl_context=None)
    with pytest.raises(HttpError, match="longer than 100 bytes"):
        await pool.stream("/w", {}, lambda line: None, on_data=lambda: None, max_line=100)

    def refuse(line: bytes) -> None:
        raise ValueError(f"cannot read {line!r}")

    with pytest.raises(ValueError, match="cannot read b'bad'"):
        await pool.stream("/w", {}, refuse, on_data=lambda: None, max_line=100)
    pool.close()


async def test_malformed_answers_fail_the_request(script: Script) -> None:
    script.answers = [[b"SPDY/3 200 OK\r\n\r\n"], [b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n"]]
    pool = HttpPool(script.url, ssl_context=None)
    with pytest.raises(HttpError, match="malformed status line"):
        await pool.request("GET", "/", {}, None)
    with pytest.raises(HttpError, match="malformed header line"):
        await pool.request("PUT", "/", {}, b"")
    pool.close()


async def test_a_cancelled_request_drops_its_connection(script: Script) -> None:
    script.answers = [[b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"], ok(b"fresh")]
    pool = HttpPool(script.url, ssl_context=None)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await pool.request("GET", "/", {}, None)
    assert (await pool.request("GET", "/", {}, None))[2] == b"fresh"
    assert script.connections == 2
    pool.close()


async def test_a_request_past_its_timeout_fails_and_drops_its_connection(script: Script) -> None:
    """`timeout` bounds the exchange: an answer that stops halfway fails with TimeoutError, its connection is
    dropped, and the next request gets a new one."""
    script.answers = [[b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"], ok(b"fresh")]
    pool = HttpPool(script.url, ssl_context=None)
    with pytest.raises(TimeoutError, match="no answer in time"):
        await pool.request("GET", "/", {}, None, timeout=0.2)
    assert (await pool.request("GET", "/", {}, None, timeout=5))[2] == b"fresh"
    assert script.connections == 2
    pool.close()


def test_only_http_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="not an http"):
        HttpPool("ftp://example.com", ssl_context=None)


def test_an_address_is_its_own_resolution() -> None:
    """A host written as an IP address gives what getaddrinfo would give; a name, or an IPv6 address with a zone,
    is left to the resolver."""
    for host in ("127.0.0.1", "::1"):
        assert literal_address(host, 6443) == socket.getaddrinfo(host, 6443, type=socket.SOCK_STREAM), host
    assert literal_address("localhost", 6443) is None
    assert literal_address("fe80::1%eth0", 6443) is None


async def test_an_address_is_connected_without_the_resolver(script: Script, monkeypatch: pytest.MonkeyPatch) -> None:
    """Connecting to an IP address asks no resolver (asyncio's getaddrinfo runs in an executor thread); a name does."""
    loop = asyncio.get_running_loop()
    resolve = loop.getaddrinfo
    asked: list[str] = []

    async def counted(host: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(host)
        return await resolve(host, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", counted)
    script.answers = [ok(b"{}"), ok(b"{}")]
    by_address = HttpPool(script.url, ssl_context=None)
    assert (await by_address.request("GET", "/", {}, None))[0] == 200
    assert asked == []
    by_name = HttpPool(script.url.replace("127.0.0.1", "localhost"), ssl_context=None)
    assert (await by_name.request("GET", "/", {}, None))[0] == 200
    assert asked == ["localhost"]
    by_address.close()
    by_name.close()


async def test_a_connect_cancelled_midway_leaves_no_socket_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request cancelled while its connection is being made (a stop, a timeout) closes the socket it opened, rather
    than leaving it to the garbage collector (a ResourceWarning, and a descriptor held until then)."""
    loop = asyncio.get_running_loop()
    opened: list[socket.socket] = []
    connecting = asyncio.Event()

    async def hang(sock: socket.socket, address: Any) -> None:
        opened.append(sock)
        connecting.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(loop, "sock_connect", hang)
    pool = HttpPool("http://127.0.0.1:9", ssl_context=None)
    request = asyncio.create_task(pool.request("GET", "/", {}, None))
    await connecting.wait()
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    assert [sock.fileno() for sock in opened] == [-1]
    pool.close()
