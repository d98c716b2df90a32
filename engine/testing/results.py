"""What running fixtures produced: per step, what happened (`StepRecord`); per fixture, the verdict.

Where this sits: engine.testing.runner fills a `StepRecord` while it carries out a step, engine.testing.expect
compares it with the step's expectation and returns a `Failure`, and the runner wraps everything up as a
`FixtureResult` that the reports (text, JSON, JUnit) and the coverage read. Records only; no logic beyond
naming things.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from engine.core.evaluate import Evaluation
from engine.errors import Location
from engine.model import Action, Obj
from engine.testing.fixture import Fixture, Step

ON_ERROR = ":onError"
"""The suffix of the rule name of a document's onError decision (it reports another rule's error)."""


class Status(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Evaluated:
    """One evaluation made during a step: of which object, and what the engine returned."""

    key: str
    evaluation: Evaluation


@dataclass(frozen=True, slots=True)
class ErrorRecord:
    """An error decision: of evaluation (a rule's expression or requirement) or of execution (an API error)."""

    rule: str
    message: str
    key: str


@dataclass(slots=True)
class StepRecord:
    """Everything a step did, as the runner saw it."""

    step: Step
    evaluations: list[Evaluated] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)
    actions: list[tuple[str, Action]] = field(default_factory=list)
    errors: list[ErrorRecord] = field(default_factory=list)
    events: list[Obj] = field(default_factory=list)
    rounds: int = 0
    settled: bool = True
    still_writing: list[str] = field(default_factory=list)
    problem: str = ""
    """Set when the step could not be carried out at all (an object it names does not exist, ...)."""


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a fixture failed: at which step, a one-line message, details (why-not, diff), and the trace."""

    step: int
    title: str
    message: str
    details: tuple[str, ...] = ()
    trace: str = ""
    location: Location = field(default_factory=Location)

    def render(self, trace: bool = True) -> str:
        """The failure as indented text: title, message, details, then the trace."""
        lines = [f"{self.title}:", *_indent(self.message)]
        for detail in self.details:
            lines.extend(_indent(detail))
        if trace and self.trace:
            lines.append("  trace:")
            lines.extend(_indent(self.trace, 4))
        return "\n".join(lines)


def _indent(text: str, by: int = 2) -> list[str]:
    return [" " * by + line if line else "" for line in text.splitlines()]


@dataclass(frozen=True, slots=True)
class FixtureResult:
    """The verdict on one fixture. `observed` is the failure its steps produced; for a must-fail fixture
    `failure` is None when `observed` carries the expected message, and says so when it does not."""

    fixture: Fixture
    status: Status
    failure: Failure | None
    observed: Failure | None
    steps_run: int
    duration: float
    fired: frozenset[tuple[str, str]] = frozenset()
    """(rule file, rule name) of every rule that fired in some step."""
    reached: frozenset[tuple[str, str]] = frozenset()
    """(rule file, rule name) of every rule whose condition was evaluated in some step."""

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED
