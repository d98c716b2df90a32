"""Compiled expressions: syntax errors with their column, the `!a.b` pitfall, evaluation errors, root paths."""

from __future__ import annotations

import re
from typing import Any

import pytest

import engine.expr
from engine.errors import ExpressionError
from engine.expr import Expression, ExpressionSyntaxError, compile_expression


@pytest.mark.parametrize(
    ("source", "message", "column"),
    [
        ("a.b[?x ==]", "invalid JMESPath: unexpected ']' (invalid token)", 10),
        ("a b", "invalid JMESPath: unexpected 'b' (unexpected token: b)", 3),
        ("a ||", "invalid JMESPath: the expression ends too early", 5),
        ("a[?", "invalid JMESPath: the expression ends too early", 4),
        ("foo(", "invalid JMESPath: the expression ends too early", 5),
        ('a."b', 'invalid JMESPath: unclosed " delimiter', 3),
        ("a = b", "invalid JMESPath: unknown token '='", 3),
        ("a == `ture`", "invalid JMESPath: `ture` is not a JSON literal (write text as 'ture')", 6),
        ("`{x: 1}`", "invalid JMESPath: `{x: 1}` is not a JSON literal (write text as '{x: 1}')", 1),
    ],
)
def test_syntax_errors_carry_the_column(source: str, message: str, column: int) -> None:
    """A syntax error says what was unexpected and where: the 1-based column in the expression."""
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression(source)
    assert (caught.value.message, caught.value.column, caught.value.source) == (message, column, source)


PITFALL = "`!` binds tighter than `.` in JMESPath, so `!a.b` means `(!a).b`: write `!(a.b)`"


@pytest.mark.parametrize(
    "source", ["!a.b", "x && !a.b", "!a.b || c", "length(!a.b)", "!!a.b", "!a[?x]", "[?!a.b]", "!(a).b"]
)
def test_not_before_a_path_is_rejected(source: str) -> None:
    """`!a.b` (which JMESPath reads as `(!a).b`, always null) is a compile error that says how to write it."""
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression(source)
    assert caught.value.message == PITFALL


@pytest.mark.parametrize(
    ("source", "data", "value"),
    [
        ("!(a.b)", {"a": {"b": True}}, False),
        ("!a", {"a": []}, True),
        ("!a[0]", {"a": [False]}, True),  # !(a[0]); (!a)[0] would be null
        ("!a[*].b", {"a": [{"b": True}]}, False),  # !(a[*].b); (!a)[*].b would be null
        ("!a | b", {"a": True, "b": "x"}, None),  # (!a) | b: false has no field b
        ("(!a) || b", {"a": True, "b": "x"}, "x"),
    ],
)
def test_not_in_other_places_is_accepted(source: str, data: Any, value: Any) -> None:
    """`!` over a parenthesised path, a lone name, an index or a projection compiles, and negates what the parser
    binds first: the index or projection, but not a pipe."""
    assert compile_expression(source).evaluate(data) == value


def test_not_parenthesised_path_negates_the_path() -> None:
    """`!(a.b)` is the negation of `a.b`, the form the error message recommends."""
    assert compile_expression("!(a.b)").evaluate({"a": {"b": True}}) is False
    assert compile_expression("!(a.b)").evaluate({"a": {}}) is True


def test_evaluation_errors_name_the_expression() -> None:
    """A failure while evaluating raises ExpressionError with the expression's source and the cause."""
    with pytest.raises(
        ExpressionError, match=re.escape("'sort_by(l, &v)': In function sort_by(), invalid type for value: x")
    ):
        compile_expression("sort_by(l, &v)").evaluate({"l": [{"v": 1}, {"v": "x"}]})
    with pytest.raises(ExpressionError, match=re.escape("'abs(a)': In function abs(), invalid type for value: x")):
        compile_expression("abs(a)").evaluate({"a": "x"})


def test_expression_errors_raised_inside_pass_through() -> None:
    """An ExpressionError raised by a lazy name while evaluating keeps its own message."""

    class Lazy(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            raise ExpressionError("`x` depends on itself")

    with pytest.raises(ExpressionError, match=r"^`x` depends on itself$"):
        compile_expression("x").evaluate(Lazy())


def test_truthy_uses_jmespath_truthiness() -> None:
    """truthy() is false for null, false and empty values, true for 0 and non-empty values."""
    data = {"zero": 0, "empty": [], "text": "t"}
    assert [compile_expression(s).truthy(data) for s in ("zero", "empty", "text", "missing")] == [
        True,
        False,
        True,
        False,
    ]


@pytest.mark.parametrize(
    ("source", "paths"),
    [
        ("object.spec.x", [("object", "spec", "x")]),
        ("a", [("a",)]),
        ("a.b == c.d", [("a", "b"), ("c", "d")]),
        ("a.b[0].c", [("a", "b")]),
        ("a.b[*].c", [("a", "b")]),
        ("a.b[].c", [("a", "b")]),
        ("a.b[?x].c", [("a", "b")]),
        ("a[0].b", [("a",)]),
        ("a[?x.y].z", [("a",)]),
        ("sort_by(items, &metadata.name)", [("items",)]),
        ("length(object.spec) > `1` && !(flag)", [("object", "spec"), ("flag",)]),
        ("{k: a.b, l: [c]}", [("a", "b"), ("c",)]),
        ("a | b", [("a",)]),
        ("`1`", []),
        ("@", []),
        ("'text'", []),
        ('"quoted-name".x', [("quoted-name", "x")]),
        ("a.b.*.c", [("a", "b")]),
    ],
)
def test_root_paths(source: str, paths: list[tuple[str, ...]]) -> None:
    """root_paths() lists the field chains read from the root (not those inside projections or exprefs)."""
    assert compile_expression(source).root_paths() == paths


def test_repr_and_compile_once() -> None:
    """An expression shows its source; compiling parses once and evaluating never parses."""
    expression = Expression("a.b")
    assert repr(expression) == "Expression('a.b')"
    assert expression.evaluate({"a": {"b": 2}}) == 2


def test_public_surface_is_sorted() -> None:
    """engine.expr exports a sorted `__all__` of names that exist."""
    assert engine.expr.__all__ == sorted(engine.expr.__all__)
    assert all(hasattr(engine.expr, name) for name in engine.expr.__all__)
