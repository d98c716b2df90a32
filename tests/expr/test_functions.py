"""Custom JMESPath functions: each one's documented example holds, and each behaves as its docstring says."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from engine.errors import ExpressionError
from engine.expr import ExpressionSyntaxError, compile_expression, custom_function_docs, use_clock

DOCS = custom_function_docs()
CUSTOM = [
    "canonical_json",
    "coalesce",
    "condition",
    "deep_merge",
    "epoch",
    "from_items",
    "get",
    "hex",
    "if",
    "items",
    "lower",
    "matches",
    "md5",
    "now",
    "owned_by",
    "parse_json",
    "replace",
    "sha256",
    "snake_case",
    "split",
    "to_json",
    "trim",
    "type",
    "upper",
]


def _example(name: str) -> str:
    lines = [line.strip() for line in DOCS[name].splitlines() if line.strip().startswith("Example:")]
    assert len(lines) == 1, f"{name}() must document exactly one `Example:` line"
    return lines[0].removeprefix("Example:").strip()


def evaluate(source: str, data: Any = None) -> Any:
    """The value of `source` with `data` as the current node (an empty object by default, as a rule's root is)."""
    return compile_expression(source).evaluate({} if data is None else data)


def test_the_custom_functions_are_the_documented_ones() -> None:
    """custom_function_docs() lists exactly the custom functions (JMESPath builtins are not repeated)."""
    assert sorted(DOCS) == CUSTOM


@pytest.mark.parametrize("name", CUSTOM)
def test_docstring_shape(name: str) -> None:
    """Each docstring starts with `name(args) -> type: what it does` and holds one `Example:` line."""
    first = DOCS[name].splitlines()[0]
    assert re.match(rf"{re.escape(name)}\([^)]*\) -> [a-z|\[\], ]+: \S", first), first
    _example(name)


@pytest.mark.parametrize("name", CUSTOM)
def test_documented_example_holds(name: str) -> None:
    """The `Example:` of each function's docstring (shown in docs/rules.md) is true when evaluated as in a rule."""
    example = _example(name)
    assert name + "(" in example
    with use_clock(lambda: datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)):
        assert evaluate(example) is True, example


def test_canonical_json_sorts_and_escapes() -> None:
    """canonical_json sorts keys and escapes as Go; to_json keeps the key order."""
    data = {"o": {"z": 1.0, "a": "a&b"}}
    assert evaluate("canonical_json(o)", data) == '{"a":"a\\u0026b","z":1}'
    assert evaluate("to_json(o)", data) == '{"z":1,"a":"a\\u0026b"}'
    assert evaluate("canonical_json(`null`)") == "null"


def test_parse_json_gives_null_for_invalid_text() -> None:
    """parse_json of text that is not JSON is null rather than an error."""
    assert evaluate("parse_json('{')") is None
    assert evaluate("parse_json('[1, \"a\"]')") == [1, "a"]


def test_digests() -> None:
    """md5, sha256 and hex work on the UTF-8 bytes of the string."""
    assert evaluate("md5('é')") == hashlib.md5("é".encode(), usedforsecurity=False).hexdigest()
    assert evaluate("sha256('')") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert evaluate("hex('é')") == "c3a9"


@pytest.mark.parametrize(
    ("text", "snake"),
    [
        ("HTTPServer", "httpserver"),
        ("aB", "a_b"),
        ("already_snake", "already_snake"),
        ("Kind2Name", "kind2name"),
        ("kindName2", "kind_name2"),
    ],
)
def test_snake_case(text: str, snake: str) -> None:
    """snake_case puts `_` only between a lower-case letter and an upper-case one."""
    assert evaluate(f"snake_case('{text}')") == snake


def test_string_helpers() -> None:
    """lower, upper, replace, split and trim are the plain string operations."""
    assert evaluate("[lower('Ab'), upper('Ab'), replace('aaa', 'a', 'b'), split('a,,b', ','), trim(' \t x \n')]") == [
        "ab",
        "AB",
        "bbb",
        ["a", "", "b"],
        "x",
    ]


def test_matches_is_a_full_match() -> None:
    """matches() anchors the regular expression at both ends."""
    assert evaluate("matches('v12', 'v[0-9]+')") is True
    assert evaluate("matches('v12x', 'v[0-9]+')") is False
    assert evaluate("matches('xv12', 'v[0-9]+')") is False


