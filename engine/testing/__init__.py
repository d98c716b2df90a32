"""`arcane rules test`: fixtures, an in-memory cluster, the runner, coverage and reports.

    fixture files ─▶ load (schema, steps, rule sets compiled once) ─▶ Suite
                                                                      │
    Runner: given objects ─▶ MemoryCluster ◀─ Executor ◀─ evaluate ◀─ steps ─▶ expect ─▶ FixtureResult
                                                                                           │
                                          text / JSON / JUnit reports, coverage ◀──────────┘

The command is `engine.testing.command.run_tests`; the pytest integration is
`engine.testing.pytest_plugin` (imported on its own: it needs pytest). The fixture format is documented in
docs/testing-rules.md.
"""

from engine.testing.coverage import Coverage, measure
from engine.testing.fixture import API_VERSION, KIND, Fixture, Step, StepKind
from engine.testing.load import LoadOptions, Suite, load_suite
from engine.testing.memory import MemoryCluster
from engine.testing.results import Failure, FixtureResult, Status
from engine.testing.runner import Runner, run_fixture

__all__ = [
    "API_VERSION",
    "KIND",
    "Coverage",
    "Failure",
    "Fixture",
    "FixtureResult",
    "LoadOptions",
    "MemoryCluster",
    "Runner",
    "Status",
    "Step",
    "StepKind",
    "Suite",
    "load_suite",
    "measure",
    "run_fixture",
]
