"""Expressions of the rule language: JMESPath for conditions and values, JSONPath for places, `{{ }}` templates.

Everything is compiled once when a rule set loads (`compile_expression`, `compile_path`,
`compile_template`); evaluation never parses. Compile errors carry the column; evaluation errors
become `engine.errors.ExpressionError` naming the expression.

This package is the only place that imports jmespath and jsonpath-ng.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from jmespath import exceptions as jmespath_exceptions
from jmespath.lexer import Lexer

from engine.expr import codegen, jmes
from engine.expr.functions import (
    FUNCTIONS,
    Functions,
    custom_function_docs,
    fast_caller,
    inline_call,
    rfc3339,
    use_clock,
)
from engine.expr.paths import FieldPath, PathSyntaxError, field_names
from engine.expr.template import Template, TemplateSyntaxError, compile_template, stringify

__all__ = [
    "Expression",
    "ExpressionSyntaxError",
    "FieldPath",
    "PathSyntaxError",
    "Template",
    "TemplateSyntaxError",
    "compile_expression",
    "compile_path",
    "compile_template",
    "custom_function_docs",
    "field_names",
    "is_false",
    "rfc3339",
    "stringify",
    "template",
    "use_clock",
]

is_false = jmes.is_false


class ExpressionSyntaxError(Exception):
    """An expression that does not compile: bad syntax (with a 1-based column), unknown function, wrong arity."""

    def __init__(self, source: str, message: str, column: int = 0) -> None:
        self.source = source
        self.message = message
        self.column = column
        super().__init__(message)


def _call(name: str, args: list[Any]) -> Any:
    return FUNCTIONS.call_function(name, args)


_COMPILED: dict[str, tuple[dict[str, Any], Any]] = {}
_COMPILED_MAX = 8192
"""Expressions compiled so far, by text: rule sets repeat expressions, and reloads compile the same ones again."""


class Expression:
    """A compiled JMESPath expression. `evaluate(data)` is its value on `data`; a failure raises ExpressionError
    naming the expression (the compiled function does both, so evaluating is one call)."""

    __slots__ = ("ast", "evaluate", "fn", "source")
    evaluate: Callable[[Any], Any]

    def __init__(self, source: str) -> None:
        self.source = source
        compiled = _COMPILED.get(source)
        if compiled is not None:  # the same text compiles to the same (stateless) function
            self.ast, self.fn = compiled
            self.evaluate = self.fn
            return
        _check_tokens(source)
        try:
            self.ast = jmes.parse(source)
            _check_functions(source, self.ast)
            self.fn = self.evaluate = codegen.generate(self.ast, _call, fast_caller, name=source, inline=inline_call)
        except jmespath_exceptions.ParseError as error:
            column = int(getattr(error, "lex_position", 0) or 0) + 1
            raise ExpressionSyntaxError(source, _syntax_message(error), column) from None
        except jmespath_exceptions.JMESPathError as error:
            raise ExpressionSyntaxError(source, f"invalid JMESPath: {error}".split("\n")[0]) from None
        except (RecursionError, SyntaxError, MemoryError):  # a long chain (`a.a.a…`) nests the tree as deeply
            raise ExpressionSyntaxError(source, "the expression is nested too deeply to compile") from None
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        _COMPILED[source] = (self.ast, self.fn)

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def truthy(self, data: Any) -> bool:
        """The expression's value as a condition (JMESPath truthiness)."""
        return not jmes.is_false(self.evaluate(data))

    def root_paths(self) -> list[tuple[str, ...]]:
        """The field chains read from the root (`object.spec.x` -> ('object', 'spec', 'x')), for static checks."""
        return _root_paths(self.ast)

    def uses_current(self) -> bool:
        """Whether the expression names the current value (`@`) anywhere: through it a function may read a field of
        the root by a computed key (`get(@, key)`), which `root_paths` cannot list."""
        return _uses_current(self.ast)


def compile_expression(source: str) -> Expression:
    """Compile a JMESPath expression (raises ExpressionSyntaxError)."""
    return Expression(source)


def compile_path(source: str) -> FieldPath:
    """Compile a JSONPath (a leading `$.` may be omitted; raises PathSyntaxError)."""
    return FieldPath(source)


def template(value: Any) -> Template:
    """Compile a template whose expressions are JMESPath."""
    return compile_template(value, compile_expression)


MAX_NESTING = 64
"""Brackets, parentheses and braces an expression may nest (the parser and the generated code recurse per level)."""
_OPENING = frozenset({"lparen", "lbracket", "lbrace", "filter"})
_CLOSING = frozenset({"rparen", "rbracket", "rbrace"})