def test_matches_with_an_invalid_pattern_is_an_evaluation_error() -> None:
    """An invalid regular expression fails the expression with ExpressionError (it never escapes as re.error)."""
    with pytest.raises(ExpressionError, match=re.escape("'matches(x, p)': matches(): invalid regular expression '['")):
        evaluate("matches(x, p)", {"x": "a", "p": "["})


@pytest.mark.parametrize(
    ("test", "expected"),
    [("`0`", "then"), ("''", "else"), ("`[]`", "else"), ("`{}`", "else"), ("`null`", "else"), ("'x'", "then")],
)
def test_if_uses_jmespath_truthiness(test: str, expected: str) -> None:
    """if() picks `then` for every value JMESPath counts as true (0 included) and `else` otherwise."""
    assert evaluate(f"if({test}, 'then', 'else')") == expected


def test_coalesce_skips_only_null() -> None:
    """coalesce returns the first non-null argument, even a false or empty one; null when all are null."""
    assert evaluate("coalesce(`null`, '', 'x')") == ""
    assert evaluate("coalesce(`null`, `null`)") is None


def test_get_reads_computed_keys_and_indexes() -> None:
    """get() reads a member by a computed key or index and is null when it is missing or of the wrong kind."""
    data = {"o": {"a b": 1}, "l": [10, 20], "k": "a b"}
    assert evaluate(
        "[get(o, k), get(l, `1`), get(l, `-1`), get(l, `2`), get(o, `1`), get(l, 'x'), get(`null`, 'a')]", data
    ) == [
        1,
        20,
        20,
        None,
        None,
        None,
        None,
    ]
    assert evaluate("get(l, `1.5`)", data) is None


def test_deep_merge_merges_objects_and_replaces_the_rest() -> None:
    """deep_merge merges nested objects, replaces lists and scalars, and leaves its inputs unchanged."""
    data = {"a": {"x": {"p": 1}, "l": [1]}, "b": {"x": {"q": 2}, "l": [2]}, "c": {"x": 3}}
    assert evaluate("deep_merge(a, b)", data) == {"x": {"p": 1, "q": 2}, "l": [2]}
    assert evaluate("deep_merge(a, b, c)", data) == {"x": 3, "l": [2]}
    assert data["a"] == {"x": {"p": 1}, "l": [1]}


def test_from_items_and_items_are_inverse() -> None:
    """items() lists key/value pairs in order and from_items() builds the object back."""
    data = {"o": {"b": 1, "a": [2]}}
    assert evaluate("from_items(items(o))", data) == data["o"]
    assert evaluate("items(o)", data) == [["b", 1], ["a", [2]]]


def test_from_items_rejects_malformed_pairs() -> None:
    """from_items() fails, naming the bad pair, when an item is not a [string, value] pair."""
    with pytest.raises(ExpressionError, match=re.escape("from_items() expects [string, value] pairs, got [1, 2]")):
        evaluate("from_items(`[[1, 2]]`)")


def test_condition_finds_a_status_condition() -> None:
    """condition() returns the status condition of a type, and null for a missing type or a non-object."""
    job = {"status": {"conditions": [{"type": "Failed", "status": "False"}, {"type": "Complete", "status": "True"}]}}
    assert evaluate("condition(@, 'Complete').status", job) == "True"
    assert evaluate("condition(@, 'Suspended')", job) is None
    assert evaluate("condition(`null`, 'Complete')") is None
    assert evaluate("condition(@, 'Complete')", {"status": {"conditions": "bad"}}) is None


def test_owned_by_reads_owner_references() -> None:
    """owned_by() is true when an owner reference names the owner's uid, false for another uid, for objects without
    references or with malformed ones, for an owner without a uid, and for null."""
    owner = {"metadata": {"uid": "u1"}}
    job = {"metadata": {"ownerReferences": [{"uid": "u0"}, "bad", {"uid": "u1"}]}}
    data = {"job": job, "owner": owner}
    assert evaluate("owned_by(job, owner)", data) is True
    assert evaluate("owned_by(job, other)", {**data, "other": {"metadata": {"uid": "u2"}}}) is False
    assert evaluate("owned_by(job, other)", {**data, "other": {"metadata": {}}}) is False
    assert evaluate("owned_by(bare, owner)", {**data, "bare": {"metadata": {}}}) is False
    assert evaluate("owned_by(odd, owner)", {**data, "odd": {"metadata": {"ownerReferences": "u1"}}}) is False
    assert evaluate("owned_by(`null`, owner)", data) is False
    assert evaluate("owned_by(job, `null`)", data) is False


