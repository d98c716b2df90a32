"""The machine line every benchmark run carries: the interpreter's build is part of it."""

from __future__ import annotations

import os
import sys

from bench import machine

_OLD = {  # a results file written before the interpreter was recorded
    "cpu": "AMD EPYC",
    "cores": 2,
    "ram_gib": 23.5,
    "python": "3.11.7",
    "implementation": "CPython",
    "os": "Linux 6.1",
    "date": "2026-11-27 10:24 UTC",
    "commit": "6a86b29cebcd",
    "dirty": False,
}


def test_the_line_names_the_interpreter_file_and_how_libpython_is_linked() -> None:
    described = machine.describe()
    interpreter = described["interpreter"]
    assert interpreter.startswith(os.path.realpath(sys.executable) + ", libpython ")
    assert interpreter.endswith(("libpython shared", "libpython linked in"))
    assert f"CPython {described['python']} ({interpreter}), " in machine.one_line(described)


def test_results_from_before_the_interpreter_was_recorded_still_read() -> None:
    assert machine.one_line(_OLD) == (
        "AMD EPYC, 2 cores, 23.5 GiB RAM, CPython 3.11.7, Linux 6.1; 2026-11-27 10:24 UTC; commit `6a86b29cebcd`"
    )