def _check_tokens(source: str) -> None:
    """Reject `` `text` `` literals that are not JSON (jmespath.py reads them as strings, deprecated, with a
    warning, which hides typos such as `` `ture` ``), and nesting deeper than MAX_NESTING."""
    depth = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            for token in Lexer().tokenize(source):
                depth += (token["type"] in _OPENING) - (token["type"] in _CLOSING)
                if depth > MAX_NESTING:
                    raise ExpressionSyntaxError(
                        source, f"the expression nests more than {MAX_NESTING} levels", int(token["start"]) + 1
                    )
                if caught:
                    raise ExpressionSyntaxError(
                        source,
                        f"invalid JMESPath: `{token['value']}` is not a JSON literal (write text as '{token['value']}')",
                        int(token["start"]) + 1,
                    )
        except jmespath_exceptions.JMESPathError:
            return  # the parser reports it, with its position


def _syntax_message(error: Any) -> str:
    if isinstance(error, jmespath_exceptions.IncompleteExpressionError):
        return "invalid JMESPath: the expression ends too early"
    if isinstance(error, jmespath_exceptions.LexerError):
        text = str(error.message)
        return f"invalid JMESPath: {text[:1].lower()}{text[1:]}"
    token = getattr(error, "token_value", None)
    expected = str(getattr(error, "msg", "") or "").split(", got")[0]
    if token is not None:
        return f"invalid JMESPath: unexpected {token!r} ({expected.lower()})"
    return f"invalid JMESPath: {str(error).splitlines()[0]}"


def _check_functions(source: str, node: dict[str, Any]) -> None:
    if node.get("type") in ("subexpression", "index_expression", "projection", "filter_projection"):
        first = node["children"][0] if node.get("children") else None
        if isinstance(first, dict) and first.get("type") == "not_expression":
            raise ExpressionSyntaxError(
                source, "`!` binds tighter than `.` in JMESPath, so `!a.b` means `(!a).b`: write `!(a.b)`"
            )
    if node.get("type") == "function_expression":
        name = node["value"]
        entry = Functions.FUNCTION_TABLE.get(name)
        if entry is None:
            raise ExpressionSyntaxError(source, f"unknown function {name}()")
        signature = entry["signature"]
        count = len(node["children"])
        variadic = bool(signature) and signature[-1].get("variadic")
        if (variadic and count < len(signature)) or (not variadic and count != len(signature)):
            expected = f"at least {len(signature)}" if variadic else str(len(signature))
            raise ExpressionSyntaxError(source, f"{name}() takes {expected} argument(s), got {count}")
    for child in node.get("children", []):
        if isinstance(child, dict):
            _check_functions(source, child)


def _root_paths(node: dict[str, Any]) -> list[tuple[str, ...]]:
    """Field chains evaluated against the root value (not inside projections over elements)."""
    kind = node.get("type")
    children = [child for child in node.get("children", []) if isinstance(child, dict)]
    if kind == "field":
        return [(node["value"],)]
    if kind in ("subexpression", "index_expression", "pipe"):
        chain = _leading_fields(node)
        head = _root_paths(children[0]) if children else []
        return [chain] if chain else head
    if kind in ("projection", "filter_projection", "value_projection", "flatten"):
        return _root_paths(children[0]) if children else []
    if kind in ("expref", "literal", "current", "identity", "index", "slice"):
        return []
    paths: list[tuple[str, ...]] = []
    for child in children:
        paths.extend(_root_paths(child))
    return paths


def _uses_current(node: dict[str, Any]) -> bool:
    if node.get("type") == "current":
        return True
    return any(_uses_current(child) for child in node.get("children", []) if isinstance(child, dict))


def _leading_fields(node: dict[str, Any]) -> tuple[str, ...]:
    """For `a.b.c` (nested subexpressions of fields), the chain ('a', 'b', 'c'); for `a.b[0].c` or `a.b[*].c`, the
    chain read before indexing or projecting, ('a', 'b'); () for anything else."""
    kind = node.get("type")
    if kind == "field":
        return (node["value"],)
    if kind in ("index_expression", "projection", "filter_projection", "value_projection", "flatten"):
        return _leading_fields(node["children"][0])
    if kind != "subexpression":
        return ()
    chain: tuple[str, ...] = ()
    for child in node["children"]:
        part = _leading_fields(child)
        if not part:
            return chain
        chain += part
        if child.get("type") != "field":
            return chain
    return chain
