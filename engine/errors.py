"""The exception tree of the engine.

    EngineError
    ├── RuleSetError            a rule set could not be loaded; carries every Problem found
    ├── ExpressionError         an expression failed while evaluating (becomes an error decision)
    └── ApiError                a Kubernetes API call failed (status, reason, message, retry_after)

Rule errors found while evaluating are results, not crashes: the evaluator catches ExpressionError
and returns an error decision; the executor maps ApiError to a queue outcome.
"""

from __future__ import annotations

from dataclasses import dataclass


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""


@dataclass(frozen=True, slots=True)
class Location:
    """Where a problem is: file, 1-based line and column (0 when unknown), and the field path inside it."""

    file: str = ""
    line: int = 0
    column: int = 0
    path: str = ""

    def __str__(self) -> str:
        where = self.file or "<input>"
        if self.line:
            where += f":{self.line}"
            if self.column:
                where += f":{self.column}"
        return f"{where}: {self.path}" if self.path else where


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a rule set: where, what was expected, what was found."""

    location: Location
    message: str
    code: str = ""

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class RuleSetError(EngineError):
    """A rule set could not be loaded. `problems` lists all of them, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ExpressionError(EngineError):
    """An expression failed at evaluation time (type error, bad argument to a function)."""

    located = False
    """The message already names what failed and where (a fact's key and file:line, a name that needs itself)."""


class ApiError(EngineError):
    """A Kubernetes API call failed."""

    def __init__(self, status: int, reason: str = "", message: str = "", retry_after: float | None = None) -> None:
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after
        super().__init__(f"{status} {reason}: {message}" if reason else f"{status}: {message}")
