"""Templates: `{{ }}` inside YAML values, whole-value expressions keep their type, text joins pieces."""

from __future__ import annotations

from typing import Any

import pytest

from engine.expr import TemplateSyntaxError, stringify, template
from engine.expr.template import split_text

CONTEXT = {"name": "w", "n": 3, "f": 1.0, "obj": {"b": 1, "a": "<"}, "none": None, "yes": True, "list": [1, 2]}


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("{{ n }}", 3),
        ("{{n}}", 3),
        ("{{ obj }}", {"b": 1, "a": "<"}),
        ("{{ list }}", [1, 2]),
        ("{{ none }}", None),
        ("{{ missing }}", None),
        ("job-{{ name }}", "job-w"),
        ("{{ name }}-{{ n }}", "w-3"),
        ("n={{ n }} f={{ f }} yes={{ yes }} none=[{{ none }}]", "n=3 f=1 yes=true none=[]"),
        ("obj={{ obj }}", 'obj={"a":"\\u003c","b":1}'),
        ("{{ {k: name} }}", {"k": "w"}),
        ('{{ `{"x": "}}"}` }}', {"x": "}}"}),
        ("{{ '}}' }}", "}}"),
        ('{{ "name" }}', "w"),
        ("no braces", "no braces"),
        ("a } b }} c {", "a } b }} c {"),
        (5, 5),
        (None, None),
        (True, True),
    ],
)
def test_render(source: Any, value: Any) -> None:
    """A lone `{{ expr }}` keeps the value's type; text joins strings as is, null as "", others as canonical JSON."""
    assert template(source).render(CONTEXT) == value


def test_render_nested_values_and_keys() -> None:
    """Mappings and lists are rendered recursively, keys included."""
    source = {"{{ name }}-key": ["{{ n }}", {"x": "{{ obj.a }}"}], "plain": 1}
    assert template(source).render(CONTEXT) == {"w-key": [3, {"x": "<"}], "plain": 1}


@pytest.mark.parametrize("generated", [True, False])
def test_a_key_reads_as_text(generated: bool) -> None:
    """A key is text: a lone `{{ expr }}` as key gives its value as it reads inside text (true, "" for null, a number
    as Go writes it, canonical JSON), not Python's str(); in the generated render and in the closures alike."""
    from engine.expr import compile_expression
    from engine.expr.template import _compile

    source = {"{{ yes }}": 1, "{{ none }}": 2, "{{ f }}": 3, "{{ obj }}": 4, "{{ n }}": 5, "k-{{ yes }}": 6}
    render = template(source).render if generated else _compile(source, compile_expression, [])[0]
    assert render(CONTEXT) == {"true": 1, "": 2, "1": 3, '{"a":"\\u003c","b":1}': 4, "3": 5, "k-true": 6}


def test_constant_templates_are_flagged_and_copied() -> None:
    """A template without expressions is constant; each render returns a fresh top-level container."""
    compiled = template({"a": [1], "b": "text"})
    assert compiled.constant
    assert compiled.expressions == ()
    first = compiled.render(None)
    first["c"] = 1
    assert compiled.render(None) == {"a": [1], "b": "text"}
    assert not template("{{ n }}").constant


def test_expressions_are_collected() -> None:
    """A template lists its compiled expressions, in order (for name checks and dependency analysis)."""
    compiled = template({"a": "{{ x.y }}", "b": ["{{ z }} and {{ w }}"]})
    assert [expression.source for expression in compiled.expressions] == ["x.y", "z", "w"]


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("a {{ b }} c", ["a ", ("b", 6), " c"]),
        ("{{b}}", [("b", 3)]),
        ("{{   b   }}x", [("b", 6), "x"]),
        ("x{{ a }}{{ b }}", ["x", ("a", 5), ("b", 12)]),
    ],
)
def test_split_text_gives_expression_columns(text: str, pieces: list[Any]) -> None:
    """Expression pieces carry the 1-based column of their first character in the text (after `{{` and spaces)."""
    assert split_text(text) == pieces
    for piece in pieces:
        if isinstance(piece, tuple):
            assert text[piece[1] - 1 :].startswith(piece[0])


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("a {{ b", "'{{' is not closed by '}}'", 3),
        ("{{ }}", "empty '{{ }}'", 1),
        ("ok {{ a }} then {{   }}", "empty '{{ }}'", 17),
        ("{{ 'unclosed }}", "'{{' is not closed by '}}'", 1),
    ],
)
def test_syntax_errors(text: str, message: str, column: int) -> None:
    """An unclosed or empty `{{ }}` raises TemplateSyntaxError with the column of its `{{`."""
    with pytest.raises(TemplateSyntaxError) as caught:
        template(text)
    assert (caught.value.message, caught.value.column) == (message, column)
    assert str(caught.value) == f"{message} at column {column} in {text!r}"


