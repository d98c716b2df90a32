"""docs/testing-rules.md: its complete fixture runs and passes, and its tables name every flag, step and
expectation the runner has."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import yaml

from engine.testing.command import _parser, run_tests
from engine.testing.schema import EXPECT, STEP_KINDS

from .helpers import CRDS, RULES

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing-rules.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_complete_example_passes(tmp_path: Path) -> None:
    """The page's complete fixture, pointed at tests/testing's rules and CRD, passes."""
    (example,) = [b for b in blocks("yaml") if b.startswith("apiVersion: tests.arcane.dev/v1alpha1")]
    text = re.sub(r"^  rules: \S+", f"  rules: {RULES}", example, flags=re.M)
    text = re.sub(r"^  crds: \S+", f"  crds: {CRDS}", text, flags=re.M)
    (tmp_path / "example.yaml").write_text(text)
    out = io.StringIO()
    assert run_tests([str(tmp_path), "-v"], stdout=out, stderr=io.StringIO()) == 0, out.getvalue()
    assert "PASSED" in out.getvalue()
    assert "(9 steps)" in out.getvalue()


def test_the_failure_example_is_what_the_runner_prints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first report under "When a step fails" is the real output of the complete fixture, saved as
    tests/rules/widget.yaml, expecting `pause` in its first step (all but the run's duration)."""
    (example,) = [b for b in blocks("yaml") if b.startswith("apiVersion: tests.arcane.dev/v1alpha1")]
    text = re.sub(r"^  rules: \S+", f"  rules: {RULES}", example, flags=re.M)
    text = re.sub(r"^  crds: \S+", f"  crds: {CRDS}", text, flags=re.M)
    text = text.replace("        fired: [start]\n", "        fired: [pause]\n", 1)
    (tmp_path / "tests" / "rules").mkdir(parents=True)
    (tmp_path / "tests" / "rules" / "widget.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    assert run_tests(["tests/rules"], stdout=out, stderr=io.StringIO()) == 1
    documented = next(b for b in blocks("text") if b.startswith("FAILED tests/rules/widget.yaml"))
    duration = re.compile(r" in \d+\.\d\ds$", re.M)
    assert duration.sub(" in Ns", out.getvalue()) == duration.sub(" in Ns", documented)


def test_every_flag_is_documented() -> None:
    """Each option of the command appears in the page's flags table."""
    text = DOC.read_text()
    options = [o for action in _parser()._actions for o in action.option_strings if o not in ("-h", "--help")]
    missing = [o for o in options if f"`{o}" not in text]
    assert missing == []


def test_every_step_kind_and_expectation_is_documented() -> None:
    """The step table names every step kind and the expectation table every expectation key."""
    text = DOC.read_text()
    assert [kind for kind in STEP_KINDS if f"| `{kind}" not in text] == []
    assert [key for key in EXPECT if f"| `{key}" not in text] == []


def test_the_ci_job_is_valid_yaml_and_its_command_parses() -> None:
    """The GitHub Actions job parses, and its `arcane rules test` line is accepted by the command's parser."""
    (workflow,) = [b for b in blocks("yaml") if b.startswith("# .github/workflows/")]
    job = yaml.safe_load(workflow)["jobs"]["rule-fixtures"]
    (command,) = [step["run"] for step in job["steps"] if "arcane rules test" in str(step.get("run"))]
    argv = command.split()[3:]
    args = _parser().parse_args(argv)
    assert (args.require_fixtures, args.min_coverage, args.junit) == (True, 60.0, "reports/rule-fixtures.xml")
