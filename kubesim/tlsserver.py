"""A lean TLS server transport: non-blocking `ssl.SSLSocket`s driven by the event loop's readiness callbacks.

asyncio's own TLS (`sslproto`) pushes every record through memory BIOs and several layers of Python
buffering, which costs about as much per request as the whole of a small API call. Here each read is
one `SSLSocket.recv` and each write one `SSLSocket.send` (OpenSSL does the socket I/O in C), so a
request over TLS costs little more than over plain TCP. The transport implements what aiohttp's
server protocol uses (write, writelines, flow control both ways, close/abort, extra info), so the
HTTP layer is unchanged. `TlsServer` accepts connections on a listening socket and hands each to a
fresh protocol from the factory once its handshake is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable
from typing import Any

_READ_SIZE = 256 * 1024
_HIGH_WATER = 256 * 1024
_LOW_WATER = 64 * 1024
_ACCEPT_BATCH = 64
_HANDSHAKE_TIMEOUT = 30.0


class TlsTransport(asyncio.Transport):
    """One server-side TLS connection."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: ssl.SSLSocket, factory: Callable[[], asyncio.BaseProtocol]
    ) -> None:
        super().__init__()
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._factory = factory
        self._protocol: asyncio.Protocol | None = None
        self._inflight = b""  # a send that OpenSSL asked to repeat with the same bytes
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._closing = False
        self._closed = False
        self._reading = True
        self._writing_paused = False
        self._writer_on = False
        self._high, self._low = _HIGH_WATER, _LOW_WATER
        self._extra: dict[str, Any] = {
            "socket": sock,
            "sslcontext": sock.context,
            "ssl_object": sock,
            "peername": _address(sock.getpeername),
            "sockname": _address(sock.getsockname),
        }
        self._waiting = ""  # what the handshake waits for: "r", "w" or nothing
        self._handshake_timer = loop.call_later(_HANDSHAKE_TIMEOUT, self.abort)
        self._handshake_step()

    # ------------------------------------------------------------ handshake

    def _handshake_step(self) -> None:
        try:
            self._sock.do_handshake()
        except ssl.SSLWantReadError:
            self._wait_handshake("r")
            return
        except ssl.SSLWantWriteError:
            self._wait_handshake("w")
            return
        except (OSError, ValueError):
            self._teardown(None, notify=False)
            return
        self._wait_handshake("")
        self._handshake_timer.cancel()
        self._extra["peercert"] = self._sock.getpeercert()
        self._extra["cipher"] = self._sock.cipher()
        protocol = self._factory()
        assert isinstance(protocol, asyncio.Protocol)
        self._protocol = protocol
        protocol.connection_made(self)
        if self._closed:
            return
        if self._reading:
            self._loop.add_reader(self._fd, self._read_ready)
        if self._sock.pending():
            self._loop.call_soon(self._read_ready)
        if self._inflight or self._pending:
            self._flush()

    def _wait_handshake(self, direction: str) -> None:
        if direction == self._waiting:
            return
        if self._waiting == "r":
            self._loop.remove_reader(self._fd)
        elif self._waiting == "w":
            self._loop.remove_writer(self._fd)
        if direction == "r":
            self._loop.add_reader(self._fd, self._handshake_step)
        elif direction == "w":
            self._loop.add_writer(self._fd, self._handshake_step)
        self._waiting = direction

    # ------------------------------------------------------------ reading

    def _read_ready(self) -> None:
        if self._closed or not self._reading or self._protocol is None:
            return
        chunks: list[bytes] = []
        eof = False
        try:
            while True:
                data = self._sock.recv(_READ_SIZE)
                if not data:
                    eof = True
                    break
                chunks.append(data)
                if not self._sock.pending():
                    break
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        except (OSError, ValueError) as error:
            if chunks:
                self._protocol.data_received(b"".join(chunks))
            self._teardown(error if not isinstance(error, ConnectionResetError) else None)
            return
        if chunks:
            self._protocol.data_received(chunks[0] if len(chunks) == 1 else b"".join(chunks))
        if eof and not self._closed:
            keep_open = self._protocol.eof_received()
            if not keep_open:
                self.close()

    def pause_reading(self) -> None:
        """Stop delivering data until `resume_reading`."""
        if self._reading and not self._closed:
            self._reading = False
            self._loop.remove_reader(self._fd)

    def resume_reading(self) -> None:
        """Deliver data again."""
        if not self._reading and not self._closed:
            self._reading = True
            if self._protocol is not None:
                self._loop.add_reader(self._fd, self._read_ready)
                if self._sock.pending():
                    self._loop.call_soon(self._read_ready)

    def is_reading(self) -> bool:
        """Whether data is being delivered."""
        return self._reading and not self._closed

    # ------------------------------------------------------------ writing

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send bytes (buffered when the socket cannot take them now)."""
        if self._closing or self._closed or not data:
            return
        self._pending.append(bytes(data))
        self._pending_size += len(data)
        if not self._writer_on and self._protocol is not None:
            self._flush()
        self._check_high()

    def writelines(self, list_of_data: Any) -> None:
        """Send several buffers as one."""
        self.write(b"".join(list_of_data))

    def _flush(self) -> None:
        sock = self._sock
        try:
            while True:
                if not self._inflight:
                    if not self._pending:
                        break
                    self._inflight = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
                    self._pending.clear()
                    self._pending_size = 0
                sent = sock.send(self._inflight)
                self._inflight = self._inflight[sent:]
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
            if not self._writer_on:
                self._writer_on = True
                self._loop.add_writer(self._fd, self._write_ready)
            return
        except (OSError, ValueError) as error:
            self._teardown(error if not isinstance(error, BrokenPipeError | ConnectionResetError) else None)
            return
        if self._writer_on:
            self._writer_on = False
            self._loop.remove_writer(self._fd)
        self._check_low()
        if self._closing:
            self._teardown(None)

    def _write_ready(self) -> None:
        if not self._closed:
            self._flush()

    def get_write_buffer_size(self) -> int:
        """Bytes not yet handed to the kernel."""
        return len(self._inflight) + self._pending_size

    def get_write_buffer_limits(self) -> tuple[int, int]:
        """(low, high) water marks."""
        return self._low, self._high

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Set the water marks of write flow control."""
        self._high = _HIGH_WATER if high is None else high
        self._low = self._high // 4 if low is None else low

    def _check_high(self) -> None:
        if not self._writing_paused and self.get_write_buffer_size() > self._high and self._protocol is not None:
            self._writing_paused = True
            self._protocol.pause_writing()

    def _check_low(self) -> None:
        if self._writing_paused and self.get_write_buffer_size() <= self._low and self._protocol is not None:
            self._writing_paused = False
            self._protocol.resume_writing()

    def can_write_eof(self) -> bool:
        """TLS has no half-close."""
        return False

    def write_eof(self) -> None:
        """Not supported over TLS."""
        raise NotImplementedError("TLS transports cannot write EOF")

    # ------------------------------------------------------------ closing

    def is_closing(self) -> bool:
        """Whether close() or abort() was called."""
        return self._closing or self._closed

    def close(self) -> None:
        """Close after the buffered data is sent."""
        if self._closing or self._closed:
            return
        self._closing = True
        self.pause_reading()
        if not self._inflight and not self._pending:
            self._teardown(None)

    def abort(self) -> None:
        """Close now, dropping buffered data."""
        self._teardown(None)

    def _teardown(self, error: Exception | None, notify: bool = True) -> None:
        if self._closed:
            return
        self._closed = self._closing = True
        self._handshake_timer.cancel()
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        self._inflight, self._pending, self._pending_size = b"", [], 0
        with contextlib.suppress(OSError):
            self._sock.close()
        protocol = self._protocol
        if notify and protocol is not None:
            self._loop.call_soon(lambda: protocol.connection_lost(error if isinstance(error, Exception) else None))

    # ------------------------------------------------------------ the rest of the Transport interface

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """peername, sockname, socket, sslcontext, ssl_object, peercert, cipher."""
        return self._extra.get(name, default)

    def get_protocol(self) -> asyncio.BaseProtocol:
        """The protocol (None until the handshake is done)."""
        assert self._protocol is not None
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Replace the protocol."""
        assert isinstance(protocol, asyncio.Protocol)
        self._protocol = protocol


def _address(getter: Callable[[], Any]) -> Any:
    try:
        return getter()
    except OSError:
        return None


class TlsServer:
    """Accepts TCP connections on a bound socket and serves each over TLS with a fresh protocol."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        factory: Callable[[], asyncio.BaseProtocol],
        context: ssl.SSLContext,
        host: str,
        port: int,
    ) -> None:
        self._loop = loop
        self._factory = factory
        self._context = context
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        self._listener = socket.create_server((host, port), family=family, backlog=1024)
        self._listener.setblocking(False)
        loop.add_reader(self._listener.fileno(), self._accept)

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return int(self._listener.getsockname()[1])

    def _accept(self) -> None:
        for _ in range(_ACCEPT_BATCH):
            try:
                conn = self._listener.accept()[0]
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                wrapped = self._context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
            except (OSError, ValueError):
                conn.close()
                continue
            TlsTransport(self._loop, wrapped, self._factory)

    def close(self) -> None:
        """Stop accepting (open connections are left to the caller)."""
        if self._listener.fileno() >= 0:
            self._loop.remove_reader(self._listener.fileno())
            self._listener.close()