def test_type_counts_rule_contexts_as_objects() -> None:
    """type() of a mapping subclass (how rule contexts are passed) is 'object', and builtins accept them as objects."""

    class Mapping(dict[str, Any]):
        pass

    assert evaluate("type(@)", Mapping(a=1)) == "object"
    assert evaluate("type(`1`)") == "number"


def test_now_reads_the_injected_clock() -> None:
    """now() is the clock's time in RFC 3339 UTC with second precision, whatever the clock's zone."""
    moment = datetime(2031, 5, 6, 7, 8, 9, 999999, tzinfo=timezone(timedelta(hours=2)))
    with use_clock(lambda: moment):
        assert evaluate("now()") == "2031-05-06T05:08:09Z"


def test_use_clock_restores_the_previous_clock() -> None:
    """Clocks nest: leaving a use_clock block restores the clock of the enclosing block."""
    with use_clock(lambda: datetime(2001, 1, 1, tzinfo=UTC)):
        with use_clock(lambda: datetime(2002, 1, 1, tzinfo=UTC)):
            assert evaluate("now()") == "2002-01-01T00:00:00Z"
        assert evaluate("now()") == "2001-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("2024-02-29T12:00:00Z", 1709208000),
        ("2024-02-29T14:00:00+02:00", 1709208000),
        ("2024-02-29T12:00:00", 1709208000),
        ("2024-02-29T12:00:00.5Z", 1709208000.5),
        ("yesterday", None),
    ],
)
def test_epoch(text: str, seconds: float | None) -> None:
    """epoch() reads RFC 3339 timestamps (a zone-less one as UTC) and is null for text that is not a timestamp."""
    assert evaluate(f"epoch('{text}')") == seconds


def test_arguments_are_type_checked() -> None:
    """A wrong argument type is an evaluation error with jmespath's message, naming the expression."""
    with pytest.raises(ExpressionError, match=re.escape("'md5(n)': In function md5(), invalid type for value: 1")):
        evaluate("md5(n)", {"n": 1})


@pytest.mark.parametrize(
    ("source", "data", "outcome"),
    [
        ("join('-', names)", {"names": ["a", "b"]}, "a-b"),
        ("join('-', names)", {"names": []}, ""),
        ("join('-', names)", {"names": ["a", 1]}, "In function join(), invalid type for value: 1"),
        ("join('-', names)", {"names": "ab"}, "In function join(), invalid type for value: ab"),
        ("sum(numbers)", {"numbers": [1, 2.5]}, 3.5),
        ("sum(numbers)", {"numbers": [1, True]}, "In function sum(), invalid type for value: True"),
        ("avg(numbers)", {"numbers": []}, None),
    ],
)
def test_array_arguments_have_their_elements_checked(source: str, data: dict[str, Any], outcome: Any) -> None:
    """An argument typed as an array of one type (join's strings, sum's numbers) is checked element by element
    without jmespath's general path; an element of another type fails with jmespath's message."""
    if isinstance(outcome, str) and outcome.startswith("In function"):
        with pytest.raises(ExpressionError, match=re.escape(f"{source!r}: {outcome}")):
            evaluate(source, data)
    else:
        assert evaluate(source, data) == outcome


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("nosuch(@)", "unknown function nosuch()"),
        ("md5('a', 'b')", "md5() takes 1 argument(s), got 2"),
        ("now(`1`)", "now() takes 0 argument(s), got 1"),
        ("coalesce(a)", "coalesce() takes at least 2 argument(s), got 1"),
        ("deep_merge(a)", "deep_merge() takes at least 2 argument(s), got 1"),
        ("length(a) || nosuch()", "unknown function nosuch()"),
    ],
)
def test_unknown_functions_and_arities_fail_at_compile_time(source: str, message: str) -> None:
    """Calling a function that does not exist, or with the wrong number of arguments, fails when compiling."""
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression(source)
    assert caught.value.message == message


def test_deep_merge_checks_every_argument() -> None:
    """Every argument of deep_merge must be an object, the variadic ones too (jmespath checks only the first two)."""
    with pytest.raises(
        ExpressionError,
        match=re.escape(
            "In function deep_merge(), invalid type for value: x, expected one of: ['object'], received: \"string\""
        ),
    ):
        evaluate("deep_merge(`{}`, `{}`, 'x')")
