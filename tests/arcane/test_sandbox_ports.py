"""`make run` (arcane sandbox) gives the operator its default probe and metrics ports, or free ones when taken."""

from __future__ import annotations

import argparse
import socket

from arcane.sandbox import _choose_port


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
