"""kubesim.collector: what a simulator process does to the cyclic garbage collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from kubesim import collector


@pytest.fixture
def restored() -> Iterator[None]:
    """Leave the test process's collector as it was: thresholds, callbacks, nothing frozen."""
    threshold = gc.get_threshold()
    callbacks = list(gc.callbacks)
    yield
    gc.callbacks[:] = callbacks
    gc.set_threshold(*threshold)
    gc.unfreeze()


def test_tune_installs_one_callback_and_rarer_young_collections(restored: None) -> None:
    _, middle, old = gc.get_threshold()
    collector.tune()
    collector.tune()
    assert gc.get_threshold() == (collector.YOUNG_THRESHOLD, middle, old)
    assert sum(1 for cb in gc.callbacks if cb is collector._freeze_after_full) == 1


def test_survivors_of_a_full_collection_are_frozen_and_later_cycles_still_collected(restored: None) -> None:
    gc.unfreeze()
    collector.tune()
    stored = [{"metadata": {"name": f"s-{i}"}} for i in range(1000)]
    gc.collect(1)
    assert gc.get_freeze_count() == 0, "only a full collection freezes"
    gc.collect()
    frozen = gc.get_freeze_count()
    assert frozen >= len(stored)
    gc.collect(1)
    assert gc.get_freeze_count() == frozen
    garbage: list[object] = []
    garbage.append(garbage)  # a cycle made after the freeze is still collected
    del garbage
    assert gc.collect() >= 1
