"""JMESPath compiled to Python closures, with the semantics of jmespath.py's tree interpreter.

Where this sits: `engine.expr` compiles every condition and value of a rule set once, at load time. The
jmespath library parses (and reports syntax errors with a column); this module turns its AST into nested
closures, which evaluate 5-10x faster than walking the AST on every call. Each visitor below mirrors
`jmespath.visitor.TreeInterpreter` case by case; tests compare both on the same inputs. Two deviations, both
documented in docs/rules.md: ordering a number against a string is null (jmespath.py raises TypeError), and
`if(test, then, else)` evaluates only the branch it returns (jmespath.py evaluates every argument of a function).

It does not know which names exist in the data (the compiler checks that) nor what functions mean
(engine.expr.functions).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from numbers import Number
from typing import Any, cast

from jmespath import parser as jmespath_parser
from jmespath.visitor import Options, TreeInterpreter

Fn = Callable[[Any], Any]
_MISSING = object()
FunctionCaller = Callable[[str, list[Any]], Any]
FunctionResolver = Callable[[str], Callable[[list[Any]], Any]]


def parse(source: str) -> dict[str, Any]:
    """Parse a JMESPath expression into jmespath's AST (raises jmespath's ParseError/LexerError)."""
    ast: dict[str, Any] = jmespath_parser.Parser().parse(source).parsed  # type: ignore[assignment]
    return ast


def compile_ast(ast: dict[str, Any], call: FunctionCaller, resolve: FunctionResolver | None = None) -> Fn:
    """Compile an AST into a closure `value -> result`; `call(name, args)` runs functions, or, when given,
    `resolve(name)` returns the caller of one function once, at compile time."""
    return _Compiler(call, resolve).compile(ast)


def is_false(value: Any) -> bool:
    """JMESPath falsiness: empty string/list/object, null and false."""
    if value is None or value is False:
        return True
    kind = type(value)
    if kind is str or kind is list or kind is dict:
        return not value
    if kind is bool or kind is int or kind is float:
        return False
    return value in ("", [], {})


def is_choice(node: dict[str, Any]) -> bool:
    """Whether a node is `if(test, then, else)`: a choice, of which only the branch returned is evaluated (unlike a
    function's arguments; jmespath.py evaluates them all). Both compilers make it so."""
    return node["value"] == "if" and len(node["children"]) == 3


def _is_number(value: Any) -> bool:
    kind = type(value)
    if kind is int or kind is float:
        return True
    if kind is bool or kind is str or value is None:
        return False
    return isinstance(value, Number)


def _equals(left: Any, right: Any) -> bool:
    if type(left) is str or type(right) is str:  # no number-against-boolean case can apply
        return bool(left == right)
    if _is_number(left) and left in (0, 1):
        if isinstance(right, bool):
            return False
    elif _is_number(right) and right in (0, 1) and isinstance(left, bool):
        return False
    return bool(left == right)


def _comparable(value: Any) -> bool:
    return _is_number(value) or isinstance(value, str)


_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "lt": operator.lt,
    "gt": operator.gt,
    "lte": operator.le,
    "gte": operator.ge,
}


class _Expression:
    """An expression reference (`&expr`) as the builtin functions expect it (named like jmespath's)."""

    __slots__ = ("expression", "fn")

    def __init__(self, fn: Fn) -> None:
        self.fn = fn
        self.expression = None

    def visit(self, _node: Any, value: Any) -> Any:
        return self.fn(value)


