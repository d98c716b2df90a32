"""HTTP/1.1 framing of kubesim's own server (`kubesim.wire`) and its TLS transport (`kubesim.tlsserver`).

kubectl and the Python client exercise the common paths; these raw-socket tests pin what they rarely
send: pipelined requests, chunked request bodies, `Expect: 100-continue`, HEAD, `Connection: close`,
malformed requests, answers larger than the socket buffers over TLS, and a watch whose client reads
slowly (write flow control).
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import time
from typing import Any

from kubesim.tlsdata import client_context

CM = "/api/v1/namespaces/default/configmaps"


def _connect(sim: Any) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", sim.port), timeout=10)
    if sim.options.tls:
        return client_context().wrap_socket(sock, server_hostname="127.0.0.1")
    return sock


def _request(method: str, path: str, token: str, body: bytes = b"", extra: str = "") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n{extra}"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


def _read_response(sock: socket.socket, buf: bytearray, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed; got {bytes(buf)!r}"
        buf += chunk
    end = buf.index(b"\r\n\r\n")
    lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    del buf[: end + 4]
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if head_only or status == 100:
        return status, headers, b""
    length = int(headers.get("content-length", "0"))
    while len(buf) < length:
        chunk = sock.recv(1 << 20)
        assert chunk, "connection closed mid-body"
        buf += chunk
    body = bytes(buf[:length])
    del buf[:length]
    return status, headers, body


def _configmap(name: str, size: int = 1) -> bytes:
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": "x" * size}}
    return json.dumps(doc).encode()


def test_pipelined_requests_are_answered_in_order(kubesim_factory: Any) -> None:
    sim = kubesim_factory(tls=False)
    with _connect(sim) as sock:
        token = sim.token
        sock.sendall(
            _request("POST", CM, token, _configmap("first"))
            + _request("GET", f"{CM}/first", token)
            + _request("GET", f"{CM}/missing", token)
            + _request("GET", "/version", token)
        )
        buf = bytearray()
        answers = [_read_response(sock, buf) for _ in range(4)]
    assert [status for status, _, _ in answers] == [201, 200, 404, 200]
    assert json.loads(answers[1][2])["metadata"]["name"] == "first"
    assert json.loads(answers[2][2])["reason"] == "NotFound"
    assert answers[0][1]["content-type"] == "application/json"
    assert "date" in answers[0][1]


def test_chunked_body_expect_continue_head_and_close(kubesim_factory: Any) -> None:
    sim = kubesim_factory()
    body = _configmap("chunked")
    with _connect(sim) as sock:
        buf = bytearray()
        chunked = b"".join(b"%x\r\n%b\r\n" % (len(part), part) for part in (body[:10], body[10:])) + b"0\r\n\r\n"
        sock.sendall(
            _request("POST", CM, sim.token, extra="Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n")
            + chunked
        )
        assert _read_response(sock, buf)[0] == 201
        expect = (
            f"Expect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: {len(_configmap('later'))}\r\n"
        )
        sock.sendall(_request("POST", CM, sim.token, extra=expect))
        assert _read_response(sock, buf)[0] == 100
        sock.sendall(_configmap("later"))
        assert _read_response(sock, buf)[0] == 201
        sock.sendall(_request("HEAD", "/version", sim.token))
        status, headers, _ = _read_response(sock, buf, head_only=True)
        assert status == 200
        assert int(headers["content-length"]) > 0
        sock.sendall(_request("GET", f"{CM}/later", sim.token, extra="Connection: close\r\n"))
        status, _, body_later = _read_response(sock, buf)
        assert status == 200
        assert json.loads(body_later)["metadata"]["name"] == "later"
        assert not buf
        assert sock.recv(10) == b""  # closed after the answer


def test_malformed_request_gets_400_and_a_closed_connection(kubesim_factory: Any) -> None:
    sim = kubesim_factory(tls=False)
    with _connect(sim) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        buf = bytearray()
        status, headers, _ = _read_response(sock, buf)
        assert status == 400
        assert headers["connection"] == "close"
        assert sock.recv(10) == b""
    assert sim.get("v1", "Namespace", None, "default") is not None  # still serving


def test_answers_larger_than_socket_buffers_over_tls(kubesim: Any) -> None:
    names = [f"big-{i:03d}" for i in range(120)]
    kubesim.apply_many(
        [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n}, "data": {"v": "y" * 100_000}}
            for n in names
        ]
    )
    with _connect(kubesim) as sock:
        buf = bytearray()
        for _ in range(2):  # the connection stays usable after a large answer
            sock.sendall(_request("GET", CM, kubesim.token))
            status, _, body = _read_response(sock, buf)
            assert status == 200
            items = json.loads(body)["items"]
            assert [i["metadata"]["name"] for i in items if i["metadata"]["name"].startswith("big-")] == names


def test_slow_watch_reader_gets_every_event(kubesim: Any) -> None:
    rv = kubesim.resource_version
    with _connect(kubesim) as sock:
        sock.sendall(_request("GET", f"{CM}?watch=true&resourceVersion={rv}&timeoutSeconds=30", kubesim.token))
        buf = bytearray()
        status, headers, _ = _read_response(sock, buf, head_only=True)
        assert status == 200
        assert headers["transfer-encoding"] == "chunked"
        kubesim.apply_many(
            [
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"w-{i}"}, "data": {"v": "z" * 50_000}}
                for i in range(150)
            ]
        )
        time.sleep(0.5)  # the server's socket buffer fills: it must wait, not drop or fail
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + 20
        text = b""
        while len(events) < 150 and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            assert chunk
            buf += chunk
            while True:  # de-chunk what has arrived
                line_end = buf.find(b"\r\n")
                if line_end < 0:
                    break
                size = int(bytes(buf[:line_end]), 16)
                if len(buf) < line_end + 2 + size + 2:
                    break
                text += bytes(buf[line_end + 2 : line_end + 2 + size])
                del buf[: line_end + 2 + size + 2]
            *complete, text = text.split(b"\n")
            events.extend(json.loads(line) for line in complete)
    assert [e["object"]["metadata"]["name"] for e in events] == [f"w-{i}" for i in range(150)]
    assert {e["type"] for e in events} == {"ADDED"}


def test_tls_handshake_failure_does_not_disturb_the_server(kubesim: Any) -> None:
    with socket.create_connection(("127.0.0.1", kubesim.port), timeout=10) as raw:
        raw.sendall(b"GET /version HTTP/1.1\r\n\r\n")  # plain HTTP to a TLS port
        raw.settimeout(5)
        with contextlib.suppress(ConnectionResetError, TimeoutError):
            raw.recv(100)
    context = ssl.create_default_context()  # does not trust kubesim's CA
    with socket.create_connection(("127.0.0.1", kubesim.port), timeout=10) as raw, contextlib.suppress(ssl.SSLError):
        context.wrap_socket(raw, server_hostname="127.0.0.1")
    with _connect(kubesim) as sock:
        sock.sendall(_request("GET", "/version", kubesim.token))
        assert _read_response(sock, bytearray())[0] == 200
