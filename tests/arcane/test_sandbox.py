"""`make run` (arcane sandbox): the operator's ports (the defaults, or free ones when taken), and its restarts."""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from arcane.sandbox import RESTARTS, _choose_port, _parser, _start_operator, _wait


def _held() -> socket.socket:
    holder = socket.socket()
    holder.bind(("0.0.0.0", 0))
    holder.listen()
    return holder


def test_a_free_default_port_is_kept() -> None:
    with socket.socket() as probe:  # a port nothing listens on now
        probe.bind(("0.0.0.0", 0))
        free = probe.getsockname()[1]
    args = argparse.Namespace(health_port=None)
    assert _choose_port(args, "health_port", free) == ""
    assert args.health_port == free


def test_a_taken_default_port_moves_to_a_free_one_and_says_so() -> None:
    with _held() as holder:
        taken = holder.getsockname()[1]
        args = argparse.Namespace(metrics_port=None)
        note = _choose_port(args, "metrics_port", taken)
        assert args.metrics_port not in (None, taken)
        assert note == f"port {taken} is in use: --metrics-port {args.metrics_port} instead"
        with socket.socket() as probe:  # the port given instead can be listened on
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("0.0.0.0", args.metrics_port))


def test_a_port_given_on_the_command_line_is_kept_even_when_taken() -> None:
    with _held() as holder:
        taken = holder.getsockname()[1]
        args = argparse.Namespace(health_port=taken)
        assert _choose_port(args, "health_port", 8888) == ""
        assert args.health_port == taken


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "60"])


def test_an_operator_killed_by_a_signal_is_started_again_one_that_exits_is_not() -> None:
    """kill -9 of the operator: a new one runs on the same cluster, as its Deployment would start; an operator that
    exits by itself (a code of its own) ends the sandbox as a failure."""
    stop = threading.Event()
    started: list[subprocess.Popen[bytes]] = []

    def restart() -> subprocess.Popen[bytes]:
        started.append(_sleeper())
        stop.set()  # one restart is enough to see
        return started[-1]

    first = _sleeper()
    first.send_signal(signal.SIGKILL)
    first.wait()
    try:
        assert _wait(first, stop, restart) == (False, started[0])
        assert started[0].poll() is None
    finally:
        for process in started:
            process.kill()
            process.wait()
    exited = subprocess.Popen(["sh", "-c", "exit 2"])
    exited.wait()
    assert _wait(exited, threading.Event(), restart) == (True, exited)
    assert len(started) == 1


def test_a_crash_loop_is_not_restarted_forever() -> None:
    killed: list[subprocess.Popen[bytes]] = []

    def restart() -> subprocess.Popen[bytes]:
        process = _sleeper()
        process.kill()
        process.wait()
        killed.append(process)
        return process

    first = restart()
    failed, last = _wait(first, threading.Event(), restart)
    assert (failed, last, len(killed)) == (True, killed[-1], RESTARTS + 1)


def test_the_log_level_reaches_the_operator(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`arcane sandbox --log-level debug` runs the operator with `--log-level debug`; without it, the operator's
    default (LOG_LEVEL, or info) stands."""
    started: list[list[str]] = []

    def popen(command: list[str], **_kwargs: object) -> object:
        started.append(command)
        return object()

    monkeypatch.setattr(subprocess, "Popen", popen)
    for argv in (["--log-level", "debug"], []):
        args = _parser().parse_args([*argv, "--health-port", "1", "--metrics-port", "2"])
        _start_operator(args, tmp_path / "kubeconfig")
    with_level, without = started
    assert with_level[with_level.index("--log-level") + 1] == "debug"
    assert "--log-level" not in without
