"""`arcane rules test`: exit codes, -k, --require-fixtures, text and JSON output, JUnit XML, the progress line."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from engine.testing import command
from engine.testing.command import Progress, run_tests

from .conftest import Write
from .helpers import fixture_text

PASSING = fixture_text(
    """
    given: [<w1>]
    steps:
      - evaluate: Widget/w1
        expect: {fired: [start]}
    """,
    "starts",
)
FAILING = fixture_text(
    """
    given: [<w1>]
    steps:
      - evaluate: Widget/w1
        expect: {fired: [pause]}
    """,
    "pauses",
)


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_tests(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def suite(write: Write, tmp_path: Path) -> str:
    write(PASSING, "suite/a.yaml")
    write(FAILING, "suite/b.yaml")
    return str(tmp_path / "suite")


def test_exit_0_when_every_fixture_passes(write: Write, tmp_path: Path) -> None:
    """All selected fixtures pass: exit 0 and a summary line."""
    code, out, _ = run([suite(write, tmp_path), "-k", "starts"])
    assert code == 0
    assert re.fullmatch(r"1 passed: 1 fixture \(selected 1 of 2\), 1 step in \d+\.\d\ds\n", out)


def test_exit_1_when_a_fixture_fails_with_the_failure_in_full(write: Write, tmp_path: Path) -> None:
    """A failure exits 1; the text names the fixture and its file:line, the step, why, and the trace."""
    path = suite(write, tmp_path)
    code, out, _ = run([path])
    assert code == 1
    assert f"FAILED {path}/b.yaml::pauses (line 1)\n  step 1 (evaluate Widget/w1, line 11):\n" in out
    assert "    expected rule `pause` to fire, but `start` fired instead\n" in out
    assert "    `pause` did not fire: (on Widget/default/w1) its condition `paused` was false\n" in out
    assert "    trace:\n      related objects:\n" in out
    assert "1 passed, 1 failed: 2 fixtures, 2 steps in" in out
    assert "trace:" not in run([path, "--no-trace"])[1]


def test_exit_2_for_unusable_input(tmp_path: Path) -> None:
    """A missing path, a bad flag: exit 2; --help exits 0."""
    code, _, err = run([str(tmp_path / "nope")])
    assert code == 2
    assert "no such file or directory" in err
    assert run(["--format", "xml"])[0] == 2
    assert run(["--help"])[0] == 0


def test_no_fixtures_is_a_pass_unless_required(tmp_path: Path) -> None:
    """An empty directory passes with a note; --require-fixtures makes it a failure (exit 1); JUnit is still written."""
    assert run([str(tmp_path)]) == (0, "", f"arcane rules test: no fixtures found in {tmp_path}\n")
    report = tmp_path.parent / f"{tmp_path.name}-junit.xml"
    assert run([str(tmp_path), "--require-fixtures", "--junit", str(report)])[0] == 1
    root = ET.parse(report).getroot()
    check_junit(root)
    assert (root.attrib["tests"], len(root)) == ("0", 0)


def test_k_selects_by_substring_or_glob(write: Write, tmp_path: Path) -> None:
    """-k matches `file::name` by substring or glob, case-insensitively; no match is reported like no fixture."""
    path = suite(write, tmp_path)
    assert run([path, "-k", "STARTS"])[0] == 0
    assert run([path, "-k", "*/a.yaml::*"])[0] == 0
    assert run([path, "-k", "starts", "-k", "pauses"])[0] == 1
    code, _, err = run([path, "-k", "nothing-like-it", "--require-fixtures"])
    assert (code, err) == (1, "arcane rules test: no fixture matches -k nothing-like-it\n")


def test_json_output(write: Write, tmp_path: Path) -> None:
    """--format json: a versioned document with the summary and, per fixture, its status and failure."""
    code, out, _ = run([suite(write, tmp_path), "--format", "json"])
    assert code == 1
    body = json.loads(out)
    assert body["version"] == 1
    assert {k: body["summary"][k] for k in ("fixtures", "passed", "failed", "steps")} == {
        "fixtures": 2, "passed": 1, "failed": 1, "steps": 2,
    }  # fmt: skip
    failed = next(f for f in body["fixtures"] if f["status"] == "failed")
    assert failed["name"] == "pauses"
    assert failed["failure"]["step"] == 1
    assert failed["failure"]["message"] == "expected rule `pause` to fire, but `start` fired instead"
    assert failed["failure"]["details"][0].startswith("`pause` did not fire")
    assert body["coverage"] is None


def test_json_output_of_load_problems(load_bad: Path) -> None:
    """Load problems in JSON: each with file, line, column, path, message and code."""
    code, out, _ = run([str(load_bad), "--format", "json"])
    assert code == 2
    (problem,) = json.loads(out)["problems"]
    assert {k: problem[k] for k in ("line", "column", "path", "code")} == {
        "line": 9, "column": 7, "path": "spec.steps[0]", "code": "vacuous",
    }  # fmt: skip


@pytest.fixture
def load_bad(write: Write) -> Path:
    return write(fixture_text("steps:\n  - evaluate: Widget/w1\n"), "bad.yaml")


# --- JUnit: checked against the structure of Jenkins xunit's junit-10.xsd --------------------------------

SUITES_ATTRS = {"name", "time", "tests", "failures", "errors"}
SUITE_ATTRS = {"name", "tests", "failures", "errors", "group", "time", "skipped", "timestamp", "hostname", "id",
               "package", "file", "log", "url"}  # fmt: skip
SUITE_REQUIRED = {"name", "tests", "failures", "errors"}
CASE_ATTRS = {"name", "time", "classname", "group"}
CASE_CHILDREN = {"skipped", "error", "failure", "system-out", "system-err"}
SUREFIRE_TIME = re.compile(r"(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?")


def check_junit(root: ET.Element) -> None:
    """Assert that a JUnit document keeps to junit-10.xsd: elements, attributes, required ones, time format."""
    assert root.tag == "testsuites"
    assert set(root.attrib) <= SUITES_ATTRS
    assert SUREFIRE_TIME.fullmatch(root.attrib["time"])
    for suite in root:
        assert suite.tag == "testsuite"
        assert SUITE_REQUIRED <= set(suite.attrib) <= SUITE_ATTRS
        assert SUREFIRE_TIME.fullmatch(suite.attrib["time"])
        assert all(int(suite.attrib[k]) >= 0 for k in ("tests", "failures", "errors", "skipped"))
        cases = list(suite)
        assert int(suite.attrib["tests"]) == len(cases)
        for case in cases:
            assert case.tag == "testcase"
            assert "name" in case.attrib
            assert set(case.attrib) <= CASE_ATTRS
            for child in case:
                assert child.tag in CASE_CHILDREN
                assert set(child.attrib) <= {"type", "message"}
        counted = sum(1 for case in cases for child in case if child.tag == "failure")
        assert int(suite.attrib["failures"]) == counted
        errors = sum(1 for case in cases for child in case if child.tag == "error")
        assert int(suite.attrib["errors"]) == errors
    assert int(root.attrib["tests"]) == sum(int(s.attrib["tests"]) for s in root)
    assert int(root.attrib["failures"]) == sum(int(s.attrib["failures"]) for s in root)


def test_junit_report_is_valid_and_carries_the_failure(write: Write, tmp_path: Path) -> None:
    """--junit writes one testsuite per file and one testcase per fixture, valid per junit-10.xsd."""
    report = tmp_path / "out" / "junit.xml"
    path = suite(write, tmp_path)
    assert run([path, "--junit", str(report)])[0] == 1
    root = ET.parse(report).getroot()
    check_junit(root)
    assert (root.attrib["tests"], root.attrib["failures"], root.attrib["name"]) == ("2", "1", "arcane rules test")
    suites = {s.attrib["name"]: s for s in root}
    assert set(suites) == {f"{path}/a.yaml", f"{path}/b.yaml"}
    (case,) = list(suites[f"{path}/b.yaml"])
    assert case.attrib["name"] == "pauses"
    assert case.attrib["classname"].endswith(".suite.b")
    (failure,) = list(case)
    assert failure.attrib == {
        "message": "expected rule `pause` to fire, but `start` fired instead",
        "type": "RuleFixtureFailure",
    }
    assert failure.text is not None
    assert "`pause` did not fire" in failure.text
    assert report.read_text().startswith("<?xml version='1.0' encoding='utf-8'?>")


def test_junit_report_of_load_problems(load_bad: Path, tmp_path: Path) -> None:
    """With load problems, the JUnit file still says why: one erroring testcase per file with problems."""
    report = tmp_path / "junit.xml"
    assert run([str(load_bad), "--junit", str(report)])[0] == 2
    root = ET.parse(report).getroot()
    check_junit(root)
    (case,) = list(root[0])
    (error,) = list(case)
    assert error.tag == "error"
    assert error.attrib["message"].startswith("1 problem(s): this `evaluate` step needs `expect`")


# --- the progress line ------------------------------------------------------------------------------------


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_progress_line_on_a_terminal_for_long_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal, once the run lasts PROGRESS_AFTER seconds, `[done/total] id` is rewritten in place, then cleared."""
    monkeypatch.setattr(command, "PROGRESS_AFTER", 0.0)
    terminal = Terminal()
    progress = Progress(terminal, 3, enabled=True)
    progress.update(1, "a.yaml::x")
    progress.update(2, "b.yaml::y")
    progress.clear()
    assert terminal.getvalue() == "\r\x1b[K[1/3] a.yaml::x\r\x1b[K[2/3] b.yaml::y\r\x1b[K"


