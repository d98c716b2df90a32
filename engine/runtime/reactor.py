"""The reactor: rules -> watches -> queue -> evaluate -> execute, level-triggered, one key at a time.

Where this sits: the operator process (engine.runtime.main) builds one and feeds it rule sets. It
- starts an informer for every kind the rule set reads (evaluated kinds, the kinds named by other objects,
  related kinds), and re-plans the watch set when rules reload or an object that names kinds changes;
- turns every watch event into keys: the object itself when a document evaluates its kind, the objects
  whose last evaluation read it (engine.runtime.deps), and those the rules' triggers name;
- runs N workers: read the key's object from the cache, skip it while its own writes are not yet visible
  (engine.runtime.expectations), evaluate, execute each decision, report failures through the document's
  `onError`, and tell the queue what to do next;
- tries a new rule set on its caches before hot reload swaps it in (`trial`, engine.runtime.trial).
It never decides anything itself; the rules and the executor do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from engine.core.evaluate import Snapshot, evaluate, report_error
from engine.core.execute import Executor, Outcome, Result
from engine.core.memo import FactMemo
from engine.core.targets import Binding, dynamic_bindings, evaluated_kinds, watched_kinds
from engine.errors import ApiError, ExpressionError, Problem, RuleSetError
from engine.expr import is_false
from engine.kube.cache import EventKind
from engine.kube.client import KubeClient
from engine.kube.cluster import HttpCluster
from engine.kube.informer import InformerKey, InformerOptions, InformerState
from engine.kube.mapper import RESTMapper
from engine.kube.registry import InformerSet
from engine.model import GVK, Decision, EmitEvent, Obj, ObjectKey, PatchObject
from engine.runtime.deletions import RecentDeletions
from engine.runtime.deps import DependencyIndex
from engine.runtime.expectations import Expectations
from engine.runtime.memo import RecordingCluster, StatusMemo
from engine.runtime.metrics import Metrics
from engine.runtime.queue import Priority, WorkQueue
from engine.runtime.trial import new_errors
from engine.spec.ruleset import Document, ListLookup, Related, RuleSet

log = logging.getLogger("engine.reactor")

CRD = GVK("apiextensions.k8s.io", "v1", "CustomResourceDefinition")


@dataclass(frozen=True, slots=True)
class ReactorOptions:
    workers: int = 16
    namespaces: tuple[str, ...] = ()
    """Watch only these namespaces (cluster-scoped kinds are always watched cluster-wide)."""
    dry_run: bool = False
    expectation_timeout: float = 10.0
    component: str = "kube-engine"
    inactivity_timeout: float = 90.0
    min_watch_timeout: float = 300.0
    freeze_gc: bool = True
    replan_interval: float = 5.0
    """While a wanted kind is not served (CRD not installed yet, or deleted), re-plan the watches this often."""
    unsynced_delay: float = 0.25
    """A key taken while some watch has not completed its first list waits this long (absence is not yet known)."""
    recreate_grace: float = 1.0
    """An object someone else deleted is not created again for this long (engine.runtime.deletions)."""


class Reactor:
    def __init__(
        self,
        client: KubeClient,
        ruleset: RuleSet,
        options: ReactorOptions | None = None,
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.options = options or ReactorOptions()
        self.ruleset = ruleset
        self.metrics = metrics
        self.clock = clock
        self.client = client
        self.mapper = RESTMapper(client)
        self.informers = InformerSet(client, observer=metrics)
        self.memo = StatusMemo()
        self.cluster = RecordingCluster(HttpCluster(client, self.mapper), self.memo)
        self.executor = Executor(
            self.cluster,
            component=self.options.component,
            dry_run=self.options.dry_run,
            observe=metrics.action if metrics is not None else None,
        )
        self.queue: WorkQueue[ObjectKey] = WorkQueue(observer=metrics)
        self.deps = DependencyIndex()
        self.facts = FactMemo()
        self.expectations = Expectations(time.monotonic, self.options.expectation_timeout, self.informers.behind)
        self.deletions = RecentDeletions(time.monotonic, self.options.recreate_grace)
        self._bindings: dict[GVK, list[Binding]] = {}
        self._document_kinds_cache: dict[int, list[GVK]] = {}
        """id(document) -> the kinds it evaluates; cleared with `_bindings` (`_forget_bindings`)."""
        self._routes: dict[GVK, tuple[_Route, ...]] = {}
        """Per changed kind, the dynamic documents it is a source of and the triggers it fires; per rule set."""
        self._synced_kinds: set[GVK] = set()
        """Kinds whose every informer has listed (an informer never unlists); a kind leaves when one starts."""
        self._all_synced = False
        """Every informer has listed (see `_unsynced`); false again when one starts."""
        self._changing = 0
        """Swaps and watch re-plans under way (`_changing_caches`): while any is, no key is evaluated."""
        self._settled = asyncio.Event()
        self._settled.set()
        self._unresolved: dict[GVK, str] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._sync_task: asyncio.Task[None] | None = None
        self._sync_again = False
        self._sync_lock = asyncio.Lock()
        self._replan_task: asyncio.Task[None] | None = None
        self._settle_task: asyncio.Task[None] | None = None
        self._processing = asyncio.Event()
        self._started = False

    # --- lifecycle ----------------------------------------------------------------------------------

    async def start(self, *, process: bool = True) -> None:
        """Start the watches; with `process`, the workers too (a standby starts them when it leads)."""
        await self._sync_watches()
        self._settle_task = asyncio.create_task(self._settle(), name="settle-watches")
        self._replan_task = asyncio.create_task(self._replan_unserved(), name="replan-unserved")
        if process:
            self.start_workers()

    async def _settle(self) -> None:
        """Declare the watches started once the plan is stable: the kinds that listed objects name (dynamic
        targets) are only known after those objects are listed, and their watches must list too."""
        while True:
            await self._caches_synced()
            planned = {informer.key for informer in self.informers.informers()}
            await self._sync_watches()
            if planned == {informer.key for informer in self.informers.informers()} and not self._unsynced():
                break
        self._started = True

    def start_workers(self) -> None:
        if self._workers:
            return
        self._workers = [asyncio.create_task(self._worker(), name=f"worker-{i}") for i in range(self.options.workers)]

    def halt(self) -> None:
        """Stop acting at once (leadership lost): take no more keys and cancel the evaluations in flight,
        between two writes if need be; another replica may already be acting. `stop()` still follows."""
        self.queue.shutdown()
        for task in self._workers:
            task.cancel()

    async def stop(self, timeout: float = 8.0) -> None:
        """Stop taking keys, let in-flight work finish (bounded), stop the watches."""
        self.queue.shutdown()
        await self.queue.drain(timeout)
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        for pending in (self._sync_task, self._replan_task, self._settle_task):
            if pending is not None:
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)
        await self.informers.stop_all()

    def unready(self) -> list[str]:
        """What keeps the operator from being ready (empty: every watch it wants has listed)."""
        reasons = self.informers.unsynced()
        reasons.extend(f"{gvk}: not served ({message})" for gvk, message in sorted(self._unresolved.items()))
        if self._settle_task is None:
            reasons.append("watches not started")
        elif not self._started:
            reasons.append("watch plan not settled: the kinds named by listed objects are not all watched yet")
        return reasons

    async def swap(self, ruleset: RuleSet) -> None:
        """Activate a new rule set: re-plan the watches, then re-evaluate every object at low priority. No key is
        evaluated until the watches are re-planned: until then the caches are trimmed for the old rules."""
        with self._changing_caches():
            self.ruleset = ruleset
            self._routes.clear()
            self._forget_bindings()
            await self._sync_watches()
        for gvk in self._evaluated_kinds():
            for namespace, name in self.informers.names(gvk):
                self.queue.add(ObjectKey(gvk, namespace, name), Priority.LOW)

    async def trial(self, ruleset: RuleSet) -> None:
        """Raise `RuleSetError` when `ruleset` makes error decisions for cached objects that the active rules
        evaluate without one (engine.runtime.trial), as the active rules would be evaluated now: hot reload
        then keeps the active rules, as it does when new rules do not compile."""
        # A kind is tried only from a cache that has listed and holds what the new rules would keep of it: one
        # whose paths the new rules no longer drop would read as missing here (and be cached whole after a swap).
        held = frozenset(
            informer.options.resource.gvk
            for informer in self.informers.informers()
            if self._kind_synced(informer.options.resource.gvk)
            and informer.options.projection == cache_drops(ruleset, informer.options.resource.gvk)
        )
        problems = await new_errors(
            ruleset,
            active=self.ruleset,
            active_bindings=self._bindings_for,
            cache=self.informers,
            held=held,
            clock=self.clock,
            memo=self.facts,
        )
        if problems:
            raise RuleSetError(list[Problem](problems))

    # --- watches ------------------------------------------------------------------------------------

    def request_sync(self) -> None:
        """Re-plan the watch set soon (coalesced)."""
        if self._sync_task is not None and not self._sync_task.done():
            self._sync_again = True
            return
        self._sync_task = asyncio.create_task(self._sync_loop())

    async def _sync_loop(self) -> None:
        while True:
            self._sync_again = False
            await self._sync_watches()
            if not self._sync_again:
                return

    async def _replan_unserved(self) -> None:
        """Kinds the server did not serve (or stopped serving) are looked up again until they are served:
        nothing else re-plans when a CRD is installed, and discovery may lag behind a new CRD."""
        while True:
            await asyncio.sleep(self.options.replan_interval)
            if self._unresolved or any(inf.state is InformerState.GONE for inf in self.informers.informers()):
                self.request_sync()

    async def _sync_watches(self) -> None:
        async with self._sync_lock:  # one plan at a time: a stale plan must not stop a watch a newer one started
            await self._plan_watches()

    async def _plan_watches(self) -> None:
        self._forget_bindings()
        with self._changing_caches():
            for informer in self.informers.informers():
                if informer.state is InformerState.GONE:  # its kind stopped being served: ask discovery again
                    self.mapper.invalidate(informer.options.resource.gvk.api_version)
                    await self.informers.stop(informer.options.key)
        wanted = watched_kinds(self.ruleset, self.informers)
        keys: dict[InformerKey, InformerOptions] = {}
        for gvk, ref in wanted.items():
            try:
                resource = await self.mapper.resource_for(gvk)
            except ApiError as error:
                if self._unresolved.get(gvk) != error.message:
                    log.warning("cannot watch %s: %s", gvk, error.message)
                self._unresolved[gvk] = error.message
                continue
            self._unresolved.pop(gvk, None)
            scopes: tuple[str | None, ...] = (
                self.options.namespaces if resource.namespaced and self.options.namespaces else (None,)
            )
            for namespace in scopes:
                options = InformerOptions(
                    resource,
                    namespace=namespace,
                    projection=cache_drops(self.ruleset, ref.gvk),
                    inactivity_timeout=self.options.inactivity_timeout,
                    min_watch_timeout=self.options.min_watch_timeout,
                    freeze_gc=self.options.freeze_gc,
                )
                keys[options.key] = options
        with self._changing_caches():  # a stopped watch's objects are gone until its successor has listed
            for informer in self.informers.informers():
                key = informer.options.key
                if key not in keys or keys[key].projection != informer.options.projection:
                    log.info("stopping the watch of %s", informer.options)
                    await self.informers.stop(key)
            for key, options in keys.items():
                if key not in self.informers:
                    log.info("watching %s", options)
                    gvk = options.resource.gvk
                    wants_old = partial(self._wants_old, gvk, gvk == CRD)
                    self.informers.start(options, self._handler(gvk), wants_old=wants_old)
                    self._all_synced = False  # a new informer has not listed yet
                    self._synced_kinds.discard(gvk)
        # Informers stopped above dropped their objects without events.
        self._forget_bindings()

    @contextlib.contextmanager
    def _changing_caches(self) -> Iterator[None]:
        """While the block runs, the rules or the caches are between two states: a worker evaluates no key (one
        would read a cache trimmed for other rules, or miss the objects of a watch being replaced)."""
        self._changing += 1
        self._settled.clear()
        try:
            yield
        finally:
            self._changing -= 1
            if not self._changing:
                self._settled.set()

    def _forget_bindings(self) -> None:
        """Bindings depend on the rule set and on the cached dynamic sources: re-derive them on next use."""
        self._bindings.clear()
        self._document_kinds_cache.clear()

    def _evaluated_kinds(self) -> set[GVK]:
        return evaluated_kinds(self.ruleset, self.informers)

    def _bindings_for(self, gvk: GVK) -> list[Binding]:
        cached = self._bindings.get(gvk)
        if cached is None:
            cached = []
            for document in self.ruleset.documents:
                target = document.target
                if target.static is not None and target.static.gvk == gvk:
                    cached.append(Binding(document, target.static))
                elif target.dynamic is not None:
                    bound = dynamic_bindings(document, self.informers.list(target.dynamic.source.gvk)).get(gvk)
                    if bound is not None:
                        cached.append(bound)
            self._bindings[gvk] = cached
        return cached

    # --- events -------------------------------------------------------------------------------------

    def _handler(self, gvk: GVK) -> Callable[[EventKind, Obj | None, Obj | None], None]:
        crd = gvk == CRD

        def handle(kind: EventKind, old: Obj | None, new: Obj | None) -> None:
            obj = new if new is not None else old
            if obj is None:
                return
            priority = Priority.NORMAL if self._kind_synced(gvk) else Priority.LOW
            meta = obj.get("metadata") or {}
            namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
            if kind is EventKind.DELETED:
                self.deletions.deleted(gvk, namespace, name)
                uid = str(meta.get("uid") or "")
                if uid:
                    self.facts.forget(uid, [doc.name for doc in self.ruleset.documents])
                self.memo.forget(gvk, namespace, name)
            for owner in self.expectations.observe(gvk, namespace, name, None if kind is EventKind.DELETED else new):
                self.queue.add(owner, Priority.NORMAL)
            self._route(ObjectKey(gvk, namespace, name), obj, old, priority, crd=crd)

        return handle

    def _wants_old(self, gvk: GVK, crd: bool) -> bool:
        """Whether a change of `gvk` is routed by what the object was too (`_route`): a CRD's old versions, a
        dynamic source's old kind, a trigger's old target. Asked at each event: a rule reload may change it."""
        return crd or bool(self._routes_for(gvk))

    def _kind_synced(self, gvk: GVK) -> bool:
        """Whether every informer of `gvk` has listed (events before that come from the initial list)."""
        if gvk in self._synced_kinds:
            return True
        if all(inf.synced.is_set() for inf in self.informers.informers() if inf.options.resource.gvk == gvk):
            self._synced_kinds.add(gvk)
            return True
        return False

    def _routes_for(self, gvk: GVK) -> tuple[_Route, ...]:
        routes = self._routes.get(gvk)
        if routes is None:
            routes = self._routes[gvk] = _routes(self.ruleset, gvk)
        return routes

    def _route(self, key: ObjectKey, obj: Obj, old: Obj | None, priority: Priority, *, crd: bool) -> None:
        gvk, namespace, name = key.gvk, key.namespace, key.name
        if crd:
            # A kind appeared, changed or went away: discovery must not answer from a cache older than that,
            # and a kind that was not served may be now.
            for changed in (obj, old):
                spec = (changed or {}).get("spec") or {}
                for version in spec.get("versions") or []:
                    self.mapper.invalidate(f"{spec.get('group')}/{version.get('name')}")
            if self._unresolved:
                self.request_sync()
        if self._bindings_for(gvk):
            self.queue.add(key, priority)
        for dependent in self.deps.dependents(gvk, namespace, name):
            self.queue.add(dependent, priority)
        for route in self._routes_for(gvk):
            document = route.document
            if route.source:
                self._forget_bindings()
                self.request_sync()
                for bound in dynamic_bindings(document, [obj, *([old] if old is not None else [])]):
                    for bound_namespace, bound_name in self.informers.names(bound):
                        self.queue.add(ObjectKey(bound, bound_namespace, bound_name), Priority.LOW)
            for related in route.triggers:
                trigger = related.trigger
                assert trigger is not None
                for changed in (obj, old):
                    if changed is None:
                        continue
                    try:
                        if trigger.when is not None and is_false(trigger.when.evaluate(changed)):
                            continue
                        target_name = trigger.name.render(changed)
                        target_ns = trigger.namespace.render(changed) if trigger.namespace is not None else namespace
                    except ExpressionError as error:
                        log.warning("trigger of %s failed on %s/%s: %s", related.name, namespace, name, error)
                        continue
                    if not isinstance(target_name, str) or not target_name:
                        continue
                    for kind in self._document_kinds(document):
                        self.queue.add(ObjectKey(kind, str(target_ns or ""), target_name), priority)

    def _document_kinds(self, document: object) -> list[GVK]:
        """The kinds `document` evaluates (a trigger requeues its target under each)."""
        kinds = self._document_kinds_cache.get(id(document))
        if kinds is None:
            kinds = [
                gvk for gvk, bindings in self._all_bindings().items() if any(b.document is document for b in bindings)
            ]
            self._document_kinds_cache[id(document)] = kinds
        return kinds

    def _all_bindings(self) -> dict[GVK, list[Binding]]:
        return {gvk: self._bindings_for(gvk) for gvk in self._evaluated_kinds()}

    # --- work ---------------------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            await self._caches_synced()
            key = await self.queue.get()
            if key is None:
                return
            try:
                await self.process(key)
            except Exception:  # a bug must not kill the worker: log it and retry the key later
                log.exception("unexpected error while processing %s", key)
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)

    def _unsynced(self) -> list[InformerKey]:
        """Informers that have not listed yet. Asked before every key: once none is, the answer stays until
        the next watch plan starts new ones (an informer never unlists)."""
        if self._all_synced:
            return []
        pending = [informer.key for informer in self.informers.informers() if not informer.synced.is_set()]
        self._all_synced = not pending
        return pending

    async def _caches_synced(self) -> None:
        """Wait until every watch has completed its first list (controller-runtime's WaitForCacheSync), with no swap
        or re-plan under way."""
        while True:
            await self._settled.wait()  # at once when no swap or re-plan is under way
            pending = self._unsynced()
            if not pending:
                return
            informer = self.informers.informer(pending[0])
            if informer is not None:
                with contextlib.suppress(TimeoutError):  # re-check: the informer may have been stopped
                    await asyncio.wait_for(informer.synced.wait(), 1.0)

    async def process(self, key: ObjectKey) -> None:
        """Evaluate one key and act on its decisions."""
        if self._changing or self._unsynced():
            # A watch still listing (or being replaced) means "not in the cache" may be wrong: acting now could
            # create what exists. During a swap, the caches are also trimmed for the rules being replaced.
            self.queue.add_after(key, self.options.unsynced_delay, Priority.LOW)
            return
        obj = self.informers.get(key.gvk, key.namespace, key.name)
        if obj is None:
            self.deps.forget(key)
            self.expectations.forget(key)
            self.queue.forget(key)
            return
        wait = self.expectations.waiting(key)
        if wait > 0:
            self.queue.add_after(key, wait)
            return
        bindings = tuple(self._bindings_for(key.gvk))
        if not bindings:
            return
        started = time.perf_counter()
        snapshot = Snapshot(obj, self.informers, bindings, self.facts)
        evaluation = evaluate(self.ruleset, snapshot, self.clock)
        self.deps.record(key, evaluation.reads)
        if self.metrics is not None:
            seconds = time.perf_counter() - started
            for decision in evaluation.decisions or ():
                self.metrics.evaluated(decision.provenance.rule, "error" if decision.error else "decided", seconds)
            if not evaluation.decisions:
                self.metrics.evaluated("none", "nothing", seconds)
        outcome, delay = Outcome.DONE, 0.0
        wait = self.deletions.wait(action for decision in evaluation.decisions for action in decision.actions)
        if wait > 0:  # it would create what someone else just deleted: its owner may be going too
            log.debug("%s: waiting %.2f s to create what was deleted a moment ago", key, wait)
            self.queue.add_after(key, wait)
            return
        debug = log.isEnabledFor(logging.DEBUG)
        for decision in evaluation.decisions:
            if debug:  # the lines are built only when they are written
                for line in _decision_log(key, decision):
                    log.debug(line, extra={"rule": decision.provenance.rule, "object": str(key)})
            result = await self._execute(decision, key)
            self.expectations.expect(key, result.written, self.informers.get)
            if result.error:
                where = decision.provenance
                log.warning(
                    "%s: rule %s: %s",
                    key,
                    where,
                    result.error,
                    extra={"object": str(key), "rule": where.rule, "file": where.file, "line": where.line},
                )
                if not decision.error:
                    report = report_error(self.ruleset, snapshot, decision.provenance, result.error, self.clock)
                    if report is not None:
                        reported = await self._execute(report, key)
                        self.expectations.expect(key, reported.written, self.informers.get)
            outcome, delay = _combine((outcome, delay), result)
        if outcome is Outcome.DONE:
            self.queue.forget(key)
        elif outcome is Outcome.REQUEUE_AFTER:
            self.queue.add_after(key, delay)
        else:
            self.queue.add_rate_limited(key)

    async def _execute(self, decision: Decision, key: ObjectKey) -> Result:
        self.deletions.sending(decision.actions)
        actions = tuple(action for action in decision.actions if not self._pruned_noop(action))
        if len(actions) != len(decision.actions):
            # An event for a change (`whenChanged`) of an object whose write turned out to be made already goes too.
            patched = {action.ref for action in actions if isinstance(action, PatchObject)}
            actions = tuple(
                action
                for action in actions
                if not (isinstance(action, EmitEvent) and action.on_change and action.involved not in patched)
            )
            decision = Decision(
                decision.provenance, actions, decision.error, decision.requeue_after, decision.transition
            )
        return await self.executor.execute(decision, str(key))

    def _pruned_noop(self, action: object) -> bool:
        """A status write the server already answered by pruning: writing it again would loop for ever."""
        if not isinstance(action, PatchObject) or action.subresource != "status":
            return False
        current = self.informers.get(action.ref.gvk, action.ref.namespace, action.ref.name)
        return current is not None and self.memo.already_applied(action, current)


@dataclass(frozen=True, slots=True)
class _Route:
    """What a change of one kind reaches in one document besides the object itself and its dependents: the
    document's dynamic kinds when the kind is their source, the list lookups whose triggers map the change to
    evaluated objects."""

    document: Document
    source: bool
    triggers: tuple[Related, ...]


def _routes(ruleset: RuleSet, gvk: GVK) -> tuple[_Route, ...]:
    """The routes of a change of `gvk`, in rule-set order (computed once per kind and rule set)."""
    routes = []
    for document in ruleset.documents:
        dynamic = document.target.dynamic
        source = dynamic is not None and dynamic.source.gvk == gvk
        triggers = tuple(
            related
            for related in document.related.values()
            if related.trigger is not None and related.lookup.kind.gvk == gvk and isinstance(related.lookup, ListLookup)
        )
        if source or triggers:
            routes.append(_Route(document, source, triggers))
    return tuple(routes)


def _combine(current: tuple[Outcome, float], result: Result) -> tuple[Outcome, float]:
    outcome, delay = current
    if result.outcome is Outcome.REQUEUE or outcome is Outcome.REQUEUE:
        return Outcome.REQUEUE, 0.0
    if result.outcome is Outcome.REQUEUE_AFTER:
        return Outcome.REQUEUE_AFTER, result.delay if outcome is not Outcome.REQUEUE_AFTER else min(delay, result.delay)
    return outcome, delay


def _decision_log(key: ObjectKey, decision: Decision) -> list[str]:
    if decision.error:
        return [f"{key}: rule {decision.provenance} failed: {decision.error}"]
    if not decision.actions:
        return [f"{key}: rule {decision.provenance} decided: nothing to do"]
    return [f"{key}: rule {decision.provenance} decided {len(decision.actions)} action(s)"]


def cache_drops(ruleset: RuleSet, gvk: GVK) -> tuple[str, ...] | None:
    """Paths every reader of a kind in `ruleset` agreed to drop from its cache (none when any reader needs them, or
    when the rules evaluate the kind itself)."""
    drops: set[str] | None = None
    for document in ruleset.documents:
        target = document.target
        if (target.static and target.static.gvk == gvk) or (target.dynamic and target.dynamic.source.gvk == gvk):
            return None
        for related in document.related.values():
            if related.lookup.kind.gvk != gvk:
                continue
            paths = {path.source for path in related.drop}
            drops = paths if drops is None else drops & paths
    return tuple(sorted(drops)) if drops else None
