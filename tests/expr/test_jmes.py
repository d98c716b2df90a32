"""The closure compiler agrees with jmespath's own TreeInterpreter, expression by expression and on generated ones."""

from __future__ import annotations

from typing import Any

import jmespath
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jmespath import exceptions as jmespath_exceptions
from jmespath.visitor import Options, TreeInterpreter

from engine.expr import codegen, jmes
from engine.expr.functions import FUNCTIONS, fast_caller, inline_call


class _Reference(TreeInterpreter):
    """jmespath's interpreter with our functions, and the two documented deviations of the compiler: ordering a
    number against a string is null (jmespath.py raises Python's TypeError there), and `if()` evaluates only the
    branch it returns (jmespath.py evaluates every argument of a function)."""

    def visit_function_expression(self, node: dict[str, Any], value: Any) -> Any:
        if node["value"] == "if" and len(node["children"]) == 3:
            test, then, otherwise = node["children"]
            return self.visit(otherwise if jmes.is_false(self.visit(test, value)) else then, value)
        return super().visit_function_expression(node, value)

    def visit_comparator(self, node: dict[str, Any], value: Any) -> Any:
        if node["value"] in ("lt", "lte", "gt", "gte"):
            left = self.visit(node["children"][0], value)
            right = self.visit(node["children"][1], value)
            numbers = [isinstance(x, int | float) and not isinstance(x, bool) for x in (left, right)]
            strings = [isinstance(x, str) for x in (left, right)]
            if (numbers[0] and strings[1]) or (strings[0] and numbers[1]):
                return None
        return super().visit_comparator(node, value)


REFERENCE = _Reference(Options(custom_functions=FUNCTIONS))


def _outcome(run: Any) -> tuple[str, Any]:
    try:
        return "value", run()
    except (jmespath_exceptions.JMESPathError, TypeError, ValueError) as error:
        return type(error).__name__, str(error)


def _agree(source: str, data: Any) -> None:
    """Every compiled form (closures or generated source; functions called through jmespath, through the fast
    callers resolved at compile time, or directly from generated code) gives the interpreter's outcome."""
    ast = jmes.parse(source)
    expected = _outcome(lambda: REFERENCE.visit(ast, data))
    for compiled in (
        jmes.compile_ast(ast, FUNCTIONS.call_function),
        jmes.compile_ast(ast, FUNCTIONS.call_function, fast_caller),
        codegen.generate(ast, FUNCTIONS.call_function),
        codegen.generate(ast, FUNCTIONS.call_function, fast_caller),
        codegen.generate(ast, FUNCTIONS.call_function, fast_caller, inline=inline_call),
    ):
        actual = _outcome(lambda compiled=compiled: compiled(data))
        assert actual == expected, f"{source!r} on {data!r}"
        if expected[0] == "value":
            assert type(actual[1]) is type(expected[1]), f"{source!r}: {actual[1]!r} vs {expected[1]!r}"


DATA: Any = {
    "a": {"b": {"c": [1, 2, 3]}, "n": 0, "s": "text", "e": "", "l": [], "o": {}},
    "people": [
        {"name": "ann", "age": 31, "tags": ["x", "y"], "boss": True},
        {"name": "bob", "age": 25, "tags": [], "boss": False},
        {"name": "cid", "age": None, "tags": ["y"]},
        {"name": "dee", "age": 40.5},
    ],
    "matrix": [[1, 2], [3, [4, 5]], 6, []],
    "words": ["pear", "apple", "Fig", "banana", ""],
    "mixed": [1, "1", None, True, 0, [], {}, 2.5],
    "map": {"x": {"v": 1}, "y": {"v": 2}, "z": {"w": 3}},
    "t": True,
    "f": False,
    "zero": 0,
    "one": 1,
    "text": "abc",
}