def test_no_progress_line_when_not_a_terminal_or_short(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a terminal (CI logs, pipes), or a run shorter than PROGRESS_AFTER: no progress line at all."""
    plain = io.StringIO()
    progress = Progress(plain, 3, enabled=True)
    progress.update(1, "a")
    progress.clear()
    assert plain.getvalue() == ""
    terminal = Terminal()
    quick = Progress(terminal, 3, enabled=True)
    quick.update(1, "a")
    quick.clear()
    assert terminal.getvalue() == ""


@pytest.mark.parametrize("value", ["150", "-5", "100.5", "nan", "many"])
def test_min_coverage_outside_0_to_100_is_a_bad_flag(
    write: Write, tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    """--min-coverage is a percentage: a value no run could reach, or that every run reaches, is refused
    before anything runs (exit 2; argparse says why on stderr); 0 and 100 are accepted."""
    path = suite(write, tmp_path)
    assert run([path, f"--min-coverage={value}"]) == (2, "", "")
    assert "arcane rules test: error: argument --min-coverage: expected a" in capsys.readouterr().err
    assert run([path, "-k", "starts", "--min-coverage", "0"])[0] == 0
    assert run([path, "-k", "starts", "--min-coverage", "100"])[0] == 1  # 100% of the rules did not fire


def test_help_says_which_flags_repeat(capsys: pytest.CaptureFixture[str]) -> None:
    """`--help` says that --rules and --crd are repeated to give several."""
    assert run(["--help"])[0] == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "for fixtures without spec.rules (repeatable)" in text
    assert "for fixtures without spec.crds (repeatable)" in text
