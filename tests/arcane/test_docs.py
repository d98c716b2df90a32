"""Generated docs stay in step with the rules they describe."""

from __future__ import annotations

from pathlib import Path

from arcane.docs import state_machines

ROOT = Path(__file__).resolve().parents[2]


def test_state_machine_diagrams_are_up_to_date() -> None:
    """docs/state-machines.md is exactly what `make docs` generates from rules/ (regenerate it after a rule edit)."""
    assert (ROOT / "docs" / "state-machines.md").read_text() == state_machines(ROOT / "rules")


def test_every_stream_rule_that_changes_the_phase_is_drawn() -> None:
    """Each rule with a `to` in rules/stream.yaml appears as an edge of the stream diagram."""
    text = state_machines(ROOT / "rules")
    for name in (
        "request-initial-backfill",
        "start-backfill",
        "backfill-completed",
        "start-streaming",
        "suspend-running",
    ):
        assert f": {name}\n" in text
