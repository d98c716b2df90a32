"""Reports of a fixture run: readable text (failures in full, a summary line) and JSON for tools.

Where this sits: the last stage of `arcane rules test`; engine.testing.junit writes the JUnit XML from the
same `RunReport`. Load problems are reported by `render_problems` (all of them, before anything ran). The
text puts each failure first: the step, the message, why the expected rule did not fire, the diff of
expected against actual, then the evaluation trace. This module formats; it decides nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.errors import Problem
from engine.testing.coverage import Coverage, coverage_json, render_coverage
from engine.testing.results import Failure, FixtureResult

JSON_VERSION = 1


@dataclass(frozen=True, slots=True)
class RunReport:
    """A finished run: results in run order, wall time, coverage (when asked for) and the threshold."""

    results: tuple[FixtureResult, ...]
    duration: float
    coverage: Coverage | None = None
    min_coverage: float | None = None
    found: int = 0
    """Fixtures found before `-k` selected some."""

    @property
    def failed(self) -> list[FixtureResult]:
        return [r for r in self.results if not r.passed]

    @property
    def steps(self) -> int:
        return sum(r.steps_run for r in self.results)

    @property
    def coverage_too_low(self) -> bool:
        return self.min_coverage is not None and self.coverage is not None and self.coverage.percent < self.min_coverage


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def render_problems(problems: Sequence[Problem]) -> str:
    """Every load problem, one per line (`file:line:column: path: message`), then their count."""
    lines = [str(problem) for problem in problems]
    lines.append(f"{plural(len(problems), 'problem')} in the fixtures or their rules: nothing was run")
    return "\n".join(lines)


def render_failure(result: FixtureResult, trace: bool = True) -> str:
    """One failed fixture: its id and file location, then the failure."""
    failure = result.failure
    assert failure is not None
    fixture = result.fixture
    head = f"FAILED {fixture.id} (line {fixture.location.line})"
    if fixture.must_fail and result.observed is not None and failure is not result.observed:
        head += f" [mustFail: {fixture.must_fail!r}]"
    return head + "\n" + _indent(failure.render(trace))


def _indent(text: str) -> str:
    return "\n".join("  " + line if line else "" for line in text.splitlines())


def render_text(report: RunReport, *, verbose: bool = False, trace: bool = True) -> str:
    """The run as text: failures in full, passes with -v, coverage when measured, and the summary line."""
    blocks: list[str] = []
    for result in report.results:
        if not result.passed:
            blocks.append(render_failure(result, trace))
        elif verbose:
            note = ""
            if result.fixture.must_fail and result.observed is not None:
                note = f" (failed as it must: {result.observed.message})"
            blocks.append(f"PASSED {result.fixture.id} ({plural(result.steps_run, 'step')}){note}")
    if report.coverage is not None:
        blocks.append(render_coverage(report.coverage))
        if report.coverage_too_low:
            blocks.append(
                f"FAILED coverage {report.coverage.percent:.1f}% is below --min-coverage {report.min_coverage:g}%"
            )
    blocks.append(summary(report))
    return "\n\n".join(blocks)


def summary(report: RunReport) -> str:
    failed = len(report.failed)
    passed = len(report.results) - failed
    parts = [f"{passed} passed"] + ([f"{failed} failed"] if failed else [])
    selected = f" (selected {len(report.results)} of {report.found})" if report.found > len(report.results) else ""
    return (
        f"{', '.join(parts)}: {plural(len(report.results), 'fixture')}{selected}, "
        f"{plural(report.steps, 'step')} in {report.duration:.2f}s"
    )


def _failure_json(failure: Failure | None) -> dict[str, Any] | None:
    if failure is None:
        return None
    return {
        "step": failure.step,
        "title": failure.title,
        "message": failure.message,
        "details": list(failure.details),
        "trace": failure.trace,
        "line": failure.location.line,
    }


def render_json(report: RunReport) -> str:
    """The run as JSON (version 1): summary, one entry per fixture, coverage when measured."""
    body: dict[str, Any] = {
        "version": JSON_VERSION,
        "summary": {
            "fixtures": len(report.results),
            "found": report.found,
            "passed": len(report.results) - len(report.failed),
            "failed": len(report.failed),
            "steps": report.steps,
            "seconds": round(report.duration, 3),
        },
        "fixtures": [
            {
                "id": r.fixture.id,
                "file": r.fixture.file,
                "name": r.fixture.name,
                "line": r.fixture.location.line,
                "status": r.status.value,
                "steps": r.steps_run,
                "seconds": round(r.duration, 4),
                "mustFail": r.fixture.must_fail or None,
                "failure": _failure_json(r.failure),
                "observed": _failure_json(r.observed) if r.fixture.must_fail else None,
            }
            for r in report.results
        ],
        "coverage": coverage_json(report.coverage) if report.coverage is not None else None,
    }
    if report.min_coverage is not None:
        body["minCoverage"] = report.min_coverage
        body["coverageTooLow"] = report.coverage_too_low
    return json.dumps(body, indent=2)


def problems_json(problems: Sequence[Problem]) -> str:
    """Load problems as JSON (the same `version`), for `--format json` when nothing could run."""
    return json.dumps(
        {
            "version": JSON_VERSION,
            "problems": [
                {
                    "file": p.location.file,
                    "line": p.location.line,
                    "column": p.location.column,
                    "path": p.location.path,
                    "message": p.message,
                    "code": p.code,
                }
                for p in problems
            ],
        },
        indent=2,
    )
