"""JUnit XML for CI systems: one <testsuite> per fixture file, one <testcase> per fixture.

Where this sits: written by `arcane rules test --junit FILE` from the same `RunReport` as the text and JSON
reports. The structure keeps to the schema CI systems validate against (Jenkins xunit's junit-10.xsd,
which GitLab, GitHub Actions reporters and Azure DevOps also read): `testsuites` (name, tests, failures,
errors, time) > `testsuite` (name, tests, failures, errors, skipped, time, timestamp, hostname) >
`testcase` (name, classname, time) > `failure` (message, type; the full text as content) or `error` for
load problems, which are reported as one testcase per file so a CI page shows why nothing ran.
Times are seconds with three decimals. This module writes XML; it decides nothing.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from engine.errors import Problem
from engine.testing.report import RunReport, render_failure

SUITES_NAME = "arcane rules test"


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"


def _classname(file: str) -> str:
    """`tests/fixtures/widget.yaml` -> `tests.fixtures.widget` (CI systems group by dotted class names)."""
    stem = file.rsplit(".", 1)[0] if file.endswith((".yaml", ".yml")) else file
    return stem.replace("/", ".").replace("\\", ".").strip(".")


def junit_xml(report: RunReport, timestamp: datetime | None = None) -> ET.ElementTree[ET.Element]:
    """The run as a JUnit document."""
    stamp = (timestamp or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S")
    host = socket.gethostname()
    root = ET.Element("testsuites")
    by_file: dict[str, list[int]] = {}
    for index, result in enumerate(report.results):
        by_file.setdefault(result.fixture.file, []).append(index)
    for file, indexes in by_file.items():
        results = [report.results[i] for i in indexes]
        suite = ET.SubElement(
            root,
            "testsuite",
            {
                "name": file,
                "tests": str(len(results)),
                "failures": str(sum(1 for r in results if not r.passed)),
                "errors": "0",
                "skipped": "0",
                "time": _seconds(sum(r.duration for r in results)),
                "timestamp": stamp,
                "hostname": host,
            },
        )
        for result in results:
            case = ET.SubElement(
                suite,
                "testcase",
                {"name": result.fixture.name, "classname": _classname(file), "time": _seconds(result.duration)},
            )
            if result.failure is not None:
                failure = ET.SubElement(
                    case, "failure", {"message": result.failure.message, "type": "RuleFixtureFailure"}
                )
                failure.text = render_failure(result)
    root.attrib.update(
        {
            "name": SUITES_NAME,
            "tests": str(len(report.results)),
            "failures": str(len(report.failed)),
            "errors": "0",
            "time": _seconds(report.duration),
        }
    )
    ET.indent(root)
    return ET.ElementTree(root)


def problems_xml(problems: Sequence[Problem], timestamp: datetime | None = None) -> ET.ElementTree[ET.Element]:
    """Load problems as a JUnit document: a testsuite `load`, one erroring testcase per file with problems."""
    stamp = (timestamp or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S")
    by_file: dict[str, list[Problem]] = {}
    for problem in problems:
        by_file.setdefault(problem.location.file or "<input>", []).append(problem)
    root = ET.Element(
        "testsuites",
        {
            "name": SUITES_NAME,
            "tests": str(len(by_file)),
            "failures": "0",
            "errors": str(len(by_file)),
            "time": "0.000",
        },
    )
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": "load",
            "tests": str(len(by_file)),
            "failures": "0",
            "errors": str(len(by_file)),
            "skipped": "0",
            "time": "0.000",
            "timestamp": stamp,
            "hostname": socket.gethostname(),
        },
    )
    for file, found in by_file.items():
        case = ET.SubElement(suite, "testcase", {"name": file, "classname": "load", "time": "0.000"})
        error = ET.SubElement(
            case, "error", {"message": f"{len(found)} problem(s): {found[0].message}", "type": "LoadProblem"}
        )
        error.text = "\n".join(str(p) for p in found)
    ET.indent(root)
    return ET.ElementTree(root)


def write(tree: ET.ElementTree[ET.Element], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tree.write(path, encoding="utf-8", xml_declaration=True)
