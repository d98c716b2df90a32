"""The RuleTest schema's fast paths agree with cerberus: `conforms` accepts nothing cerberus rejects, and a
schema narrowed to a document gives the same problems as the whole schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.spec.loader import Positions, load_paths
from engine.spec.schema import validate
from engine.testing.load import load_suite
from engine.testing.schema import DOCUMENT, EXPECT, STEP, conforms, narrow

from .helpers import FIXTURES, MUST_FAIL

STEP_SCHEMA: dict[str, Any] = STEP["schema"]
KEYS = sorted({*STEP_SCHEMA, *EXPECT, "kind", "name", "apiVersion", "namespace", "file", "target", "merge",
               "message", "rule", "create", "status", "event", "bogus"})  # fmt: skip
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-1, 3), st.sampled_from(["", "x", "Widget/w1", "nothing", "a b", "90s"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
    max_leaves=10,
)
STEPS = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=4)
NOWHERE = Positions("x")


VALID_STEPS: list[dict[str, Any]] = [
    {"evaluate": "Widget/w1", "expect": "nothing"},
    {"evaluate": {"kind": "Widget", "name": "w1"}, "expect": {"fired": ["a"], "actions": [{"create": {}}]}},
    {"settle": True, "maxSteps": 3, "expect": {"error": {"rule": "r", "message": "m"}, "absent": ["Job/j"]}},
    {"patch": {"target": "Widget/w1", "merge": {"spec": {}}}, "name": "n"},
    {"apply": {"file": "x.yaml"}},
    {"apply": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}},
    {"advance": "5m"},
]


@settings(max_examples=300, deadline=None)
@given(STEPS)
@example(VALID_STEPS[0])
@example(VALID_STEPS[1])
@example(VALID_STEPS[2])
@example(VALID_STEPS[3])
@example(VALID_STEPS[4])
@example(VALID_STEPS[5])
@example(VALID_STEPS[6])
@example({"settle": True, "maxSteps": 0})
@example({"evaluate": "", "expect": {"fired": []}})
@example({"advance": True})
def test_conforms_accepts_nothing_cerberus_rejects(step: dict[str, Any]) -> None:
    """Whatever `conforms` lets through without cerberus, cerberus accepts too."""
    if conforms(step, STEP_SCHEMA):
        assert validate(step, STEP_SCHEMA, NOWHERE) == []


def test_conforms_accepts_the_usual_steps() -> None:
    """The fast path is taken for ordinary steps (else it would save nothing)."""
    assert all(conforms(step, STEP_SCHEMA) for step in VALID_STEPS)
    assert not conforms({"advance": True}, STEP_SCHEMA)


@settings(max_examples=150, deadline=None)
@given(STEPS)
def test_a_narrowed_schema_gives_the_same_problems(step: dict[str, Any]) -> None:
    """Cerberus finds the same problems, with the same messages, with the schema narrowed to the document."""
    assert validate(step, narrow(STEP_SCHEMA, step), NOWHERE) == validate(step, STEP_SCHEMA, NOWHERE)


def test_the_repositorys_fixtures_take_the_fast_path() -> None:
    """Every step and document of the runner's own fixtures conforms, so loading them never calls cerberus."""
    suite = load_suite([FIXTURES, MUST_FAIL])
    assert suite.problems == ()
    files = sorted({Path(fixture.file) for fixture in suite.fixtures})
    assert len(files) > 20
    for document in load_paths(files).documents:
        assert conforms(document.body, DOCUMENT), document.file
        for step in document.body["spec"]["steps"]:
            assert conforms(step, STEP_SCHEMA), (document.file, step)