EXPRESSIONS = [
    # fields, subexpressions, indexes, slices
    "a.b.c",
    "a.b.c[0]",
    "a.b.c[-1]",
    "a.b.c[5]",
    "a.b.c[1:]",
    "a.b.c[::-1]",
    "a.b.c[:2]",
    "a.b.c[0:3:2]",
    "a.b.c[-2:]",
    "text[0]",
    "text[0:1]",
    "missing.field.deeper",
    '"a".b',
    "a.s.length",
    # projections and flatten
    "people[*].name",
    "people[*].tags[0]",
    "people[].tags[]",
    "matrix[]",
    "matrix[][]",
    "people[1:].name",
    "people[*].missing",
    "map.*.v",
    "map.*",
    "text[*]",
    "people[*].[name, age]",
    "people[*].{n: name, a: age}",
    "people[*].tags[*]",
    # filters
    "people[?age > `30`].name",
    "people[?age >= `31`]",
    "people[?boss].name",
    "people[?!boss].name",
    "people[?tags].name",
    "people[?contains(tags, 'y')].name",
    "people[?age == null].name",
    "people[?name == 'bob'] | [0].age",
    "people[?age < `30` || age > `35`].name",
    "people[?age && age < `35`].name",
    "words[?@ > 'b']",
    "words[?@ < 'apple']",
    "words[?length(@) > `3`]",
    "mixed[?@]",
    "mixed[?!@]",
    # pipes, multiselect
    "people | [0]",
    "people[*].name | [1]",
    "[a.n, a.s, missing]",
    "{first: people[0].name, count: length(people)}",
    "missing.[a, b]",
    "missing.{a: a}",
    # comparators and truthiness
    "zero == `0`",
    "zero == f",
    "one == t",
    "`0` == `false`",
    "`1` == `true`",
    "`1.0` == `1`",
    # against a literal true, false, null or text (generated as Python's own test)
    "one == `true`",
    "`true` != one",
    "zero == `false`",
    "mixed[?@ == `true`]",
    "mixed[?@ != `false`]",
    "mixed[?@ == `null`]",
    "mixed[?@ == '1']",
    "missing == `null`",
    "t == `true`",
    "f != `false`",
    "text == 'abc'",
    "text < 'abd'",
    "text > `1`",
    "`2` < `10`",
    "'2' < '10'",
    "a.b != a.b",
    "a.l == `[]`",
    "a.o == `{}`",
    "!zero",
    "!a.e",
    "!a.l",
    "!a.o",
    "!`0.0`",
    "!missing",
    "!text",
    "zero || 'fallback'",
    "a.e || 'fallback'",
    "a.l || a.o || 'last'",
    "t && 'yes'",
    "f && 'yes'",
    "a.l && 'yes'",
    "!(!t)",
    # functions, exprefs
    "length(people)",
    "length(text)",
    "length(map)",
    "sort(words)",
    "sort_by(people[?age], &age)[*].name",
    "sort_by(people, &name)[*].name",
    "sort_by(people, &age)",
    "max_by(people[?age], &age).name",
    "min_by(people[?age], &age).name",
    "map(&name, people)",
    "map(&tags[0], people)",
    "map(&length(@), words)",
    "keys(map)",
    "values(map)[*].v",
    "join(', ', words)",
    "contains(words, 'Fig')",
    "contains(text, 'bc')",
    "starts_with(text, 'ab')",
    "ends_with(text, 'bc')",
    "to_string(a.b)",
    "to_number('12')",
    "to_number('x')",
    "to_array(text)",
    "type(a)",
    "type(`null`)",
    "not_null(missing, a.n, 'x')",
    "reverse(words)",
    "reverse(text)",
    "sum(a.b.c)",
    "avg(a.b.c)",
    "max(words)",
    "min(a.b.c)",
    "abs(`-3`)",
    "floor(`2.5`)",
    "ceil(`2.5`)",
    "merge(map.x, map.z)",
    "length(missing)",
    "sort(mixed)",
    "sum(words)",
    "max_by(people, &name)",
    "sort_by(mixed, &@)",
    # custom functions inside expressions
    "if(zero, 'yes', 'no')",
    "coalesce(missing, zero, 'x')",
    "get(map, 'x').v",
    "items(map.x)",
    "lower(text)",
    "lower(`1`)",
    "md5(a)",
    "if(t)",
    "contains(`null`, 'a')",
    "join(',', mixed)",
    "coalesce(missing, `null`, zero, one)",
    "deep_merge(map, `{}`, text)",
    "condition(`null`, 'Ready')",
    "get(people, zero)",
    # a field read again (generated code reads it once where the first read is in scope)
    "a.b.c[0] == a.b.c[1] || a.b.c",
    "a.n || a.s && a.n",
    "(a.e || a.s) && (a.l || a.s) && a.s",
    "t && a.b || f && a.b.c || a.b",
    "[a.s, a.s, {x: a.s}, a.b && a.b.c]",
    "join('-', [text, text])",
    "join('-', [text, `1`])",
    # if(): only the branch chosen is evaluated (the other would fail here)
    "if(t, 'yes', length(`1`))",
    "if(f, length(`1`), 'no')",
    "if(a.e, length(`1`), a.s)",
    "if(missing, length(`1`), length(a.s))",
    "if(zero, a.b.c[0], a.b.c[1])",
    "people[?if(age, age > `30`, `false`) || if(`true`, `false`, length(`1`))].name",
    "if(t, length(`1`), 'no')",
]


