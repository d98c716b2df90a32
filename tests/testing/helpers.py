"""Shared helpers of the fixture runner's tests: the neutral rule set's paths and fixture text builders."""

from __future__ import annotations

import textwrap
from pathlib import Path

from engine.testing.results import FixtureResult

HERE = Path(__file__).resolve().parent
RULES = HERE / "rules"
CRDS = HERE / "crds" / "widgets.yaml"
FIXTURES = HERE / "fixtures"
MUST_FAIL = HERE / "must-fail"

HEADER = f"""\
apiVersion: tests.arcane.dev/v1alpha1
kind: RuleTest
metadata:
  name: {{name}}
spec:
  rules: {RULES}
  crds: {CRDS}
"""

W1 = "{apiVersion: example.dev/v1, kind: Widget, metadata: {name: w1, uid: 00000000-0000-0000-0000-000000000001}, spec: {image: 'busybox:1.36'}}"
"""A Widget as one line of flow YAML, to put after `- ` in a `given` list at any indentation."""


def fixture_text(body: str, name: str = "case") -> str:
    """A RuleTest document: the header (rules and CRDs of tests/testing) followed by `body` (spec fields,
    indented by two spaces, e.g. `given:` and `steps:`); `<w1>` in the body stands for W1."""
    return HEADER.format(name=name) + textwrap.indent(textwrap.dedent(body).replace("<w1>", W1), "  ")


def message(result: FixtureResult) -> str:
    """The failure message of a result that must have failed."""
    assert result.failure is not None, "the fixture passed"
    return result.failure.message


def full(result: FixtureResult) -> str:
    """The whole failure text (message, details, trace) of a result that must have failed."""
    assert result.failure is not None, "the fixture passed"
    return result.failure.render()
