"""The `arcane` command: the engine's commands, plus `sandbox` and `cluster up` (kubesim).

Where this sits: the product shell, the only package that may import both the engine and kubesim.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

_OWN = [("sandbox", "a local demo: in-process cluster and operator"), ("cluster up", "an in-process API server")]


SIGPIPE_EXIT = 128 + 13
"""The shell's code for a process ended by SIGPIPE: a reader (`| head`) that stopped reading."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `arcane` command line; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["run"], ["sandbox"], ["cluster"]):  # servers: a broken pipe there is a socket's, not stdout's
        return _dispatch(args)
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit, where Python would print a traceback
        return code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the interpreter flushes again at exit
        return SIGPIPE_EXIT


def _dispatch(args: list[str]) -> int:
    if args[:1] == ["sandbox"]:
        from arcane.sandbox import main as sandbox

        return sandbox(args[1:])
    if args[:2] == ["cluster", "up"]:
        from kubesim.cli import main as cluster_up

        return cluster_up(args[2:], prog="arcane cluster up")
    from engine.cli import main as engine_main

    return engine_main(args, listed=_OWN)


if __name__ == "__main__":
    sys.exit(main())
