"""Running one fixture: build its world, carry out its steps in order, check each one, return the verdict.

Where this sits: after loading (engine.testing.load), before reporting. Rule steps call the real evaluator
(engine.core.evaluate) on objects of a `MemoryCluster` and execute the decisions with the real `Executor`,
so later steps see the effects of earlier ones; a failed write runs the document's `onError`
(`report_error`), as the operator does. `settle` repeats rounds (every object some document evaluates,
evaluated once, decisions executed) until a round writes nothing but Events, or the bound is hit. The first
failing step ends the fixture: later steps would only report consequences. Checking a step against its
expectation is engine.testing.expect; this module only runs and records.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass

from engine.core.evaluate import Evaluation, Lookup, Snapshot, evaluate, report_error
from engine.core.execute import Executor
from engine.core.targets import Binding, bindings_for, bindings_of, in_scope
from engine.core.trace import GroupTrace
from engine.model import GVK, Decision, Obj, ObjectKey
from engine.testing.expect import check
from engine.testing.fixture import Fixture, Step, StepKind
from engine.testing.match import action_text
from engine.testing.memory import MemoryCluster
from engine.testing.results import ON_ERROR, ErrorRecord, Evaluated, Failure, FixtureResult, Status, StepRecord
from engine.testing.world import Clock, StepError, World

EVENT = GVK("", "v1", "Event")


@dataclass(frozen=True, slots=True)
class _Read:
    """What an evaluation in a settle step read, and where the journal stood when it started."""

    position: int
    lookups: frozenset[Lookup]


def object_key(obj: Obj) -> ObjectKey:
    meta = obj.get("metadata") or {}
    return ObjectKey(GVK.of_object(obj), str(meta.get("namespace") or ""), str(meta.get("name") or ""))


class Runner:
    """Runs one fixture. Create one per run: it owns the fixture's world."""

    def __init__(self, fixture: Fixture) -> None:
        self.fixture = fixture
        self.ruleset = fixture.rules.ruleset
        self.clock = Clock(fixture.clock)
        cluster = MemoryCluster(self.clock.text, seed=fixture.name)  # generated uids do not depend on paths
        for crd in fixture.rules.crds:
            cluster.learn(crd)
        self.world = World(cluster, self.clock)
        self.executor = Executor(cluster, component="arcane-rules-test", now=self.clock.text)
        self.files = {rule.name: rule.location.file for _doc, _group, rule in self.ruleset.rules()}
        self.fired: set[tuple[str, str]] = set()
        self.reached: set[tuple[str, str]] = set()
        self.sources = frozenset(
            Lookup(doc.target.dynamic.source.gvk, None, None) for doc in self.ruleset.documents if doc.target.dynamic
        )
        """Reads every evaluation makes implicitly: the source objects that name dynamic kinds."""

    @property
    def cluster(self) -> MemoryCluster:
        return self.world.cluster

    async def run(self) -> FixtureResult:
        started = time.perf_counter()
        observed: Failure | None = None
        steps_run = 0
        for obj in self.fixture.given:
            self.world.put_given(obj)
        for step in self.fixture.steps:
            steps_run += 1
            record = await self.step(step)
            observed = check(step, record, self.world, self.ruleset)
            if observed is not None:
                break
        failure = _verdict(self.fixture, observed)
        return FixtureResult(
            fixture=self.fixture,
            status=Status.FAILED if failure else Status.PASSED,
            failure=failure,
            observed=observed,
            steps_run=steps_run,
            duration=time.perf_counter() - started,
            fired=frozenset(self.fired),
            reached=frozenset(self.reached),
        )

    async def step(self, step: Step) -> StepRecord:
        """Carry out one step and record what happened (the expectation is not looked at here)."""
        record = StepRecord(step)
        journal_start = len(self.cluster.journal)
        try:
            if step.kind is StepKind.EVALUATE:
                assert step.target is not None
                await self._evaluate_one(self.world.resolve(step.target), record)
            elif step.kind is StepKind.SETTLE:
                await self._settle(step, record)
            else:
                self.world.change(step)
        except StepError as error:
            record.problem = str(error)
        record.events = [
            write.obj
            for write in self.cluster.journal[journal_start:]
            if write.verb in ("create", "patch") and GVK.of_object(write.obj) == EVENT
        ]
        return record

    async def _evaluate_one(self, obj: Obj, record: StepRecord) -> None:
        gvk = GVK.of_object(obj)
        if not bindings_of(self.ruleset, obj, self.cluster):
            scoped = " (the documents of its kind leave it out: see their for.namespaces and for.labelSelector)"
            raise StepError(
                f"no document of the rules evaluates {object_key(obj)}"
                + (scoped if bindings_for(self.ruleset, gvk, self.cluster) else "")
                + f" (evaluated kinds: {', '.join(self._evaluated_kinds()) or 'none'})"
            )
        await self._evaluate(obj, record)

    def _evaluated_kinds(self) -> list[str]:
        kinds = {gvk for gvk, _namespace, _name in self.cluster.objects}
        return sorted(str(gvk) for gvk in kinds if bindings_for(self.ruleset, gvk, self.cluster))

    async def _settle(self, step: Step, record: StepRecord) -> None:
        """Rounds until one writes nothing but Events. The first round evaluates every object some document
        evaluates; later rounds skip an object when neither it nor anything its last evaluation read has
        changed since (its decisions would be the same: evaluation is pure, and the clock stands still
        during a step). That is also what the operator does: it re-evaluates on changes, not on a timer."""
        last: dict[ObjectKey, _Read] = {}
        for round_number in range(1, step.max_rounds + 1):
            record.rounds = round_number
            targets = self._targets()
            if not targets:
                raise StepError("no object in the cluster is evaluated by the rules, so there is nothing to settle")
            writers: list[str] = []
            for key in targets:
                obj = self.cluster.get(key.gvk, key.namespace, key.name)
                if obj is None or (key in last and not self._changed(key, last[key])):
                    continue
                position = len(self.cluster.journal)
                evaluation, wrote = await self._evaluate(obj, record)
                last[key] = _Read(position, frozenset(evaluation.lookups) | self.sources)
                writers.extend(wrote)
            if not writers:
                record.settled = True
                return
            record.still_writing = writers
        record.settled = False

    def _changed(self, key: ObjectKey, read: _Read) -> bool:
        """Whether a write since `read.position` touched the object or anything its evaluation read."""
        for write in self.cluster.journal[read.position :]:
            written = object_key(write.obj)
            if written == key:
                return True
            scoped = self.cluster.namespaced(written.gvk)
            for lookup in read.lookups:
                if lookup.gvk != written.gvk:
                    continue
                same_namespace = not scoped or lookup.namespace is None or lookup.namespace == written.namespace
                if same_namespace and (lookup.name is None or lookup.name == written.name):
                    return True
        return False

    def _targets(self) -> list[ObjectKey]:
        """Every object some document evaluates, in a stable order (kind, namespace, name)."""
        keys = sorted(self.cluster.objects)
        evaluated: dict[GVK, list[Binding]] = {}
        out: list[ObjectKey] = []
        for key in keys:
            gvk = key[0]
            if gvk not in evaluated:
                evaluated[gvk] = bindings_for(self.ruleset, gvk, self.cluster)
            obj = self.cluster.objects[key]
            if any(in_scope(binding.document, obj) for binding in evaluated[gvk]):
                out.append(ObjectKey(*key))
        return out

    async def _evaluate(self, obj: Obj, record: StepRecord) -> tuple[Evaluation, list[str]]:
        """Evaluate one object and execute its decisions; the evaluation, and the decisions that wrote."""
        key = str(object_key(obj))
        evaluation = evaluate(self.ruleset, Snapshot(obj, self.cluster), self.clock.now)
        record.evaluations.append(Evaluated(key, evaluation))
        self._cover(evaluation.decisions, evaluation.trace.groups)
        unmatched = {step.rule for group in evaluation.trace.groups for step in group.steps if step.error}
        writers: list[str] = []
        for decision in evaluation.decisions:
            if decision.provenance.rule in unmatched:  # its condition failed: an error, but it did not fire
                record.errors.append(ErrorRecord(decision.provenance.rule, decision.error, key))
                continue
            if await self._execute(decision, obj, record, key):
                writers.append(f"rule `{decision.provenance.rule}` on {key}: {_texts(decision)}")
        return evaluation, writers

    async def _execute(self, decision: Decision, obj: Obj, record: StepRecord, key: str) -> bool:
        """Execute one decision (and, if it fails, the document's onError decision); True when it wrote."""
        rule = decision.provenance.rule
        if not rule.endswith(ON_ERROR):
            record.fired.append(rule)
        record.actions.extend((rule, action) for action in decision.actions)
        if decision.error:
            record.errors.append(ErrorRecord(rule, decision.error, key))
            return False
        result = await self.executor.execute(decision)
        wrote = bool(result.written)
        if result.error:
            record.errors.append(ErrorRecord(rule, result.error, key))
            current = self.cluster.get(*_where(obj)) or obj
            reporting = report_error(
                self.ruleset, Snapshot(current, self.cluster), decision.provenance, result.error, self.clock.now
            )
            if reporting is not None and not rule.endswith(ON_ERROR):
                wrote = await self._execute(reporting, current, record, key) or wrote
        return wrote

    def _cover(self, decisions: Iterable[Decision], groups: Iterable[GroupTrace]) -> None:
        for decision in decisions:
            rule = decision.provenance.rule
            if rule in self.files and not decision.error:
                self.fired.add((self.files[rule], rule))
        for group in groups:
            for traced in group.steps:
                if not traced.state_mismatch and traced.rule in self.files:
                    self.reached.add((self.files[traced.rule], traced.rule))


def _where(obj: Obj) -> tuple[GVK, str, str]:
    key = object_key(obj)
    return key.gvk, key.namespace, key.name


def _texts(decision: Decision) -> str:
    return ", ".join(action_text(action) for action in decision.actions) or "(no action)"


def _verdict(fixture: Fixture, observed: Failure | None) -> Failure | None:
    """The failure to report: the observed one, or for a must-fail fixture, whether it failed as it must."""
    if not fixture.must_fail:
        return observed
    if observed is None:
        return Failure(
            0,
            "the fixture",
            f"expected this fixture to fail with a message containing {fixture.must_fail!r}, but every step passed",
            location=fixture.location,
        )
    if fixture.must_fail in observed.render():
        return None
    return Failure(
        observed.step,
        observed.title,
        f"expected a failure containing {fixture.must_fail!r}, but the fixture failed otherwise: {observed.message}",
        observed.details,
        observed.trace,
        observed.location,
    )


def run_fixture(fixture: Fixture) -> FixtureResult:
    """Run one fixture to its verdict (synchronously: for the pytest integration and simple callers)."""
    return asyncio.run(Runner(fixture).run())
