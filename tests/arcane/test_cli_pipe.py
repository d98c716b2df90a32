"""`arcane ... | head`: a reader that stops early ends the command quietly with the shell's SIGPIPE code."""

from __future__ import annotations

import os
import subprocess
import sys

from arcane.cli import SIGPIPE_EXIT


def test_a_closed_pipe_is_exit_141_without_a_traceback() -> None:
    """The output (37 KB of JSON Schema) goes to a pipe whose reader is already gone."""
    read, write = os.pipe()
    os.close(read)
    try:
        process = subprocess.run(
            [sys.executable, "-m", "arcane.cli", "rules", "schema"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert (process.returncode, process.stderr) == (SIGPIPE_EXIT, "")
