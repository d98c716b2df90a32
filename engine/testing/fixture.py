"""The fixture model: what a loaded `RuleTest` document is, as frozen records.

Where this sits: `engine.testing.load` turns fixture files into these records (after the schema and every
semantic check passed, with the rule set compiled); `engine.testing.runner` executes them. Nothing here
reads files or runs anything. The YAML format itself is documented in docs/testing-rules.md.

    Fixture ── rules (a compiled RuleSet), CRDs, clock, given objects
       └── Step* ── one of: evaluate | settle | apply | patch | delete | complete | fail | advance
              └── Expectation? ── nothing | fired, actions, error, objects, absent, events (+ exact)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from engine.errors import Location
from engine.expr import rfc3339
from engine.model import JSON, Obj
from engine.spec.ruleset import RuleSet

API_VERSION = "tests.arcane.dev/v1alpha1"
KIND = "RuleTest"
DEFAULT_NAMESPACE = "default"
DEFAULT_MAX_ROUNDS = 50
DEFAULT_CLOCK = "2026-01-01T00:00:00Z"


class StepKind(enum.StrEnum):
    """What a step does. The first two run the rules; the others change the world."""

    EVALUATE = "evaluate"
    SETTLE = "settle"
    APPLY = "apply"
    PATCH = "patch"
    DELETE = "delete"
    COMPLETE = "complete"
    FAIL = "fail"
    ADVANCE = "advance"

    @property
    def runs_rules(self) -> bool:
        return self in (StepKind.EVALUATE, StepKind.SETTLE)


class ActionVerb(enum.StrEnum):
    """The keys of an expected action, one per kind of `engine.model` action."""

    CREATE = "create"
    DELETE = "delete"
    PATCH = "patch"
    STATUS = "status"
    EVENT = "event"


@dataclass(frozen=True, slots=True)
class Selector:
    """One object named by a step or an expectation. `api_version` "" matches any version of the kind;
    `namespace` None means the default (`default`, or none for cluster-scoped kinds)."""

    kind: str
    name: str
    namespace: str | None = None
    api_version: str = ""

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind}/{where}"


@dataclass(frozen=True, slots=True)
class ErrorExpectation:
    """An error decision that must occur: its message contains `message`; made by `rule` when given."""

    message: str
    rule: str = ""


@dataclass(frozen=True, slots=True)
class Expectation:
    """What must hold after a step. `nothing`: no action and no error at all. Lists are matched in order;
    with `exact`, `fired`, `actions` and `events` must be exactly the ones given (objects stay partial)."""

    nothing: bool = False
    exact: bool = False
    fired: tuple[str, ...] = ()
    actions: tuple[JSON, ...] = ()
    error: ErrorExpectation | None = None
    objects: tuple[Obj, ...] = ()
    absent: tuple[Selector, ...] = ()
    events: tuple[JSON, ...] = ()
    location: Location = field(default_factory=Location)


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a fixture; only the fields of its kind are set."""

    index: int
    kind: StepKind
    name: str = ""
    target: Selector | None = None
    body: Obj | None = None
    """`apply`: the object; `patch`: the merge patch."""
    seconds: float = 0.0
    max_rounds: int = DEFAULT_MAX_ROUNDS
    expect: Expectation | None = None
    location: Location = field(default_factory=Location)

    @property
    def label(self) -> str:
        """`evaluate Widget/default/w1`, `advance 90s`, `settle`: what the step does, for reports."""
        if self.kind is StepKind.SETTLE:
            return "settle"
        if self.kind is StepKind.ADVANCE:
            return f"advance {self.seconds:g}s"
        if self.kind is StepKind.APPLY and self.body is not None:
            meta = self.body.get("metadata") or {}
            return f"apply {self.body.get('kind')}/{meta.get('name')}"
        return f"{self.kind.value} {self.target}"

    @property
    def title(self) -> str:
        named = f" `{self.name}`" if self.name else ""
        return f"step {self.index}{named} ({self.label}, line {self.location.line})"


@dataclass(frozen=True, slots=True)
class RuleSource:
    """The rules a fixture tests: resolved paths, CRD files, and the compiled rule set."""

    paths: tuple[Path, ...]
    crd_paths: tuple[Path, ...]
    ruleset: RuleSet
    crds: tuple[Obj, ...]

    @property
    def label(self) -> str:
        return ", ".join(_display(path) for path in self.paths)


@dataclass(frozen=True, slots=True)
class Fixture:
    """One `RuleTest` document, loaded and checked."""

    name: str
    file: str
    description: str
    rules: RuleSource
    clock: datetime
    given: tuple[Obj, ...]
    steps: tuple[Step, ...]
    must_fail: str = ""
    location: Location = field(default_factory=Location)

    @property
    def id(self) -> str:
        """`path/to/file.yaml::name`: unique in a run, used by -k, JUnit and pytest ids."""
        return f"{self.file}::{self.name}"


def _display(path: Path) -> str:
    """A path relative to the working directory when it is below it, else as it is."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def display_path(path: Path | str) -> str:
    return _display(Path(path).absolute())


def list_items(body: Any) -> list[Any] | None:
    """The items of a list document, None for anything else. `kubectl get ... -o yaml` writes several objects
    as `kind: List` with `items`; an API server's typed list (`WidgetList`) leaves apiVersion and kind out
    of its items, so they get the list's. A list has no `metadata.name`, which tells it from an object whose
    kind merely ends in `List`."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        return None
    kind, meta = body.get("kind"), body.get("metadata")
    if not isinstance(kind, str) or not kind.endswith("List") or (isinstance(meta, dict) and meta.get("name")):
        return None
    if kind == "List":
        return list(body["items"])
    implied = {"apiVersion": body.get("apiVersion"), "kind": kind.removesuffix("List")}
    return [{**implied, **item} if isinstance(item, dict) else item for item in body["items"]]


def plain(value: Any) -> Any:
    """YAML values as JSON: timestamps become RFC 3339 text (as the API server stores them), dates ISO text."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return rfc3339(value if value.tzinfo is not None else value.replace(tzinfo=UTC))
    if isinstance(value, date):
        return value.isoformat()
    return value
