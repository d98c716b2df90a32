"""engine.kube.tls under engine.kube.http: HTTPS exchanges and watch streams over the lean client transport,
against an asyncio TLS server with kubesim's loopback certificate (a test-only trust anchor)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import pytest

from engine.kube.http import ConnectError, HttpPool
from kubesim import tlsdata

from .test_http import Script, chunked, ok


@pytest.fixture
async def tls_script() -> AsyncIterator[Script]:
    script = Script()
    script.server = await asyncio.start_server(script.handle, "127.0.0.1", 0, ssl=tlsdata.server_context())
    yield script
    script.server.close()
    await script.server.wait_closed()


def https(script: Script) -> str:
    return script.url.replace("http://", "https://")


async def test_requests_over_tls_reuse_the_connection(tls_script: Script) -> None:
    """Two exchanges over one verified TLS connection; an answer split across records is put back together."""
    tls_script.answers = [[b'HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{"a"', b":1}"], ok(b"{}")]
    pool = HttpPool(https(tls_script), ssl_context=tlsdata.client_context())
    status, _, body = await pool.request("PUT", "/x", {}, b"{}")
    assert (status, body) == (200, b'{"a":1}')
    assert (await pool.request("GET", "/y", {}, None))[2] == b"{}"
    assert tls_script.connections == 1
    assert tls_script.requests[0].startswith(b"PUT /x HTTP/1.1\r\n")
    pool.close()


async def test_a_burst_of_watch_lines_arrives_whole(tls_script: Script) -> None:
    """Lines written at once, more than one TLS record holds (16 KiB), all reach the stream's callback in
    order, and the end of the body ends the stream."""
    lines = [b'{"n":%d,"pad":"%s"}' % (i, b"x" * 40) for i in range(3000)]
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    tls_script.answers = [[head + chunked(*(line + b"\n" for line in lines))]]
    pool = HttpPool(https(tls_script), ssl_context=tlsdata.client_context())
    got: list[bytes] = []
    status, _, rest = await pool.stream("/w", {}, got.append, on_data=lambda: None, max_line=1000)
    assert (status, rest, got) == (200, b"", lines)
    pool.close()


async def test_an_untrusted_server_certificate_is_a_connect_error(tls_script: Script) -> None:
    """The handshake verifies the server: a certificate from an unknown CA fails before anything is sent."""
    pool = HttpPool(https(tls_script), ssl_context=ssl.create_default_context())
    with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        await pool.request("GET", "/", {}, None)
    assert tls_script.requests == []
    pool.close()
