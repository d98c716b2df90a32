"""Canonical JSON: the bytes Go's encoding/json writes for unstructured values, so hashes agree with Go programs."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from engine.expr import compile_expression
from engine.expr.canonical import go_float, go_json

REAL_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "real-fixtures"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"b": 1, "a": 2}, '{"a":2,"b":1}'),
        ({"z": {"y": [1, {"b": None, "a": True}]}}, '{"z":{"y":[1,{"a":true,"b":null}]}}'),
        ([], "[]"),
        ({}, "{}"),
        ("<a href='x'>&</a>", "\"\\u003ca href='x'\\u003e\\u0026\\u003c/a\\u003e\""),
        ("\u2028\u2029", '"\\u2028\\u2029"'),
        ("é ü 中 🎉", '"é ü 中 🎉"'),
        ('quote " backslash \\', '"quote \\" backslash \\\\"'),
        ("\n\r\t\x01\x1f\x7f", '"\\n\\r\\t\\u0001\\u001f\x7f"'),
        ("\b\f", '"\\b\\f"'),
        ({"é": 1, "z": 2, "a": 3, "Z": 4}, '{"Z":4,"a":3,"z":2,"é":1}'),
    ],
)
def test_go_json_text(value: Any, text: str) -> None:
    """Keys are sorted by code point, no white space, UTF-8 kept, and <, >, &, U+2028, U+2029 escaped as Go does (control characters as Go 1.22+)."""
    assert go_json(value) == text


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (1.0, "1"),
        (-1.0, "-1"),
        (0.0, "0"),
        (-0.0, "-0"),
        (1.5, "1.5"),
        (0.1, "0.1"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (1.005e-8, "1.005e-8"),
        (123456789.0, "123456789"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.5e300, "1.5e+300"),
        (-2.5e-10, "-2.5e-10"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (12345.678, "12345.678"),
    ],
)
def test_go_float_forms(number: float, text: str) -> None:
    """Floats use Go's shortest form: integral floats without `.0`, `e` only below 1e-6 and from 1e21, exponents unpadded."""
    assert go_float(number) == text
    assert go_json(number) == text
    assert go_json({"n": number}) == f'{{"n":{text}}}'


def test_integers_stay_integers() -> None:
    """Integers are written exactly, however large (Go's int64 and json.Number)."""
    assert go_json([1, -7, 2**62, 0]) == "[1,-7,4611686018427387904,0]"


def test_nan_and_infinity_are_refused() -> None:
    """NaN and infinities have no JSON form: encoding them fails as Go's does."""
    with pytest.raises(ValueError, match="json: unsupported value: nan"):
        go_float(math.nan)
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        go_json(math.inf)


def test_unsorted_keeps_insertion_order() -> None:
    """`sort_keys=False` keeps the order of the mapping (Go's struct field order, for to_json)."""
    assert go_json({"b": 1.0, "a": "<"}, sort_keys=False) == '{"b":1,"a":"\\u003c"}'


@given(json_values)
def test_go_json_round_trips(value: Any) -> None:
    """Whatever the value, the text parses back to it (numbers as floats), and has no raw <, >, &, U+2028 or U+2029."""
    text = go_json(value)
    assert _floats(json.loads(text)) == _floats(value)
    assert not any(char in text for char in "<>&\u2028\u2029")


def reference(value: Any) -> str:
    """Go's encoding/json for unstructured values, written plainly (a walk): the specification go_json's fast
    path is held to."""
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{reference(str(k))}:{reference(v)}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(reference(item) for item in value) + "]"
    if isinstance(value, float):
        return go_float(value)
    text = json.dumps(value, ensure_ascii=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


FLOATS = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [1.0, -3.0, 1e15, 1e16, 1e20, 1e21, 1e-5, 9.9e-6, 1e-6, 9.9e-7, 1e-7, 0.1, 2.5e-10, 123456789.0]
)
TRICKY = st.sampled_from(
    ["1.0", ":1.0,", "a,2.0]", "1e-5", "x:1e+16}", "v2.3.0", "null", "<&>", "\u2028\u2029", '"quoted"']
)
MIXED = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | FLOATS | st.text(max_size=8) | TRICKY,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5) | TRICKY, children, max_size=4)
    ),
    max_leaves=25,
)


@given(MIXED)
def test_go_json_matches_the_plain_walk(value: Any) -> None:
    """The fast path (orjson, then number tokens rewritten) gives exactly the text of a plain walk of Go's rules,
    whatever the floats' magnitudes, integers past 64 bits, nulls, and strings that look like numbers."""
    assert go_json(value) == reference(value)


def test_nan_inside_a_value_is_refused() -> None:
    """NaN deep in a value fails as Go's encoder does (orjson alone would have written null)."""
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        go_json({"a": [1, math.nan]})


def _floats(value: Any) -> Any:
    """Numbers as floats: Go writes 1e16 as `10000000000000000`, which reads back as an integer."""
    if isinstance(value, dict):
        return {key: _floats(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_floats(item) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def _fixture(name: str) -> Any:
    path = REAL_FIXTURES / name
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared real fixtures are not in this checkout)")
    return yaml.safe_load(path.read_text())


def test_hash_of_a_real_spec_matches_the_go_operator() -> None:
    """md5 of the canonical JSON of the mock v0 stream's spec is the Go operator's configuration hash."""
    stream = _fixture("mock/stream-v0-teststreamdefinition.yaml")
    assert hashlib.md5(go_json(stream["spec"]).encode(), usedforsecurity=False).hexdigest() == (
        "c20f06ead4de7043dbc73ee51a2326cc"
    )
    expected = _fixture("expected/mock-v0-streaming-job.yaml")
    assert expected["metadata"]["annotations"]["configuration-hash"] == "c20f06ead4de7043dbc73ee51a2326cc"
    env = expected["spec"]["template"]["spec"]["containers"][0]["env"]
    assert next(e["value"] for e in env if e["name"].endswith("__SPEC")) == go_json(stream["spec"])


def test_hashes_of_a_real_request_match_the_go_operator() -> None:
    """The hex-joined hash of spec and request (struct order JSON, then with `completed`) equals the expected fixtures'."""
    stream = _fixture("mock/stream-v0-teststreamdefinition.yaml")
    job = _fixture("expected/mock-v0-backfill-job.yaml")
    data = {
        "object": stream,
        "request": {"spec": {"streamClass": "arcane-stream-mock", "streamId": stream["metadata"]["name"]}},
    }
    hashed = compile_expression(
        "join(':', [hex(md5(canonical_json(object.spec))), "
        "hex(md5(to_json({streamClass: request.spec.streamClass, streamId: request.spec.streamId})))])"
    )
    assert hashed.evaluate(data) == job["metadata"]["annotations"]["configuration-hash"]
    completed = compile_expression(
        "hex(md5(to_json({streamClass: request.spec.streamClass, streamId: request.spec.streamId, completed: `true`})))"
    )
    assert completed.evaluate(data) == "3462353364356338663734386139393465646163623565336334616232383363"
