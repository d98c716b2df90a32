"""Fixture files -> checked `Fixture` records, with every problem of every file reported before anything runs.

Where this sits: the first stage of `arcane rules test` (load -> run -> report). Files are found (explicit
files, or `*.yaml` files under directories that declare `RuleTest` documents), parsed with positions and
safely (engine.spec.loader), shape-checked (engine.testing.schema), then checked for meaning
(engine.testing.steps), and their rule sets compiled once per distinct set of paths. Problems carry
file:line:column. This module runs no rule and touches no cluster.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from engine.errors import Location, Problem, RuleSetError
from engine.model import Obj
from engine.spec import compile_ruleset
from engine.spec.loader import (
    MAX_FILE_BYTES,
    Document,
    Positions,
    _Builder,  # the safe, position-keeping builder (see _compose_fast)
    load_paths,
    load_texts,
    rule_files,
)
from engine.spec.schema import validate
from engine.testing.fixture import DEFAULT_CLOCK, Fixture, RuleSource, display_path, list_items, plain
from engine.testing.schema import DOCUMENT, STEP, conforms, narrow
from engine.testing.steps import StepReader

_DECLARES = re.compile(rb"^\s*(apiVersion:\s*[\"']?tests\.arcane\.dev/|kind:\s*[\"']?RuleTest\b)", re.M)
CRD_API = "apiextensions.k8s.io/v1"


_COMPILED: dict[str, RuleSource] = {}
"""Rule sets compiled in this process, by the content of their files: a run compiles each rule set once, and
a test session (the pytest integration loads at collection, the runner's own tests load many times) does
too. Keyed by content, so an edited rule file is compiled again."""
_COMPILED_MAX = 16


def _fingerprint(paths: Iterable[Path]) -> str:
    """A digest of the names and contents of the files under `paths` ("" when one cannot be read)."""
    digest = hashlib.sha256()
    for path in paths:
        files = rule_files(path) if path.is_dir() else [path]
        for file in files:
            try:
                digest.update(str(file).encode() + b"\0" + file.read_bytes() + b"\0")
            except OSError:
                return ""
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """Defaults for fixtures that do not name their rules or CRDs (the command's --rules and --crd)."""

    rules: tuple[Path, ...] = ()
    crds: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True)
class Suite:
    """What loading found: the fixtures (in file order), the files searched, and every problem."""

    fixtures: tuple[Fixture, ...]
    files: tuple[str, ...]
    problems: tuple[Problem, ...]

    @property
    def rule_sources(self) -> tuple[RuleSource, ...]:
        """Each distinct rule set the fixtures test, once."""
        seen: dict[int, RuleSource] = {}
        for fixture in self.fixtures:
            seen.setdefault(id(fixture.rules), fixture.rules)
        return tuple(seen.values())


def discover(paths: Iterable[Path | str]) -> tuple[list[tuple[str, bytes]], list[Problem]]:
    """Fixture files: named files as they are; under directories, YAML files declaring RuleTest documents."""
    found: list[tuple[str, bytes]] = []
    problems: list[Problem] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        if path.is_file():
            if path.resolve() not in seen:
                seen.add(path.resolve())
                found.append((display_path(path), path.read_bytes()))
        elif path.is_dir():
            for candidate in _yaml_files(path):
                data = candidate.read_bytes()
                if candidate.resolve() not in seen and _DECLARES.search(data):
                    seen.add(candidate.resolve())
                    found.append((display_path(candidate), data))
        else:
            problems.append(Problem(Location(str(path)), "no such file or directory", "missing"))
    return found, problems


def _yaml_files(directory: Path) -> list[Path]:
    out: list[Path] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(Path(root, f) for f in sorted(files) if f.endswith((".yaml", ".yml")) and not f.startswith("."))
    return out


def load_suite(paths: Sequence[Path | str], options: LoadOptions | None = None) -> Suite:
    """Find, parse and check every fixture under `paths`; compile each distinct rule set once."""
    texts, problems = discover(paths)
    loader = _Loader(options or LoadOptions(), problems)
    fixtures = loader.load(texts)
    ordered = sorted(problems, key=lambda p: (p.location.file, p.location.line, p.location.column, p.message))
    unique = list(dict.fromkeys(ordered))
    return Suite(tuple(fixtures), tuple(name for name, _ in texts), tuple(unique))


@dataclass(slots=True)
class _Loader:
    options: LoadOptions
    problems: list[Problem]
    rulesets: dict[tuple[tuple[Path, ...], tuple[Path, ...]], RuleSource | None] = field(default_factory=dict)
    crds: dict[Path, list[Obj]] = field(default_factory=dict)
    includes: dict[Path, list[Document]] = field(default_factory=dict)

    def load(self, texts: list[tuple[str, bytes]]) -> list[Fixture]:
        for path in self.options.crds:  # read even when every fixture names its own: a bad --crd is still bad
            self._crds_of(path)
        fixtures: list[Fixture] = []
        for name, data in texts:
            documents = self._parse(name, data)
            seen: dict[str, int] = {}
            for document in documents:
                fixture = self._fixture(document)
                if fixture is None:
                    continue
                if fixture.name in seen:
                    self.problems.append(
                        Problem(
                            fixture.location,
                            f"fixture name `{fixture.name}` is already used at line {seen[fixture.name]}",
                            "duplicate",
                        )
                    )
                    continue
                seen[fixture.name] = fixture.location.line
                fixtures.append(fixture)
        return fixtures

    def _fixture(self, document: Document) -> Fixture | None:
        """One document as a Fixture; None when it has problems. Each step is shape-checked on its own, so a
        bad step hides nothing about the others."""
        positions = document.positions
        shape = _shape(document.body, DOCUMENT, positions, ())
        self.problems.extend(shape)
        body = document.body
        spec = body.get("spec") if isinstance(body, dict) else None
        if not isinstance(spec, dict) or not isinstance(spec.get("steps"), list):
            return None
        base = Path(document.file).absolute().parent
        rules = self._rules(spec, base, positions) if not _at(shape, "spec.rules", "spec.crds") else None
        clock = self._clock(spec.get("clock"), positions) if not _at(shape, "spec.clock") else None
        given = self._given(spec.get("given"), base, positions) if not _at(shape, "spec.given") else None
        reader = StepReader(rules.ruleset if rules else None, positions, base, self.problems, self._objects_of)
        steps = []
        for index, raw in enumerate(spec["steps"]):
            where = ("spec", "steps", index)
            problems = _shape(raw, STEP["schema"], positions, where) if isinstance(raw, dict) else []
            self.problems.extend(problems)
            steps.append(reader.step(index, raw) if isinstance(raw, dict) and not problems else None)
        if shape or rules is None or clock is None or given is None or any(step is None for step in steps):
            return None
        return Fixture(
            name=body["metadata"]["name"],
            file=document.file,
            description=str(body["metadata"].get("description", "")),
            rules=rules,
            clock=clock,
            given=tuple(given),
            steps=tuple(step for step in steps if step is not None),
            must_fail=str(spec.get("mustFail", "")),
            location=positions.at(()),
        )

    def _parse(self, name: str, data: bytes) -> list[Document]:
        """A file's documents with positions: composed by libyaml when it is there (ten times faster than
        PyYAML's Python parser, and the same node tree), built by engine.spec.loader; any problem, and the
        files libyaml cannot take, go through engine.spec.loader itself, whose messages are the reference."""
        fast = _compose_fast(name, data)
        if fast is not None:
            return fast
        source = load_texts([(name, data)])
        self.problems.extend(source.problems)
        return source.documents

    # --- rules and CRDs ---------------------------------------------------------------------------------

    def _rules(self, spec: dict[str, Any], base: Path, positions: Positions) -> RuleSource | None:
        rules = _paths(spec.get("rules"), base) or self.options.rules
        crd_paths = _paths(spec.get("crds"), base) if "crds" in spec else self.options.crds
        where = positions.at(("spec", "rules") if "rules" in spec else ("spec",))
        if not rules:
            self.problems.append(Problem(where, "no rules to test: set `spec.rules` or pass --rules", "rules"))
            return None
        key = (tuple(rules), tuple(crd_paths))
        if key not in self.rulesets:
            self.rulesets[key] = self._compile(key[0], key[1], where)
        elif self.rulesets[key] is None:
            self.problems.append(Problem(where, "the rules under test do not compile (problems above)", "rules"))
        return self.rulesets[key]

    def _compile(self, rules: tuple[Path, ...], crd_paths: tuple[Path, ...], where: Location) -> RuleSource | None:
        fingerprint = _fingerprint((*rules, *crd_paths))
        cached = _COMPILED.get(fingerprint) if fingerprint else None
        if cached is not None:
            return cached
        crds: list[Obj] = []
        before = len(self.problems)
        for path in crd_paths:
            crds.extend(self._crds_of(path))
        try:
            ruleset = compile_ruleset(rules, crds)
        except RuleSetError as error:
            self.problems.extend(error.problems)
            self.problems.append(Problem(where, "the rules under test do not compile (problems above)", "rules"))
            return None
        source = RuleSource(rules, crd_paths, ruleset, tuple(crds))
        if fingerprint and len(self.problems) == before:
            if len(_COMPILED) >= _COMPILED_MAX:
                _COMPILED.pop(next(iter(_COMPILED)))
            _COMPILED[fingerprint] = source
        return source

    def _crds_of(self, path: Path) -> list[Obj]:
        """The CRDs of a file or directory, read once per run."""
        if path not in self.crds:
            self.crds[path] = self._crd_file(path)
        return self.crds[path]

    def _crd_file(self, path: Path) -> list[Obj]:
        if path.is_dir() and not rule_files(path):  # the loader's own message speaks of rule files
            self.problems.append(Problem(Location(str(path)), "no CRD files (*.yaml, *.yml) in this directory", "crd"))
            return []
        source = load_paths([path])
        self.problems.extend(source.problems)
        out: list[Obj] = []
        others = 0
        for document in source.documents:
            body = document.body
            if not (isinstance(body, dict) and body.get("kind") == "CustomResourceDefinition"):
                others += 1  # passed over, as `rules lint --crd` does (a chart's crds/ may hold a Namespace)
                continue
            if body.get("apiVersion") != CRD_API:
                self.problems.append(
                    Problem(
                        document.positions.at(("apiVersion",)),
                        f"expected apiVersion {CRD_API}, found {body.get('apiVersion')!r}",
                        "crd",
                    )
                )
                continue
            out.append(plain(body))
        if others and not out and not source.problems:
            what = "directory" if path.is_dir() else "file"
            self.problems.append(Problem(Location(str(path)), f"no CustomResourceDefinition in this {what}", "crd"))
        return out

    # --- clock and objects ------------------------------------------------------------------------------

    def _clock(self, value: Any, positions: Positions) -> datetime | None:
        text = plain(value) if value is not None else DEFAULT_CLOCK
        try:
            moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        except ValueError:
            self.problems.append(
                Problem(positions.at(("spec", "clock")), f"expected an RFC 3339 time, found {text!r}", "clock")
            )
            return None
        if moment.tzinfo is None:
            self.problems.append(
                Problem(positions.at(("spec", "clock")), f"the time {text!r} needs a zone (e.g. Z)", "clock")
            )
            return None
        return moment

    def _given(self, items: Any, base: Path, positions: Positions) -> list[Obj] | None:
        out: list[Obj] = []
        before = len(self.problems)
        for index, item in enumerate(items or []):
            out.extend(self._objects_of(item, base, positions, ("spec", "given", index)))
        return out if len(self.problems) == before else None

    def _objects_of(self, item: dict[str, Any], base: Path, positions: Positions, path: tuple[Any, ...]) -> list[Obj]:
        """An inline object, or the objects of `{file: ...}`; each checked to be a Kubernetes object."""
        if "file" in item and len(item) == 1:
            target = (base / str(item["file"])).resolve()
            if target not in self.includes:
                fast = _compose_fast(display_path(target), target.read_bytes()) if target.is_file() else None
                if fast is None:
                    source = load_paths([target])
                    for problem in source.problems:
                        self.problems.append(_included(problem, target, positions.at((*path, "file"))))
                    fast = source.documents
                self.includes[target] = fast
            found: list[Obj] = []
            for document in self.includes[target]:
                found.extend(_objects_in(document, self.problems))
            return found
        obj = _object(item, positions, path, self.problems)
        return [obj] if obj is not None else []


def _included(problem: Problem, target: Path, where: Location) -> Problem:
    """A problem of an included file as a whole (missing, empty, binary) is placed at the `file:` that names
    it, and says which file that was once resolved; one inside the file keeps its own place."""
    if problem.location.line:
        return problem
    return Problem(where, f"{display_path(target)}: {problem.message}", problem.code)


def _objects_in(document: Document, problems: list[Problem]) -> list[Obj]:
    """The objects of an included document: itself, or the items of a list (`kubectl get -o yaml` writes
    `kind: List`)."""
    items = list_items(document.body)
    if items is None:
        obj = _object(document.body, document.positions, (), problems)
        return [obj] if obj is not None else []
    found = (_object(item, document.positions, ("items", index), problems) for index, item in enumerate(items))
    return [obj for obj in found if obj is not None]


def _shape(body: Any, schema: dict[str, Any], positions: Positions, base: tuple[Any, ...]) -> list[Problem]:
    """Shape problems of `body`: none when it plainly conforms, else cerberus's verdict, located."""
    if conforms(body, schema):
        return []
    return validate(body, narrow(schema, body), positions, base)


def _compose_fast(name: str, data: bytes) -> list[Document] | None:
    """Documents through libyaml, or None to let engine.spec.loader parse (and report on) the file."""
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is None or len(data) > MAX_FILE_BYTES:
        return None
    try:
        text = data.decode("utf-8")
        if "\x00" in text:
            return None
        documents = []
        lines = text.splitlines()
        for index, node in enumerate(yaml.compose_all(text, Loader=loader)):
            if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
                continue
            positions = Positions(name)
            if hasattr(positions, "lines"):  # newer loaders place columns inside strings with the source lines
                positions.lines = lines
            documents.append(Document(name, index, _Builder(positions).build(node, ()), positions))
    except (UnicodeDecodeError, yaml.YAMLError):
        return None
    return documents or None


def _at(problems: list[Problem], *paths: str) -> bool:
    """Whether a problem is at (or under) one of the dotted paths."""
    return any(
        p.location.path == path or p.location.path.startswith((f"{path}.", f"{path}["))
        for p in problems
        for path in paths
    )


def _paths(value: Any, base: Path) -> tuple[Path, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    return tuple((base / str(item)).resolve() for item in items)


def _object(body: Any, positions: Positions, path: tuple[Any, ...], problems: list[Problem]) -> Obj | None:
    """A Kubernetes object (apiVersion, kind, metadata.name), as JSON; a located problem otherwise."""
    if not isinstance(body, dict):
        problems.append(Problem(positions.at(path), f"expected an object, found {type(body).__name__}", "object"))
        return None
    missing = [key for key in ("apiVersion", "kind") if not isinstance(body.get(key), str) or not body.get(key)]
    meta = body.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta.get("name"):
        missing.append("metadata.name")
    if missing:
        problems.append(Problem(positions.at(path), f"an object needs {', '.join(missing)}", "object"))
        return None
    return plain(body)  # type: ignore[no-any-return]
