"""JMESPath compiled to Python source: one function per expression, for the hot path of every evaluation.

Where this sits: engine.expr compiles each expression once, when a rule set loads. The closures of
engine.expr.jmes cost one Python call per AST node; on the operator's rules an evaluation runs a few hundred
expressions, so that per-node call is most of its time. This module writes the common nodes (fields and chains
of fields, literals, comparisons, `&&`, `||`, `!`, function calls, pipes, indexes, multi-selects) as straight
Python statements of one function, compiled with `compile()`; the other nodes (projections, filters, flatten,
slices, expression references) call the closure the closure compiler makes for them. The semantics are those of
engine.expr.jmes (and so of jmespath's TreeInterpreter, but for the deviations that module names): the tests
compare all three on the same inputs.

The generated source holds no text of the rule file: field names are written with repr(), literal values are
passed in as constants, so nothing in an expression can inject code.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from jmespath.exceptions import JMESPathError

from engine.errors import ExpressionError
from engine.expr.jmes import (
    _MISSING,
    Fn,
    FunctionCaller,
    FunctionResolver,
    _comparable,
    _Compiler,
    _equals,
    is_choice,
)

_ORDER = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_ORDERING = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _get(value: Any, key: str) -> Any:
    """A field of anything but a plain dict (for which generated code calls dict.get itself)."""
    if isinstance(value, dict):  # a lazy context: what it holds already, else what it computes
        found = dict.get(value, key, _MISSING)
        return value.get(key) if found is _MISSING else found
    getter = getattr(value, "get", None)  # no exception to raise and catch for the common null, text, number
    if getter is None:
        return None
    try:
        return getter(key)
    except AttributeError:
        return None


def _order(op: str, left: Any, right: Any) -> Any:
    """`<`, `<=`, `>`, `>=` on two numbers or two strings; null for anything else (as the closures do)."""
    if not (_comparable(left) and _comparable(right)):
        return None
    try:
        return _ORDERING[op](left, right)
    except TypeError:  # a number against a string
        return None


def _equality(children: list[dict[str, Any]], left: str, right: str) -> str:
    """`left == right` as JMESPath has it (engine.expr.jmes._equals: a number is never equal to a boolean), as one
    Python expression. Against a literal text, `true`, `false` or `null` (most comparisons in rules) it is Python's
    own test; two values of one type, or text on either side, compare with `==`; anything else calls `_equals`."""
    for side, other in ((children[1], left), (children[0], right)):
        if side["type"] == "literal":
            constant = side["value"]
            if constant is None or isinstance(constant, bool):
                return f"({other} is {constant!r})"  # 1 == true is false in JMESPath: only true itself is true
            if isinstance(constant, str):
                return f"({other} == {constant!r})"
    return (
        f"({left} == {right}) if (type({left}) is type({right}) or type({left}) is _str or type({right}) is _str) "
        f"else _equals({left}, {right})"
    )


Inline = Callable[[str], "tuple[Callable[..., Any], tuple[frozenset[str] | None, ...]] | None"]
"""For a function name: the function generated code may call with the arguments, and the type names each argument
must have for that call (None: any); or None (engine.expr.functions.inline_call)."""


class _Writer:
    """Writes the statements of one function; each node's value ends up in a fresh local variable."""

    def __init__(self, call: FunctionCaller, resolve: FunctionResolver | None, inline: Inline | None) -> None:
        self.closures = _Compiler(call, resolve)
        self.call = call
        self.resolve = resolve
        self.inline = inline
        self.lines: list[str] = []
        self.names: dict[str, Any] = {
            "_EMPTY_LIST": [],  # compared with, never changed: no new empty container per comparison
            "_EMPTY_DICT": {},
            "_SIZED": frozenset({str, list, dict}),
            "_get": _get,
            "_LOOKUP": (KeyError, TypeError),
            "_dget": dict.get,
            "_M": _MISSING,
            "_equals": _equals,
            "_order": _order,
            "_dict": dict,
            "_list": list,
            "_str": str,
            "_int": int,
            "_float": float,
        }
        self.count = 0
        # (variable, field) -> (the variable holding that field's value, the depth it was read at): a field read
        # again where the first read is in scope (same or enclosing block, earlier) is that variable. Reading the
        # same field of the same value twice gives the same value (lazy names are computed once; nothing mutates).
        self.read: dict[tuple[str, str], tuple[str, int]] = {}
        self.deepest = 0

    def const(self, value: Any) -> str:
        name = f"_k{len(self.names)}"
        self.names[name] = value
        return name

    def temp(self) -> str:
        self.count += 1
        return f"t{self.count}"

    def emit(self, indent: int, line: str) -> None:
        if self.deepest > indent:  # the blocks below this line's depth are closed: what they read is not in scope
            self.read = {place: found for place, found in self.read.items() if found[1] <= indent}
            self.deepest = indent
        self.lines.append("    " * indent + line)

    def falsy(self, var: str) -> str:
        """JMESPath falsiness of a variable, as one Python expression (the interpreter's own comparisons)."""
        # Empty text, lists and objects by their length (one test); other types by the interpreter's comparisons.
        return (
            f"({var} is None or {var} is False or ({var} is not True and (not {var} if type({var}) in _SIZED "
            f"else ({var} == '' or {var} == _EMPTY_LIST or {var} == _EMPTY_DICT))))"
        )

    def write(self, node: dict[str, Any], value: str, indent: int) -> str:
        """Emit the statements computing `node` on the variable `value`; return the variable holding the result."""
        kind = node["type"]
        method = getattr(self, "_" + kind, None)
        if method is None:
            fn = self.closures.compile(node)
            out = self.temp()
            self.emit(indent, f"{out} = {self.const(fn)}({value})")
            return out
        result: str = method(node, value, indent)
        return result

    def _field(self, node: dict[str, Any], value: str, indent: int) -> str:
        key = repr(node["value"])
        found = self.read.get((value, key))
        if found is not None and found[1] <= indent:
            return found[0]
        out = self.temp()
        # The expression's own input is nearly always a lazy context (a rule's names, all but a few held or computed
        # once by its __missing__): `v[key]` is one dict lookup in C. A key it lacks, or an input that is no object
        # (a list, null, text), raises, and _get gives null; so would a KeyError or TypeError out of computing a
        # name, which _get then computes again and raises (a bug's path, not a rule's). Inside the expression,
        # plain dicts (cached objects) and lazy contexts without a call; a missing value (null) has no fields: null,
        # without the exception _get would meet; anything else in _get.
        if value == "v":
            self.emit(indent, "try:")
            self.emit(indent + 1, f"{out} = {value}[{key}]")
            self.emit(indent, "except _LOOKUP:")
            self.emit(indent + 1, f"{out} = _get({value}, {key})")
        else:
            self.emit(indent, f"if type({value}) is _dict:")
            self.emit(indent + 1, f"{out} = {value}.get({key})")
            self.emit(indent, f"elif {value} is None:")
            self.emit(indent + 1, f"{out} = None")
            self.emit(indent, f"elif isinstance({value}, _dict):")
            self.emit(indent + 1, f"{out} = _dget({value}, {key}, _M)")
            self.emit(indent + 1, f"if {out} is _M:")
            self.emit(indent + 2, f"{out} = {value}.get({key})")
            self.emit(indent, "else:")
            self.emit(indent + 1, f"{out} = _get({value}, {key})")
        self.read[(value, key)] = (out, indent)
        self.deepest = max(self.deepest, indent)
        return out

    def _subexpression(self, node: dict[str, Any], value: str, indent: int) -> str:
        for child in node["children"]:
            value = self.write(child, value, indent)
        return value

    _index_expression = _subexpression
    _pipe = _subexpression

    def _current(self, _node: dict[str, Any], value: str, _indent: int) -> str:
        return value

    _identity = _current

    def _literal(self, node: dict[str, Any], _value: str, indent: int) -> str:
        constant = node["value"]
        out = self.temp()  # a variable, never a literal in the source: `1[0]` would be a SyntaxWarning
        if constant is None or isinstance(constant, bool | int | str):
            self.emit(indent, f"{out} = {constant!r}")
        else:
            self.emit(indent, f"{out} = {self.const(constant)}")  # shared, as the interpreter's literal node is
        return out

    def _index(self, node: dict[str, Any], value: str, indent: int) -> str:
        out = self.temp()
        position = int(node["value"])
        self.emit(
            indent,
            f"{out} = ({value}[{position}] if -len({value}) <= {position} < len({value}) else None) "
            f"if isinstance({value}, _list) else None",
        )
        return out

    def _comparator(self, node: dict[str, Any], value: str, indent: int) -> str:
        left = self.write(node["children"][0], value, indent)
        right = self.write(node["children"][1], value, indent)
        out = self.temp()
        op = node["value"]
        if op in ("eq", "ne"):
            test = _equality(node["children"], left, right)
            self.emit(indent, f"{out} = {test}" if op == "eq" else f"{out} = not ({test})")
            return out
        symbol = _ORDER[op]
        self.emit(
            indent,
            f"{out} = ({left} {symbol} {right}) if (type({left}) is type({right}) and "
            f"(type({left}) is _str or type({left}) is _int or type({left}) is _float)) "
            f"else _order({symbol!r}, {left}, {right})",
        )
        return out

    def _or_expression(self, node: dict[str, Any], value: str, indent: int) -> str:
        return self._short_circuit(node, value, indent, "")

    def _and_expression(self, node: dict[str, Any], value: str, indent: int) -> str:
        return self._short_circuit(node, value, indent, "not ")

    def _short_circuit(self, node: dict[str, Any], value: str, indent: int, negation: str) -> str:
        """`a || b` (the right side only when the left is falsy) and `a && b` (only when it is truthy)."""
        out = self.temp()
        left = self.write(node["children"][0], value, indent)
        self.emit(indent, f"{out} = {left}")
        self.emit(indent, f"if {negation}{self.falsy(out)}:")
        right = self.write(node["children"][1], value, indent + 1)
        self.emit(indent + 1, f"{out} = {right}")
        return out

    def _not_expression(self, node: dict[str, Any], value: str, indent: int) -> str:
        # The closures return False for a number equal to 0, and is_false(0) is False too: `!` is falsiness.
        inner = self.write(node["children"][0], value, indent)
        out = self.temp()
        self.emit(indent, f"{out} = {self.falsy(inner)}")
        return out

    def _function_expression(self, node: dict[str, Any], value: str, indent: int) -> str:
        if is_choice(node):
            return self._choice(node, value, indent)
        args = [self.write(child, value, indent) for child in node["children"]]
        out = self.temp()
        name = node["value"]
        listed = f"[{', '.join(args)}]"
        if self.resolve is None:
            self.emit(indent, f"{out} = {self.const(self.call)}({name!r}, {listed})")
            return out
        caller = self.const(self.resolve(name))
        direct = self.inline(name) if self.inline is not None else None
        if direct is None or len(direct[1]) != len(args):
            self.emit(indent, f"{out} = {caller}({listed})")
            return out
        # The function itself, without an argument list or a caller in between, when the arguments' types are
        # those it takes; otherwise the caller, which lets jmespath raise its error.
        function, checks = direct
        call = f"{self.const(function)}({', '.join(args)})"
        tests = [f"type({arg}).__name__ in {self.const(c)}" for arg, c in zip(args, checks, strict=True) if c]
        if not tests:
            self.emit(indent, f"{out} = {call}")
            return out
        self.emit(indent, f"if {' and '.join(tests)}:")
        self.emit(indent + 1, f"{out} = {call}")
        self.emit(indent, "else:")
        self.emit(indent + 1, f"{out} = {caller}({listed})")
        return out

    def _choice(self, node: dict[str, Any], value: str, indent: int) -> str:
        """`if(test, then, else)`: the test, then the one branch it chooses (as the closures do)."""
        test, then, otherwise = node["children"]
        tested = self.write(test, value, indent)
        out = self.temp()
        self.emit(indent, f"if {self.falsy(tested)}:")
        self.emit(indent + 1, f"{out} = {self.write(otherwise, value, indent + 1)}")
        self.emit(indent, "else:")
        self.emit(indent + 1, f"{out} = {self.write(then, value, indent + 1)}")
        return out

    def _multi_select_list(self, node: dict[str, Any], value: str, indent: int) -> str:
        out = self.temp()
        self.emit(indent, f"{out} = None")
        self.emit(indent, f"if {value} is not None:")
        items = [self.write(child, value, indent + 1) for child in node["children"]]
        self.emit(indent + 1, f"{out} = [{', '.join(items)}]")
        return out

    def _multi_select_dict(self, node: dict[str, Any], value: str, indent: int) -> str:
        out = self.temp()
        self.emit(indent, f"{out} = None")
        self.emit(indent, f"if {value} is not None:")
        pairs = []
        for child in node["children"]:
            item = self.write(child["children"][0], value, indent + 1)
            pairs.append(f"{child['value']!r}: {item}")
        self.emit(indent + 1, f"{out} = {{{', '.join(pairs)}}}")
        return out