@pytest.mark.parametrize(
    ("value", "text"),
    [("s", "s"), (None, ""), (True, "true"), (False, "false"), (2, "2"), (2.0, "2"), (1e-7, "1e-7"), ([1], "[1]")],
)
def test_stringify(value: Any, text: str) -> None:
    """How values read inside text: Go's forms for numbers, JSON for booleans and containers, "" for null."""
    assert stringify(value) == text


def test_repr() -> None:
    """A compiled template shows its source."""
    assert repr(template("{{ a }}")) == "Template('{{ a }}')"


class _Recorder:
    """An expression that records its calls (to compare the order in which renders evaluate expressions)."""

    def __init__(self, source: str, calls: list[str]) -> None:
        self.source = source
        self.calls = calls

    def evaluate(self, data: Any) -> Any:
        self.calls.append(self.source)
        return data.get(self.source, self.source)


TEMPLATES: list[Any] = [
    {"a": "{{ n }}", "b": {"c": ["x", "{{ name }}-{{ n }}", {"d": 1}], "e": {"f": [1, 2]}}, "{{ name }}": "k"},
    ["{{ obj }}", ["const", {"k": None}], "{{ none }} and {{ f }}", 2.5, None, True],
    {"{{ n }}": "{{ list }}", "{{ yes }}": "x{{ obj }}", "same": "{{ name }}", "{{ 'same' }}": "later wins"},
    [{"deep": [[[{"x": "{{ n }}"}]]]}],
]


@pytest.mark.parametrize("source", TEMPLATES)
def test_generated_renders_agree_with_the_closures(source: Any) -> None:
    """Mappings and lists render through one generated function: the same value as the closures, the expressions
    called in the same order (a value before its key), constant containers copied afresh on each render."""
    from engine.expr import compile_expression
    from engine.expr.template import _compile, _generated

    compiled = template(source)
    closures, _ = _compile(source, compile_expression, [])
    assert compiled.render(CONTEXT) == closures(CONTEXT)
    assert compiled.render.__name__ == "render"  # the generated function, not a closure
    calls: list[str] = []
    generated = _generated(source, [_Recorder(e.source, calls) for e in compiled.expressions])
    assert generated is not None
    expected: list[str] = []
    closures_recorded, _ = _compile(source, lambda text: _Recorder(text, expected), [])
    assert generated(CONTEXT) == closures_recorded(CONTEXT)
    assert calls == expected
    first, second = compiled.render(CONTEXT), compiled.render(CONTEXT)
    assert first == second
    assert first is not second


def test_generated_render_copies_constant_parts() -> None:
    """A constant mapping or list inside a template is a new (shallowly copied) container on every render, as the
    closures make it, so a caller that changes one render's result does not change the next."""
    compiled = template({"n": "{{ n }}", "labels": {"a": "b"}, "items": [1, 2]})
    first = compiled.render(CONTEXT)
    first["labels"]["c"] = "d"
    first["items"].append(3)
    assert compiled.render(CONTEXT) == {"n": 3, "labels": {"a": "b"}, "items": [1, 2]}


def test_a_template_too_deep_to_generate_renders_with_closures() -> None:
    """Nesting deeper than Python compiles (a display per level) falls back to the closures, with the same value."""
    source: Any = "{{ n }}"
    for _ in range(400):
        source = [source]
    rendered = template(source).render(CONTEXT)
    for _ in range(400):
        assert isinstance(rendered, list)
        assert len(rendered) == 1
        rendered = rendered[0]
    assert rendered == 3


def test_the_same_template_compiled_again_reuses_its_function() -> None:
    """Compiling an equal template again (a reload of unchanged rules) reuses the generated function; a template
    that differs in any value, even only in a constant's type, gets its own."""
    source = {"a": "{{ n }}", "b": [1, "{{ name }}"]}
    assert template(source).render is template(dict(source)).render
    other = template({"a": "{{ n }}", "b": ["1", "{{ name }}"]})
    assert other.render is not template(source).render
    assert other.render(CONTEXT) == {"a": 3, "b": ["1", "w"]}