@pytest.mark.parametrize("source", EXPRESSIONS)
def test_compiled_expressions_agree_with_the_interpreter(source: str) -> None:
    """Each expression gives the interpreter's value (of the same type), or fails with the same error and message."""
    _agree(source, DATA)


FIELDS = ["a", "b", "c"]
LEAVES = st.sampled_from(
    ["a", "b", "c", "@", "`1`", "`0`", "`2.5`", "'x'", "''", "`null`", "`true`", "`false`", "`[1, 2]`", '`{"a": 1}`']
)
SLICES = st.sampled_from(["[1:]", "[:2]", "[::-1]", "[0:3:2]", "[-2:]", "[:]"])
FUNCTIONS_1 = [
    "length",
    "sort",
    "keys",
    "values",
    "to_string",
    "type",
    "reverse",
    "sum",
    "max",
    "min",
    "to_array",
    "abs",
]
ORDER = ["==", "!=", "<", "<=", ">", ">="]


def _grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    group = inner.map(lambda e: f"({e})")
    field = st.sampled_from(FIELDS)
    return st.one_of(
        st.tuples(group, field).map(lambda t: f"{t[0]}.{t[1]}"),
        st.tuples(field, field, field).map(".".join),
        st.tuples(group, st.integers(-3, 3)).map(lambda t: f"{t[0]}[{t[1]}]"),
        st.tuples(group, SLICES).map("".join),
        st.tuples(group, field).map(lambda t: f"{t[0]}[*].{t[1]}"),
        group.map(lambda e: f"{e}[]"),
        st.tuples(group, field).map(lambda t: f"{t[0]}.*.{t[1]}"),
        st.tuples(group, inner).map(lambda t: f"{t[0]}[?{t[1]}]"),
        st.tuples(group, inner, field).map(lambda t: f"{t[0]}[?{t[1]}].{t[2]}"),
        st.tuples(group, group).map(lambda t: f"{t[0]} | {t[1]}"),
        st.tuples(group, group).map(lambda t: f"{t[0]} || {t[1]}"),
        st.tuples(group, group).map(lambda t: f"{t[0]} && {t[1]}"),
        group.map(lambda e: f"!{e}"),
        st.tuples(group, st.sampled_from(ORDER), group).map(" ".join),
        st.tuples(inner, inner).map(lambda t: f"[{t[0]}, {t[1]}]"),
        st.tuples(inner, inner).map(lambda t: f"{{k: {t[0]}, l: {t[1]}}}"),
        st.tuples(st.sampled_from(FUNCTIONS_1), inner).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(st.sampled_from(["sort_by", "max_by", "min_by"]), inner, inner).map(
            lambda t: f"{t[0]}({t[1]}, &{t[2]})"
        ),
        st.tuples(inner, inner).map(lambda t: f"map(&{t[0]}, {t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"contains({t[0]}, {t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"not_null({t[0]}, {t[1]})"),
        st.tuples(inner, inner, inner).map(lambda t: f"if({t[0]}, {t[1]}, {t[2]})"),
    )


EXPRESSION = st.recursive(LEAVES, _grow, max_leaves=8)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-2, 3)
    | st.sampled_from([0.5, -1.5, 2.0, 0.0])
    | st.sampled_from(["", "a", "b", "x", "ab", "B"])
)
DOCUMENT = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(FIELDS), children, max_size=3),
    max_leaves=14,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSION, DOCUMENT)
def test_generated_expressions_agree_with_the_interpreter(source: str, data: Any) -> None:
    """On generated expressions (projections, filters, flatten, slices, multiselect, pipes, comparators, not/and/or,
    functions with exprefs) and generated data, the compiled closure and the interpreter give the same outcome."""
    try:
        jmes.parse(source)
    except jmespath_exceptions.JMESPathError:
        assume(False)
    _agree(source, data)