class _Compiler:
    def __init__(self, call: FunctionCaller, resolve: FunctionResolver | None = None) -> None:
        self._call = call
        self._resolve = resolve

    def compile(self, node: dict[str, Any]) -> Fn:
        method: Callable[[dict[str, Any]], Fn] | None = getattr(self, "_" + node["type"], None)
        if method is None:  # a node type this compiler does not know: interpret it
            return _interpreted(node, self._call)
        return method(node)

    def _children(self, node: dict[str, Any]) -> list[Fn]:
        return [self.compile(child) for child in node["children"]]

    def _field(self, node: dict[str, Any]) -> Fn:
        key = node["value"]
        dict_get = dict.get

        def field(value: Any) -> Any:
            if type(value) is dict:
                return dict_get(value, key)
            if value is None:  # no fields: null, without raising and catching AttributeError
                return None
            if isinstance(value, dict):  # a lazy context: what it holds already, else what it computes
                found = dict_get(value, key, _MISSING)
                return value.get(key) if found is _MISSING else found
            try:
                return value.get(key)
            except AttributeError:
                return None

        return field

    def _subexpression(self, node: dict[str, Any]) -> Fn:
        if node["type"] == "subexpression" and all(child["type"] == "field" for child in node["children"]):
            return _fields(tuple(child["value"] for child in node["children"]))
        fns = self._children(node)
        if len(fns) == 2:
            first, second = fns

            def pair(value: Any) -> Any:
                return second(first(value))

            return pair

        def chain(value: Any) -> Any:
            for fn in fns:
                value = fn(value)
            return value

        return chain

    _index_expression = _subexpression
    _pipe = _subexpression

    def _comparator(self, node: dict[str, Any]) -> Fn:
        left, right = self._children(node)
        op = node["value"]
        if op == "eq":
            return lambda value: _equals(left(value), right(value))
        if op == "ne":
            return lambda value: not _equals(left(value), right(value))
        compare = _ORDERING[op]

        def ordering(value: Any) -> Any:
            a, b = left(value), right(value)
            if not (_comparable(a) and _comparable(b)):
                return None
            try:
                return compare(a, b)
            except TypeError:  # a number against a string: the interpreter raises too; keep it null
                return None

        return ordering

    def _current(self, _node: dict[str, Any]) -> Fn:
        return lambda value: value

    _identity = _current

    def _expref(self, node: dict[str, Any]) -> Fn:
        ref = _Expression(self.compile(node["children"][0]))
        return lambda _value: ref

    def _function_expression(self, node: dict[str, Any]) -> Fn:
        name = node["value"]
        args = self._children(node)
        if is_choice(node):
            test, then, otherwise = args
            return lambda value: otherwise(value) if is_false(test(value)) else then(value)
        if self._resolve is None:
            call = self._call
            return lambda value: call(name, [arg(value) for arg in args])
        run = self._resolve(name)
        if len(args) == 1:
            (only,) = args
            return lambda value: run([only(value)])
        if len(args) == 2:
            first, second = args
            return lambda value: run([first(value), second(value)])
        return lambda value: run([arg(value) for arg in args])

    def _filter_projection(self, node: dict[str, Any]) -> Fn:
        base, project, predicate = self._children(node)

        def filter_projection(value: Any) -> Any:
            items = base(value)
            if not isinstance(items, list):
                return None
            out = []
            for element in items:
                if not is_false(predicate(element)):
                    current = project(element)
                    if current is not None:
                        out.append(current)
            return out

        return filter_projection

    def _flatten(self, node: dict[str, Any]) -> Fn:
        (base,) = self._children(node)

        def flatten(value: Any) -> Any:
            items = base(value)
            if not isinstance(items, list):
                return None
            out: list[Any] = []
            for element in items:
                if isinstance(element, list):
                    out.extend(element)
                else:
                    out.append(element)
            return out

        return flatten

    def _index(self, node: dict[str, Any]) -> Fn:
        position = node["value"]

        def index(value: Any) -> Any:
            if not isinstance(value, list):
                return None
            try:
                return value[position]
            except IndexError:
                return None

        return index

    def _slice(self, node: dict[str, Any]) -> Fn:
        bounds = slice(*node["children"])
        return lambda value: value[bounds] if isinstance(value, list) else None

    def _key_val_pair(self, node: dict[str, Any]) -> Fn:
        return self.compile(node["children"][0])

    def _literal(self, node: dict[str, Any]) -> Fn:
        constant = node["value"]
        return lambda _value: constant

    def _multi_select_dict(self, node: dict[str, Any]) -> Fn:
        pairs = [(child["value"], self.compile(child)) for child in node["children"]]

        def multi_select_dict(value: Any) -> Any:
            if value is None:
                return None
            return {key: fn(value) for key, fn in pairs}

        return multi_select_dict

    def _multi_select_list(self, node: dict[str, Any]) -> Fn:
        fns = self._children(node)
        return lambda value: None if value is None else [fn(value) for fn in fns]

    def _or_expression(self, node: dict[str, Any]) -> Fn:
        left, right = self._children(node)

        def either(value: Any) -> Any:
            matched = left(value)
            return right(value) if is_false(matched) else matched

        return either

    def _and_expression(self, node: dict[str, Any]) -> Fn:
        left, right = self._children(node)

        def both(value: Any) -> Any:
            matched = left(value)
            return matched if is_false(matched) else right(value)

        return both

    def _not_expression(self, node: dict[str, Any]) -> Fn:
        (inner,) = self._children(node)

        def negate(value: Any) -> Any:
            result = inner(value)
            if _is_number(result) and result == 0:
                return False
            return is_false(result)

        return negate

    def _projection(self, node: dict[str, Any]) -> Fn:
        base, project = self._children(node)

        def projection(value: Any) -> Any:
            items = base(value)
            if not isinstance(items, list):
                return None
            out = []
            for element in items:
                current = project(element)
                if current is not None:
                    out.append(current)
            return out

        return projection

    def _value_projection(self, node: dict[str, Any]) -> Fn:
        base, project = self._children(node)

        def value_projection(value: Any) -> Any:
            try:
                items = base(value).values()
            except AttributeError:
                return None
            out = []
            for element in items:
                current = project(element)
                if current is not None:
                    out.append(current)
            return out

        return value_projection


def _fields(keys: tuple[str, ...]) -> Fn:
    """`a.b.c`: one closure walking the keys (what nested `field` closures do, without a call per key)."""
    dict_get = dict.get

    def fields(value: Any) -> Any:
        for key in keys:
            if type(value) is dict:
                value = dict_get(value, key)
            elif value is None:  # no fields: null, without raising and catching AttributeError
                return None
            elif isinstance(value, dict):  # a lazy context: what it holds already, else what it computes
                found = dict_get(value, key, _MISSING)
                value = value.get(key) if found is _MISSING else found
            else:
                try:
                    value = value.get(key)
                except AttributeError:
                    return None
        return value

    return fields


def _interpreted(node: dict[str, Any], call: FunctionCaller) -> Fn:
    class _Functions:
        def call_function(self, name: str, args: list[Any]) -> Any:
            return call(name, args)

    interpreter = TreeInterpreter(Options(custom_functions=cast(Any, _Functions())))
    return lambda value: interpreter.visit(node, value)  # type: ignore[arg-type]
