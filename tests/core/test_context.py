"""The lazy evaluation context: names computed on first read, once, visible from children, cycles caught."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from engine.core.context import Context
from engine.errors import ExpressionError
from engine.expr import compile_expression


def lazy(values: dict[str, Any], producers: dict[str, Callable[[], Any]]) -> Context:
    """A context whose `producers` names are computed on first read by calling them."""
    return Context(values, producers, resolve=lambda name: producers[name]())


def test_producers_run_once_on_first_read() -> None:
    """A name's producer runs when the name is first read and its value is remembered."""
    calls: list[str] = []

    def produce() -> int:
        calls.append("x")
        return 42

    context = lazy({"a": 1}, {"x": produce})
    assert calls == []
    assert context.get("x") == 42
    assert context["x"] == 42
    assert calls == ["x"]
    assert context.computed() == {"a": 1, "x": 42}


def test_children_add_names_and_read_the_rest_from_their_parent() -> None:
    """A child context sees its own names first, then its parent's (computed once, in the parent)."""
    calls: list[int] = []
    parent = lazy({"a": 1, "b": 2}, {"lazy": lambda: calls.append(1) or "v"})
    child = parent.child({"b": 20, "item": 3})
    assert [child.get(k) for k in ("a", "b", "item", "lazy", "missing")] == [1, 20, 3, "v", None]
    assert parent.get("item") is None
    grandchild = child.child({})
    assert grandchild.get("lazy") == "v"
    assert calls == [1]
    assert grandchild.root() is parent


def test_subscripts_read_like_get_through_every_level() -> None:
    """`[]` (how generated expressions read names) computes a name in the context that owns it, once, from a child
    or a grandchild; a name no level has is a KeyError for `[]` and null for an expression."""
    calls: list[int] = []
    parent = lazy({"a": 1}, {"lazy": lambda: calls.append(1) or "v"})
    grandchild = parent.child({"b": 2}).child({})
    assert [grandchild[k] for k in ("lazy", "a", "b")] == ["v", 1, 2]
    assert compile_expression("[lazy, a, b, missing]").evaluate(grandchild) == ["v", 1, 2, None]
    assert calls == [1]
    assert dict.get(parent, "lazy") == "v"  # kept where it is made, not in the child that read it
    assert dict.get(grandchild, "lazy") is None
    with pytest.raises(KeyError):
        grandchild["missing"]


def test_membership_and_missing_keys() -> None:
    """`in` knows given, producible and inherited names; a missing name is a KeyError for `[]`."""
    context = lazy({"a": 1}, {"p": lambda: None}).child({"c": 3})
    assert all(name in context for name in ("a", "p", "c"))
    assert "z" not in context
    with pytest.raises(KeyError):
        context["z"]
    assert context.get("z", "default") == "default"


def test_a_name_that_needs_itself_is_an_error() -> None:
    """A producer that reads its own name (directly or through others) raises ExpressionError, not RecursionError."""
    expression = compile_expression("b")
    context: Context = Context()
    context = lazy({}, {"a": lambda: expression.evaluate(context), "b": lambda: context.get("a")})
    with pytest.raises(ExpressionError, match=r"^`a` depends on itself$"):
        context.get("a")


def test_lazy_names_need_a_resolve_function() -> None:
    """Names to compute without the function that computes them are refused at once, not at the first read."""
    with pytest.raises(ValueError, match="needs a resolve function"):
        Context({}, {"x": True})


def test_expressions_read_contexts_like_objects() -> None:
    """JMESPath reads a context as an object, computing names as it goes; functions take it as an object."""
    context = lazy({"object": {"spec": {"n": 2}}}, {"double": lambda: 4})
    assert compile_expression("object.spec.n < double && type(@) == 'object'").evaluate(context) is True


def test_computed_names_are_functions_of_the_context_recorded_once() -> None:
    """A `Computed` name is its function of the context, computed on first read, once, and recorded under its key;
    names of other entries still go through `resolve`; a computed name that needs itself is an error too."""
    record: dict[str, Any] = {}
    calls: list[str] = []

    def double(context: Context) -> Any:
        calls.append("double")
        return context["base"] * 2

    names: dict[str, Any] = {
        "double": (double, "doc.double", "doc.yaml:3"),
        "base": True,
        "loop": (lambda c: c["loop"], "doc.loop", "doc.yaml:4"),
    }
    context = Context({}, names, resolve=lambda name: 21, record=record)
    child = context.child({"item": 1})
    assert child.get("double") == 42
    assert context["double"] == 42
    assert calls == ["double"]
    assert record == {"doc.double": 42}
    assert "base" not in record  # resolved names are recorded by their resolver, if at all
    with pytest.raises(ExpressionError, match=r"^`loop` depends on itself$"):
        context.get("loop")


def test_an_error_computing_a_name_says_which_and_where() -> None:
    """An expression error computing a `Computed` name names its key and where it is defined: the innermost one
    when names depend on each other (a condition reading a fact that reads a failing fact)."""

    def fails(context: Context) -> Any:
        raise ExpressionError("In function length(), invalid type")

    names: dict[str, Any] = {
        "outer": (lambda c: c["inner"] + 1, "doc.outer", "doc.yaml:3"),
        "inner": (fails, "doc.inner", "doc.yaml:7"),
    }
    context = Context({}, names, resolve=lambda name: None)
    with pytest.raises(ExpressionError) as raised:
        context["outer"]
    assert str(raised.value) == "doc.inner (doc.yaml:7): In function length(), invalid type"
