"""A lean client TLS transport: a non-blocking `ssl.SSLSocket` driven by the event loop's readiness callbacks.

Where this sits: under engine.kube.http, which opens its HTTPS connections with `connect()` instead of
`loop.create_connection(ssl=...)`. asyncio's own TLS (`sslproto`) pushes every record through memory BIOs
and several layers of Python buffering: in the converge benchmark its Python code was about 6 % of the
operator's busy samples, for one request and one watch event at a time. Here each read is one
`SSLSocket.recv` and each write one `SSLSocket.send`, OpenSSL doing the socket I/O in C (kubesim serves
TLS the same way, for the same reason; the engine never imports kubesim, so this is the client's own).

What it does not do: no flow control towards the protocol (an HTTP exchange reads what it asked for), no
TLS shutdown handshake on close (the pool drops connections without one, as it did).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from typing import Any

_READ_SIZE = 256 * 1024


async def connect(
    sock: socket.socket,
    context: ssl.SSLContext,
    server_hostname: str | None,
    protocol_factory: Callable[[], asyncio.Protocol],
) -> tuple[TlsTransport, asyncio.Protocol]:
    """Wrap a connected non-blocking socket, complete the TLS handshake (the caller bounds its time), and
    hand the transport to a new protocol. On failure the socket is closed."""
    loop = asyncio.get_running_loop()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as asyncio's own transports do
    wrapped = context.wrap_socket(
        sock, server_side=False, server_hostname=server_hostname, do_handshake_on_connect=False
    )
    try:
        while True:
            try:
                wrapped.do_handshake()
                break
            except ssl.SSLWantReadError:
                await _ready(loop, wrapped.fileno(), write=False)
            except ssl.SSLWantWriteError:
                await _ready(loop, wrapped.fileno(), write=True)
        protocol = protocol_factory()
        transport = TlsTransport(loop, wrapped, protocol)
    except BaseException:
        wrapped.close()
        raise
    return transport, protocol


async def _ready(loop: asyncio.AbstractEventLoop, fd: int, *, write: bool) -> None:
    """Wait until `fd` is readable (or writable)."""
    waiter: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not waiter.done():
            waiter.set_result(None)

    if write:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await waiter
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


class TlsTransport(asyncio.Transport):
    """One client TLS connection, handshake done. Data goes to the protocol's `data_received` as it arrives."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: ssl.SSLSocket, protocol: asyncio.Protocol) -> None:
        super().__init__()
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._inflight = b""  # a send that OpenSSL asked to repeat with the same bytes
        self._pending: list[bytes] = []
        self._closing = False
        self._closed = False
        self._writer_on = False
        self._extra: dict[str, Any] = {"socket": sock, "sslcontext": sock.context, "ssl_object": sock}
        protocol.connection_made(self)
        if not self._closed:
            loop.add_reader(self._fd, self._read_ready)
            if sock.pending():
                loop.call_soon(self._read_ready)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername" and name not in self._extra:
            self._extra[name] = self._sock.getpeername()
        return self._extra.get(name, default)

    # --- reading ----------------------------------------------------------------------------------------

    def _read_ready(self) -> None:
        if self._closed:
            return
        chunks: list[bytes] = []
        size = 0
        eof = False
        try:
            # One recv returns one TLS record (a watch event, often): read on until OpenSSL wants more bytes
            # than the kernel holds, so that a burst of records costs one callback, not one loop turn each.
            while size < _READ_SIZE:
                data = self._sock.recv(_READ_SIZE)
                if not data:
                    eof = True
                    break
                chunks.append(data)
                size += len(data)
            else:  # enough for one turn: the rest may sit in OpenSSL's buffer, where readiness cannot see it
                self._loop.call_soon(self._read_ready)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        except (OSError, ValueError) as error:
            if chunks:
                self._protocol.data_received(b"".join(chunks))
            self._teardown(error)
            return
        if chunks:
            self._protocol.data_received(chunks[0] if len(chunks) == 1 else b"".join(chunks))
        if eof and not self._closed:
            self._protocol.eof_received()
            self.close()

    def is_reading(self) -> bool:
        return not self._closed

    # --- writing ----------------------------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send bytes (buffered when the socket cannot take them now)."""
        if self._closing or self._closed or not data:
            return
        self._pending.append(bytes(data))
        if not self._writer_on:
            self._flush()

    def _flush(self) -> None:
        try:
            while True:
                if not self._inflight:
                    if not self._pending:
                        break
                    pending = self._pending
                    self._inflight = pending[0] if len(pending) == 1 else b"".join(pending)
                    pending.clear()
                sent = self._sock.send(self._inflight)
                self._inflight = self._inflight[sent:]
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
            if not self._writer_on:
                self._writer_on = True
                self._loop.add_writer(self._fd, self._write_ready)
            return
        except (OSError, ValueError) as error:
            self._teardown(error)
            return
        if self._writer_on:
            self._writer_on = False
            self._loop.remove_writer(self._fd)
        if self._closing:
            self._teardown(None)

    def _write_ready(self) -> None:
        if not self._closed:
            self._flush()

    def get_write_buffer_size(self) -> int:
        return len(self._inflight) + sum(len(piece) for piece in self._pending)

    def can_write_eof(self) -> bool:
        return False

    # --- closing ----------------------------------------------------------------------------------------

    def is_closing(self) -> bool:
        return self._closing or self._closed

    def close(self) -> None:
        """Close once what was written is sent."""
        if self._closing or self._closed:
            return
        self._closing = True
        if not self._inflight and not self._pending:
            self._teardown(None)

    def abort(self) -> None:
        """Close now, dropping what was not sent."""
        self._teardown(None)

    def _teardown(self, error: Exception | None) -> None:
        if self._closed:
            return
        self._closed = self._closing = True
        self._loop.remove_reader(self._fd)
        if self._writer_on:
            self._loop.remove_writer(self._fd)
        self._inflight, self._pending = b"", []
        self._sock.close()
        self._loop.call_soon(self._protocol.connection_lost, error)