CAUGHT = (JMESPathError, TypeError, ValueError, KeyError, AttributeError, IndexError)
"""What evaluating an expression may raise on unexpected data; it becomes an ExpressionError naming the expression."""


def generate(
    ast: dict[str, Any],
    call: FunctionCaller,
    resolve: FunctionResolver | None = None,
    *,
    name: str | None = None,
    inline: Inline | None = None,
) -> Fn:
    """Compile an AST into one Python function `value -> result` (see the module's docstring). With `name` (the
    expression's text), a failure raises ExpressionError(`'text': cause`), as Expression.evaluate promises, without
    a wrapper call around each evaluation; an ExpressionError raised inside (by a lazy name) passes through. With
    `resolve` and `inline`, functions of fixed arity are called directly (see Inline)."""
    writer = _Writer(call, resolve, inline)
    result = writer.write(ast, "v", 2 if name is not None else 1)
    body = "\n".join(writer.lines) + ("\n" if writer.lines else "")
    if name is None:
        source = f"def expression(v):\n{body}    return {result}\n"
    else:
        source = (
            f"def expression(v):\n    try:\n{body}        return {result}\n"
            "    except _ExpressionError:\n        raise\n"
            "    except _CAUGHT as error:\n        raise _ExpressionError(_NAME + str(error)) from None\n"
        )
    namespace = {**writer.names, "_ExpressionError": ExpressionError, "_CAUGHT": CAUGHT, "_NAME": f"{name!r}: "}
    try:
        # Named by the expression's text: tracebacks and profiles then tell the expressions apart.
        code = compile(source, f"<jmespath {name!r}>" if name is not None else "<jmespath>", "exec")
    except (SyntaxError, RecursionError, MemoryError):  # an expression too deep for Python's compiler
        return _guarded(writer.closures.compile(ast), name)
    exec(code, namespace)  # the source is built above from the AST alone
    fn: Fn = namespace["expression"]
    return fn


def _guarded(fn: Fn, name: str | None) -> Fn:
    if name is None:
        return fn
    prefix = f"{name!r}: "

    def guarded(value: Any) -> Any:
        try:
            return fn(value)
        except ExpressionError:
            raise
        except CAUGHT as error:
            raise ExpressionError(prefix + str(error)) from None

    return guarded
