"""Rule coverage: which rules fired, which first-match rules were never reached, and --min-coverage."""

from __future__ import annotations

import io
import json
from pathlib import Path

from engine.testing.command import run_tests
from engine.testing.coverage import measure, render_coverage
from engine.testing.load import load_suite
from engine.testing.runner import run_fixture

from .conftest import Write
from .helpers import fixture_text

KNOWN = [
    fixture_text(
        """
        given: [<w1>]
        steps:
          - evaluate: Widget/w1
            expect: {fired: [start]}
          - complete: Job/w1-run
          - evaluate: Widget/w1
            expect: {fired: [finish]}
        """,
        "widget-finishes",
    ),
    fixture_text(
        """
        given:
          - {apiVersion: example.dev/v1, kind: Gadget, metadata: {name: g}, spec: {size: abcd}}
        steps:
          - evaluate: Gadget/g
            expect: {fired: [long-name]}
        """,
        "gadget-is-long",
    ),
]


def known_suite(write: Write, tmp_path: Path) -> Path:
    for index, text in enumerate(KNOWN):
        write(text, f"suite/f{index}.yaml")
    return tmp_path / "suite"


def test_coverage_of_a_known_suite(write: Write, tmp_path: Path) -> None:
    """Two fixtures fire start, finish and long-name: 3 of the 14 rules; the unreached first-match rules are listed."""
    suite = load_suite([known_suite(write, tmp_path)])
    results = [run_fixture(f) for f in suite.fixtures]
    assert all(r.passed for r in results)
    coverage = measure(suite.rule_sources, results)
    assert (coverage.fired, coverage.total, coverage.percent) == (3, 14, 21.4)
    (only,) = coverage.files
    assert [r.name for r in only.never_fired()] == [
        "job-failed", "pause", "timed-out", "keep-running", "resume", "stay-paused", "stay-finished",
        "label-job", "short-name", "go-right", "go-left",
    ]  # fmt: skip
    assert only.never_reached() == {
        "widget/lifecycle": ["keep-running", "resume", "stay-paused", "stay-finished"],
        "gadget/size": ["short-name"],
        "toggle/flip": ["go-right", "go-left"],
    }
    text = render_coverage(coverage)
    assert text.splitlines()[0] == "rule coverage: 3/14 rules fired (21.4%)"
    assert "    never reached in first-match group gadget/size: short-name" in text


def test_a_rule_that_only_errs_is_reached_but_not_covered(write: Write, tmp_path: Path) -> None:
    """A rule whose condition fails was reached, but an error decision does not count as firing."""
    write(
        fixture_text(
            """
            given:
              - {apiVersion: example.dev/v1, kind: Gadget, metadata: {name: g}, spec: {size: 12}}
            steps:
              - evaluate: Gadget/g
                expect: {error: invalid type}
            """
        ),
        "f.yaml",
    )
    suite = load_suite([tmp_path / "f.yaml"])
    result = run_fixture(suite.fixtures[0])
    assert result.passed
    assert {name for _file, name in result.fired} == set()
    assert {name for _file, name in result.reached} == {"long-name"}


def test_the_command_reports_coverage_and_enforces_the_minimum(write: Write, tmp_path: Path) -> None:
    """--coverage prints it; --min-coverage above it fails (exit 1) and says so; below it passes."""
    suite = str(known_suite(write, tmp_path))
    out = io.StringIO()
    assert run_tests([suite, "--coverage"], stdout=out, stderr=io.StringIO()) == 0
    assert "rule coverage: 3/14 rules fired (21.4%)" in out.getvalue()
    out = io.StringIO()
    assert run_tests([suite, "--min-coverage", "50"], stdout=out, stderr=io.StringIO()) == 1
    assert "FAILED coverage 21.4% is below --min-coverage 50%" in out.getvalue()
    assert run_tests([suite, "--min-coverage", "20"], stdout=io.StringIO(), stderr=io.StringIO()) == 0


def test_coverage_in_json(write: Write, tmp_path: Path) -> None:
    """--format json carries the coverage per file and per rule, and whether the minimum was met."""
    out = io.StringIO()
    code = run_tests(
        [str(known_suite(write, tmp_path)), "--format", "json", "--min-coverage", "25"],
        stdout=out,
        stderr=io.StringIO(),
    )
    assert code == 1
    body = json.loads(out.getvalue())
    assert (body["coverage"]["fired"], body["coverage"]["total"], body["coverageTooLow"]) == (3, 14, True)
    rules = {r["name"]: r for r in body["coverage"]["files"][0]["rules"]}
    assert rules["finish"] == {
        "name": "finish", "document": "widget", "group": "lifecycle", "line": 82, "fired": True, "reached": True,
    }  # fmt: skip
    assert body["coverage"]["files"][0]["neverReached"]["toggle/flip"] == ["go-right", "go-left"]
