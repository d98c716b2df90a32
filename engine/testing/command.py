"""`arcane rules test`: flags -> load every fixture -> run the selected ones -> report -> exit code.

Where this sits: engine/cli.py hands the arguments after `rules test` to `run_tests`. Exit codes: 0 every
selected fixture passed (and coverage reached --min-coverage); 1 a fixture failed, coverage is too low, or
--require-fixtures found none; 2 unusable input (bad flags, a missing path, any load problem in any fixture
or its rules: all of them are printed and nothing runs). When the output is a terminal and the run takes a
while, a progress line is kept on it. Rule sets are compiled once per run (engine.testing.load caches
them by path).
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from engine.testing.coverage import measure
from engine.testing.fixture import Fixture
from engine.testing.junit import junit_xml, problems_xml, write
from engine.testing.load import LoadOptions, load_suite
from engine.testing.report import RunReport, problems_json, render_json, render_problems, render_text
from engine.testing.results import FixtureResult
from engine.testing.runner import Runner

EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2
PROGRESS_AFTER = 0.5
"""Seconds a run must last before the progress line appears (short runs stay quiet)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arcane rules test",
        description="Run rule fixtures (RuleTest documents) against the rules. See docs/testing-rules.md.",
    )
    parser.add_argument("paths", nargs="*", default=["."], help="fixture files or directories (default: .)")
    parser.add_argument(
        "--rules", action="append", default=[], metavar="DIR", help="rules for fixtures without spec.rules (repeatable)"
    )
    parser.add_argument(
        "--crd",
        action="append",
        default=[],
        metavar="FILE",
        help="CRD file or directory for fixtures without spec.crds (repeatable)",
    )
    parser.add_argument(
        "-k",
        dest="select",
        action="append",
        default=[],
        metavar="PATTERN",
        help="run fixtures whose id (file::name) contains PATTERN (or matches it, with * ? [ ])",
    )
    parser.add_argument("--coverage", action="store_true", help="report which rules fired")
    parser.add_argument(
        "--min-coverage", type=_percentage, metavar="N", help="fail when under N%% of the rules fired (0 to 100)"
    )
    parser.add_argument("--require-fixtures", action="store_true", help="fail when no fixture is found")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report to FILE")
    parser.add_argument("-v", "--verbose", action="store_true", help="list the fixtures that passed too")
    parser.add_argument("--no-trace", action="store_true", help="leave evaluation traces out of failures")
    return parser


def _percentage(text: str) -> float:
    """A percentage from 0 to 100: above 100 no run could pass, below 0 every run would, so either is a typo."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 100, found {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"expected a percentage from 0 to 100, found {text}")
    return value


def selected(fixture: Fixture, patterns: Sequence[str]) -> bool:
    """Whether `-k` patterns select the fixture (no pattern: all)."""
    if not patterns:
        return True
    text = fixture.id.lower()
    for pattern in patterns:
        lowered = pattern.lower()
        if any(c in lowered for c in "*?[") and fnmatch.fnmatchcase(text, lowered):
            return True
        if lowered in text:
            return True
    return False


class Progress:
    """`[12/150] file::name` rewritten in place on a terminal, once the run has lasted PROGRESS_AFTER seconds."""

    def __init__(self, output: TextIO, total: int, enabled: bool) -> None:
        self.output = output
        self.total = total
        self.enabled = enabled and output.isatty()
        self.started = time.perf_counter()
        self.shown = False

    def update(self, done: int, current: str) -> None:
        if not self.enabled or time.perf_counter() - self.started < PROGRESS_AFTER:
            return
        self.output.write(f"\r\x1b[K[{done}/{self.total}] {current}"[:200])
        self.output.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.output.write("\r\x1b[K")
            self.output.flush()


async def run_all(fixtures: Sequence[Fixture], progress: Progress | None = None) -> list[FixtureResult]:
    """Run fixtures one after the other, in one event loop."""
    results = []
    for done, fixture in enumerate(fixtures):
        if progress is not None:
            progress.update(done, fixture.id)
        results.append(await Runner(fixture).run())
    if progress is not None:
        progress.clear()
    return results


def run_tests(argv: list[str], *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run `arcane rules test` with these arguments; returns the exit code."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse exits on --help (0) and on bad flags (2)
        return int(stop.code or 0)
    options = LoadOptions(tuple(Path(p).resolve() for p in args.rules), tuple(Path(p).resolve() for p in args.crd))
    started = time.perf_counter()
    suite = load_suite(args.paths, options)
    if suite.problems:
        if args.junit:
            write(problems_xml(suite.problems), Path(args.junit))
        if args.format == "json":
            out.write(problems_json(suite.problems) + "\n")
        else:
            err.write(render_problems(suite.problems) + "\n")
        return EXIT_UNUSABLE
    chosen = [fixture for fixture in suite.fixtures if selected(fixture, args.select)]
    if not chosen:
        where = ", ".join(args.paths)
        why = f"no fixture matches -k {' -k '.join(args.select)}" if suite.fixtures else f"no fixtures found in {where}"
        err.write(f"arcane rules test: {why}\n")
        empty = RunReport((), time.perf_counter() - started, found=len(suite.fixtures))
        if args.junit:
            write(junit_xml(empty), Path(args.junit))  # CI steps that publish the report still find it
        if args.format == "json":
            out.write(render_json(empty) + "\n")
        return EXIT_FAILED if args.require_fixtures else EXIT_OK
    progress = Progress(out, len(chosen), args.format == "text")
    results = asyncio.run(run_all(chosen, progress))
    measured = args.coverage or args.min_coverage is not None
    sources = {id(f.rules): f.rules for f in chosen}.values()
    report = RunReport(
        tuple(results),
        time.perf_counter() - started,
        coverage=measure(sources, results) if measured else None,
        min_coverage=args.min_coverage,
        found=len(suite.fixtures),
    )
    if args.junit:
        write(junit_xml(report), Path(args.junit))
    if args.format == "json":
        out.write(render_json(report) + "\n")
    else:
        out.write(render_text(report, verbose=args.verbose, trace=not args.no_trace) + "\n")
    return EXIT_FAILED if report.failed or report.coverage_too_low else EXIT_OK
