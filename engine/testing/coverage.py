"""Rule coverage of a fixture run: per rule file, which rules fired in at least one step, and per first-match
group, which rules were never even reached.

Where this sits: after the runner, next to the reports. A rule *fired* when it made a decision that was not
an error; it was *reached* when its condition was evaluated (not skipped for its state, not shadowed by an
earlier rule of a first-match group). Rules are told apart by (file, name), so fixtures testing the same
files through different rule directories add up. The percentage is fired rules over all rules of every
rule set the run's fixtures test. This module counts; it runs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from engine.spec.ruleset import Match
from engine.testing.fixture import RuleSource, display_path
from engine.testing.results import FixtureResult


@dataclass(frozen=True, slots=True)
class RuleCoverage:
    name: str
    document: str
    group: str
    first_match: bool
    line: int
    fired: bool
    reached: bool


@dataclass(frozen=True, slots=True)
class FileCoverage:
    file: str
    rules: tuple[RuleCoverage, ...]

    @property
    def fired(self) -> int:
        return sum(1 for rule in self.rules if rule.fired)

    @property
    def percent(self) -> float:
        return percent(self.fired, len(self.rules))

    def never_fired(self) -> list[RuleCoverage]:
        return [rule for rule in self.rules if not rule.fired]

    def never_reached(self) -> dict[str, list[str]]:
        """For each first-match group (`document/group`), the rules whose condition was never evaluated."""
        out: dict[str, list[str]] = {}
        for rule in self.rules:
            if rule.first_match and not rule.reached:
                out.setdefault(f"{rule.document}/{rule.group}", []).append(rule.name)
        return out


@dataclass(frozen=True, slots=True)
class Coverage:
    files: tuple[FileCoverage, ...]

    @property
    def total(self) -> int:
        return sum(len(f.rules) for f in self.files)

    @property
    def fired(self) -> int:
        return sum(f.fired for f in self.files)

    @property
    def percent(self) -> float:
        return percent(self.fired, self.total)


def percent(part: int, whole: int) -> float:
    """`part` of `whole` in percent, rounded to one decimal (a run with no rules is fully covered)."""
    return round(100.0 * part / whole, 1) if whole else 100.0


def measure(sources: Iterable[RuleSource], results: Iterable[FixtureResult]) -> Coverage:
    """The coverage of the rules of `sources` by the fixture results."""
    fired: set[tuple[str, str]] = set()
    reached: set[tuple[str, str]] = set()
    for result in results:
        fired |= result.fired
        reached |= result.reached
    by_file: dict[str, dict[str, RuleCoverage]] = {}
    for source in sources:
        for document, group, rule in source.ruleset.rules():
            key = (rule.location.file, rule.name)
            by_file.setdefault(rule.location.file, {})[rule.name] = RuleCoverage(
                name=rule.name,
                document=document.name,
                group=group.name,
                first_match=group.match is Match.FIRST,
                line=rule.location.line,
                fired=key in fired,
                reached=key in reached or key in fired,
            )
    files = [
        FileCoverage(display_path(file), tuple(sorted(rules.values(), key=lambda r: r.line)))
        for file, rules in sorted(by_file.items())
    ]
    return Coverage(tuple(files))


def render_coverage(coverage: Coverage) -> str:
    """Coverage as text: a line per file, then the rules that never fired and the groups' unreached rules."""
    lines = [f"rule coverage: {coverage.fired}/{coverage.total} rules fired ({coverage.percent:.1f}%)"]
    for file in coverage.files:
        lines.append(f"  {file.file}: {file.fired}/{len(file.rules)} ({file.percent:.1f}%)")
        missing = file.never_fired()
        if missing:
            lines.append("    never fired: " + ", ".join(f"{r.name} (line {r.line})" for r in missing))
        for group, names in file.never_reached().items():
            lines.append(f"    never reached in first-match group {group}: {', '.join(names)}")
    return "\n".join(lines)


def coverage_json(coverage: Coverage) -> dict[str, object]:
    return {
        "total": coverage.total,
        "fired": coverage.fired,
        "percent": coverage.percent,
        "files": [
            {
                "file": file.file,
                "total": len(file.rules),
                "fired": file.fired,
                "percent": file.percent,
                "rules": [
                    {
                        "name": r.name,
                        "document": r.document,
                        "group": r.group,
                        "line": r.line,
                        "fired": r.fired,
                        "reached": r.reached,
                    }
                    for r in file.rules
                ],
                "neverReached": file.never_reached(),
            }
            for file in coverage.files
        ],
    }
