"""Templates: YAML values with `{{ expression }}` inside strings, rendered against a context.

A rule writes literal data the way it will appear (`reason: JobStarted`, a whole object literal) and
marks computed parts with `{{ }}`. A string that is exactly one `{{ expr }}` yields the expression's
value as is (an object, a list, a number); otherwise the pieces are joined as text (strings as they
are, null as "", other values as canonical JSON). Keys of mappings may be templates too.

This module compiles and renders; the expressions themselves are compiled by the function it is given.
Rendered values may share structure with the context (e.g. a cached object): callers that mutate a
result copy it first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from engine.expr.canonical import go_float, go_json


class Evaluable(Protocol):
    """What a template needs of a compiled expression."""

    source: str

    def evaluate(self, data: Any) -> Any: ...


class TemplateSyntaxError(Exception):
    """A `{{` without its `}}`, or an empty `{{ }}`."""

    def __init__(self, text: str, message: str, column: int) -> None:
        self.text = text
        self.message = message
        self.column = column
        super().__init__(f"{message} at column {column} in {text!r}")


Render = Callable[[Any], Any]


class Template:
    """A compiled template; `render(context)` returns the value."""

    __slots__ = ("constant", "expressions", "render", "source")

    def __init__(self, source: Any, render: Render, constant: bool, expressions: tuple[Evaluable, ...]) -> None:
        self.source = source
        self.render = render
        self.constant = constant
        self.expressions = expressions

    def __repr__(self) -> str:
        return f"Template({self.source!r})"


def compile_template(value: Any, compile_expression: Callable[[str], Evaluable]) -> Template:
    """Compile a YAML value into a Template. `compile_expression` raises on a bad expression."""
    found: list[Evaluable] = []
    render, constant = _compile(value, compile_expression, found)
    if not constant and (isinstance(value, dict | list) or (isinstance(value, str) and len(split_text(value)) > 1)):
        render = _generated(value, found) or render
    return Template(value, render, constant, tuple(found))


def split_text(text: str) -> list[str | tuple[str, int]]:
    """Split a string into literal pieces and (expression source, column) pieces."""
    pieces: list[str | tuple[str, int]] = []
    position = 0
    while True:
        start = text.find("{{", position)
        if start < 0:
            if position < len(text):
                pieces.append(text[position:])
            return pieces
        if start > position:
            pieces.append(text[position:start])
        end = _closing(text, start + 2)
        if end < 0:
            raise TemplateSyntaxError(text, "'{{' is not closed by '}}'", start + 1)
        raw = text[start + 2 : end]
        source = raw.strip()
        if not source:
            raise TemplateSyntaxError(text, "empty '{{ }}'", start + 1)
        # The 1-based column of the expression's first character (after `{{` and any white space).
        pieces.append((source, start + 3 + len(raw) - len(raw.lstrip())))
        position = end + 2


def stringify(value: Any) -> str:
    """How a value reads inside text: strings as is, null as "", numbers and booleans as JSON, else JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, int):
        return str(value)
    return go_json(value)


def _closing(text: str, position: int) -> int:
    """Index of the `}}` closing an expression that starts at `position` (quotes and nesting respected)."""
    depth = 0
    quote = ""
    index = position
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\":
                index += 2
                continue
            if char == quote:
                quote = ""
        elif char in "'\"`":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            if depth == 0 and text.startswith("}}", index):
                return index
            depth -= 1
        index += 1
    return -1


def _compile(value: Any, compile_expression: Callable[[str], Evaluable], found: list[Evaluable]) -> tuple[Render, bool]:
    if isinstance(value, str):
        return _compile_text(value, compile_expression, found)
    if isinstance(value, dict):
        keys: list[tuple[str, Render | None]] = []
        values: list[tuple[Any, Render | None]] = []
        all_constant = True
        for key, item in value.items():
            key_render, key_constant = _compile(str(key), compile_expression, found)
            item_render, item_constant = _compile(item, compile_expression, found)
            all_constant = all_constant and key_constant and item_constant
            # Constant parts are kept as values (no call when rendering); constant lists and mappings are
            # still rendered, as each render returns fresh ones.
            constant_item = item_constant and not isinstance(item, dict | list)
            keys.append((str(key), None if key_constant else key_render))
            values.append((item, None if constant_item else item_render))
        if all_constant:
            return (lambda _context: dict(value)), True
        pairs = list(zip(keys, values, strict=True))

        def render_mapping(context: Any) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for (key, key_render), (item, item_render) in pairs:
                out[key if key_render is None else stringify(key_render(context))] = (
                    item if item_render is None else item_render(context)
                )
            return out

        return render_mapping, False
    if isinstance(value, list):
        items = [_compile(item, compile_expression, found) for item in value]
        renders = [render for render, _ in items]
        if all(constant for _, constant in items):
            return (lambda _context: list(value)), True
        return (lambda context: [render(context) for render in renders]), False
    return (lambda _context: value), True


