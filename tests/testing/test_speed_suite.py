"""The generated suite of tests/testing/speed.py (used to measure ~150 scenarios) stays valid and passing."""

from __future__ import annotations

import io
from pathlib import Path

from engine.testing.command import run_tests

from .speed import generate


def test_the_generated_widget_suite_passes(tmp_path: Path) -> None:
    """A few generated Widget scenarios load and pass (the timing itself is measured by speed.py, not asserted)."""
    generate(tmp_path, 3)
    out = io.StringIO()
    assert run_tests([str(tmp_path)], stdout=out, stderr=io.StringIO()) == 0, out.getvalue()
    assert out.getvalue().startswith("3 passed: 3 fixtures, 27 steps in ")