def test_is_false_is_jmespath_falsiness() -> None:
    """Empty string, list and object, null and false are false; 0, "0", [0] and true are true."""
    assert [jmes.is_false(v) for v in ("", [], {}, None, False)] == [True] * 5
    assert [jmes.is_false(v) for v in (0, 0.0, "0", [0], {"a": None}, True, " ")] == [False] * 7


def test_if_evaluates_only_the_branch_it_returns() -> None:
    """`if()` is a choice, not a call with all its arguments evaluated (a documented deviation from jmespath.py)."""
    for compiled in (
        jmes.compile_ast(jmes.parse("if(a, 'yes', length(`1`))"), FUNCTIONS.call_function, fast_caller),
        codegen.generate(jmes.parse("if(a, 'yes', length(`1`))"), FUNCTIONS.call_function, fast_caller),
    ):
        assert compiled({"a": True}) == "yes"
        with pytest.raises(jmespath_exceptions.JMESPathTypeError):
            compiled({"a": False})
    with pytest.raises(jmespath_exceptions.JMESPathTypeError):
        jmespath.search("if(a, 'yes', length(`1`))", {"a": True}, Options(custom_functions=FUNCTIONS))


def test_comparing_a_number_with_a_string_is_null() -> None:
    """Ordering a number against a string gives null where jmespath.py raises TypeError (documented deviation)."""
    compiled = jmes.compile_ast(jmes.parse("a < b"), FUNCTIONS.call_function)
    assert compiled({"a": 1, "b": "x"}) is None
    with pytest.raises(TypeError):
        jmespath.search("a < b", {"a": 1, "b": "x"})


def test_literals_are_shared_constants() -> None:
    """A JSON literal evaluates to the same object each time (as in the interpreter): callers copy before mutating."""
    compiled = jmes.compile_ast(jmes.parse("`[1]`"), FUNCTIONS.call_function)
    assert compiled(None) is compiled({})


def test_every_node_type_is_compiled() -> None:
    """Every AST node type jmespath's parser produces has a compiled visitor (no interpreter fallback is needed)."""
    interpreted = {name[len("visit_") :] for name in dir(TreeInterpreter) if name.startswith("visit_")}
    compiled = {name[1:] for name in dir(jmes._Compiler) if name.startswith("_") and not name.startswith("__")}
    assert interpreted - compiled == set()


@pytest.mark.parametrize(
    "source",
    ['"a\'b\\"c".x', "\"__import__('os')\"", "`true`[0]", '`"text"`[0]', "`1`.a", "`[1, 2]`[-1]", "'x'.y"],
)
def test_generated_source_is_safe_and_silent(source: str) -> None:
    """Field names and literals of any text compile to code that only reads data (no injection) and compiles
    without warnings (literals are never subscripted in the source)."""
    _agree(source, {"a'b\"c": {"x": 1}, "__import__('os')": 2})


class _Counting:
    """A mapping that is not a dict (generated code calls its `get`), counting the reads of each name."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.reads: dict[str, int] = {}

    def get(self, key: str) -> Any:
        self.reads[key] = self.reads.get(key, 0) + 1
        return self.values.get(key)


def test_a_field_read_again_is_read_once() -> None:
    """Generated code reads a field once and reuses it where that read is in scope: before a branch, or earlier in
    the same branch; a read inside one branch is not reused by the code after it, which may run without it."""
    counted = _Counting({"a": {"b": 1}, "t": True, "f": False})
    source = "[a.b, a.b, t && a.b, f || a]"
    fn = codegen.generate(jmes.parse(source), FUNCTIONS.call_function, fast_caller, inline=inline_call)
    assert fn(counted) == [1, 1, 1, {"b": 1}]
    assert counted.reads == {"a": 1, "t": 1, "f": 1}
    branch = _Counting({"t": True, "f": False, "x": 2})
    fn = codegen.generate(jmes.parse("[t && x, f || x, x]"), FUNCTIONS.call_function)
    assert fn(branch) == [2, 2, 2]
    assert branch.reads == {"t": 1, "x": 3, "f": 1}


def test_deep_nesting() -> None:
    """Deeply nested `||` and `&&` (one nested `if` each in the generated source) compile and agree."""
    source = " || ".join(["(a"] * 40) + ")" * 40
    _agree(source, {"a": 0})
    _agree("a" + "".join(f" && (b{i}" for i in range(30)) + ")" * 30, {"a": 1, **{f"b{i}": i + 1 for i in range(30)}})
