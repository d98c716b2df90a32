"""The public surface of the kube and runtime packages: every exported name exists, once, and is documented."""

from __future__ import annotations

import importlib
import inspect

import pytest


@pytest.mark.parametrize("package", ["engine.kube", "engine.runtime"])
def test_all_lists_real_documented_names_once(package: str) -> None:
    """`__all__` names exist, are unique, and each exported class or function has a docstring of its own."""
    module = importlib.import_module(package)
    names = module.__all__
    assert len(names) == len(set(names))
    for name in names:
        value = getattr(module, name)
        if isinstance(value, type) or inspect.isfunction(value):
            doc = value.__doc__ or ""
            assert doc, f"{package}.{name} has no docstring"
            assert not doc.startswith(f"{name}("), f"{package}.{name} has only the dataclass signature as docstring"


@pytest.mark.parametrize(
    "module",
    [
        "engine.kube.cache",
        "engine.kube.client",
        "engine.kube.cluster",
        "engine.kube.config",
        "engine.kube.informer",
        "engine.kube.mapper",
        "engine.kube.registry",
        "engine.kube.rest",
        "engine.kube.timing",
        "engine.runtime.health",
        "engine.runtime.leader",
        "engine.runtime.logs",
        "engine.runtime.metrics",
        "engine.runtime.queue",
    ],
)
def test_modules_say_where_they_sit_and_what_they_do_not_do(module: str) -> None:
    """Each module docstring places it in the flow and states what it does not do."""
    doc = importlib.import_module(module).__doc__ or ""
    assert "Where this sits" in doc
    assert "does not do" in doc or "No I/O" in doc or "no I/O" in doc