def _compile_text(
    text: str, compile_expression: Callable[[str], Evaluable], found: list[Evaluable]
) -> tuple[Render, bool]:
    pieces = split_text(text)
    if not any(isinstance(piece, tuple) for piece in pieces):
        return (lambda _context: text), True
    compiled: list[str | Evaluable] = []
    for piece in pieces:
        if isinstance(piece, tuple):
            expression = compile_expression(piece[0])
            found.append(expression)
            compiled.append(expression)
        else:
            compiled.append(piece)
    if len(compiled) == 1 and not isinstance(compiled[0], str):
        whole = compiled[0]
        return whole.evaluate, False

    def render(context: Any) -> str:
        return "".join(part if isinstance(part, str) else stringify(part.evaluate(context)) for part in compiled)

    return render, False


# --- mappings, lists and texts of several pieces as one generated function ---------------------------------


class _Source:
    """The Python expression that renders a template value, as `_compile`'s closures do, in one function: a mapping
    is a dict display, a list a list display, text a concatenation. Expressions are called in the closures' order
    (a value before its key, left to right); constant parts are passed in as constants, never written as code."""

    def __init__(self, functions: tuple[Render, ...]) -> None:
        self.functions = iter(functions)
        self.names: dict[str, Any] = {"_dict": dict, "_list": list, "_keyed": _keyed, "_stringify": stringify}

    def const(self, value: Any) -> str:
        name = f"_k{len(self.names)}"
        self.names[name] = value
        return name

    def value(self, value: Any) -> tuple[str, bool]:
        """(Python expression, whether the value is constant)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            parts = [(self.text(str(key)), self.value(item)) for key, item in value.items()]
            if all(key_constant and item_constant for (_, key_constant), (_, item_constant) in parts):
                return f"_dict({self.const(value)})", True
            if all(key_constant for (_, key_constant), _ in parts):
                return "{" + ", ".join(f"{key}: {item}" for (key, _), (item, _) in parts) + "}", False
            # A computed key: each value, then its key, as the closures evaluate them (a display would take the
            # key first), so lazy names are computed (and traced) in the same order.
            return "_keyed([" + ", ".join(f"({item}, {key})" for (key, _), (item, _) in parts) + "])", False
        if isinstance(value, list):
            items = [self.value(item) for item in value]
            if all(constant for _, constant in items):
                return f"_list({self.const(value)})", True
            return "[" + ", ".join(code for code, _ in items) + "]", False
        return self.const(value), True

    def text(self, text: str) -> tuple[str, bool]:
        pieces = split_text(text)
        if not any(isinstance(piece, tuple) for piece in pieces):
            return self.const(text), True
        codes = []
        for piece in pieces:
            if isinstance(piece, tuple):
                call = f"{self.const(next(self.functions))}(c)"
                codes.append(call if len(pieces) == 1 else f"_stringify({call})")
            else:
                codes.append(self.const(piece))
        return (codes[0] if len(codes) == 1 else "(" + " + ".join(codes) + ")"), False


def _keyed(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    """A mapping from (value, key) pairs; a key is text, rendered as a value reads inside text (stringify)."""
    return {stringify(key): value for value, key in pairs}


_GENERATED: dict[tuple[str, tuple[int, ...]], tuple[Render | None, tuple[Render, ...]]] = {}
_GENERATED_MAX = 4096
"""Render functions generated so far, by the template's value (its repr) and its expressions' functions (kept in
the entry, so their ids stay theirs): a reload of unchanged rules, whose expressions are compiled already, generates
nothing again."""


def _generated(value: Any, expressions: list[Evaluable]) -> Render | None:
    """The render function of a mapping, list or text template, generated (None when Python cannot compile it: a value
    nested too deeply; the closures render it then)."""
    functions = tuple(expression.evaluate for expression in expressions)
    key = (repr(value), tuple(map(id, functions)))
    cached = _GENERATED.get(key)
    if cached is not None:
        return cached[0]
    source = _Source(functions)
    render: Render | None = None
    try:
        code, _ = source.value(value)
        compiled = compile(f"def render(c):\n    return {code}\n", "<template>", "exec")
    except (SyntaxError, RecursionError, MemoryError):
        pass
    else:
        exec(compiled, source.names)  # the source holds names of constants only, no text of the rule file
        render = source.names["render"]
    if len(_GENERATED) >= _GENERATED_MAX:
        _GENERATED.clear()
    _GENERATED[key] = (render, functions)
    return render
