"""The public surface of engine.testing: a sorted `__all__` naming what exists, and no Arcane vocabulary."""

from __future__ import annotations

import re
from pathlib import Path

import engine.testing

ENGINE_TESTING = Path(engine.testing.__file__).parent


def test_all_is_sorted_and_names_what_exists() -> None:
    """`engine.testing.__all__` is sorted (constants, classes, functions, as ruff sorts it) and importable."""
    names = engine.testing.__all__
    assert names == sorted(names, key=lambda name: (not name.isupper(), not name[0].isupper(), name))
    assert all(hasattr(engine.testing, name) for name in names)


def test_no_product_vocabulary_in_engine_testing() -> None:
    """engine/testing is generic: none of the product's words appear in its code or docstrings."""
    words = re.compile(r"stream|backfill|streamclass|streamingjobtemplate|suspend|STREAMCONTEXT", re.I)
    for path in sorted(ENGINE_TESTING.glob("*.py")):
        assert not words.search(path.read_text()), path.name


def test_every_module_says_where_it_sits() -> None:
    """Every module of engine/testing starts with a docstring saying where it sits in the flow."""
    for path in sorted(ENGINE_TESTING.glob("*.py")):
        text = path.read_text()
        assert text.startswith('"""'), path.name
        if path.name != "__init__.py":
            assert "Where this sits" in text.split('"""')[1], path.name
