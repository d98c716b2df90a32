"""The executor: performs a decision's actions in order against a `Cluster`, and says what the queue should do.

Where this sits: after evaluation. It only writes; every choice was made by the planner. Semantics:
- create: 409 AlreadyExists is success when the existing object is owned by the decision's owner (a
  create that already happened, e.g. before a crash), and an error otherwise (a foreign object);
- delete: NotFound is success; a failed uid precondition means the object was replaced: re-evaluate;
- patch: a conflict (409) or a failed JSON-patch test (422) means stale state: re-evaluate;
- events never fail a decision (best effort, like client-go's recorder), and repeats are aggregated.
The first failing action stops the decision; the outcome maps the error to done / requeue / requeue-after.
`dry_run` logs instead of writing.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.core.cluster import Cluster
from engine.core.events import EventRecorder
from engine.errors import ApiError
from engine.model import (
    Action,
    CreateObject,
    Decision,
    DeleteObject,
    EmitEvent,
    Obj,
    ObjectRef,
    PatchObject,
)

log = logging.getLogger("engine.execute")

TERMINATING_RETRY = 1.0
"""Seconds before a create whose name is held by an object still being deleted is tried again (no error: the
deletion is under way, typically a foreground deletion waiting for its Pods)."""


class _Terminating(Exception):
    """A create found its name held by an object being deleted."""


class Outcome(enum.StrEnum):
    DONE = "done"
    REQUEUE = "requeue"  # rate-limited retry (exponential per key)
    REQUEUE_AFTER = "requeue-after"  # retry after `delay` seconds


@dataclass(frozen=True, slots=True)
class Written:
    """One write that succeeded: what the runtime must see in its cache before acting on this object again."""

    verb: str
    ref: ObjectRef
    resource_version: str = ""


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    delay: float = 0.0
    error: str = ""
    written: tuple[Written, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.error


ActionObserver = Callable[[str, str], None]
"""Called with (verb, result) for every action: metrics hook. Results: ok, error, skipped, dry-run."""


class Executor:
    """Executes decisions; one instance per operator (it keeps the event aggregation memory)."""

    def __init__(
        self,
        cluster: Cluster,
        *,
        component: str = "arcane-operator",
        dry_run: bool = False,
        observe: ActionObserver | None = None,
        now: Callable[[], str] | None = None,
    ) -> None:
        self.cluster = cluster
        self.dry_run = dry_run
        self.observe = observe or (lambda _verb, _result: None)
        self.events = EventRecorder(cluster, component, now)

    async def execute(self, decision: Decision, subject: str = "") -> Result:
        """Perform the decision's actions in order; stop at the first failure. Each action's log line names the rule
        and `subject`, the object evaluated (as fields: `rule`, `object`)."""
        if decision.error:
            return Result(Outcome.REQUEUE, error=decision.error)
        written: list[Written] = []
        why = {"rule": decision.provenance.rule, "object": subject} if subject else {"rule": decision.provenance.rule}
        for action in decision.actions:
            verb = _verb(action)
            if self.dry_run:
                log.info("dry run: would %s %s", verb, _describe(action), extra=why)
                self.observe(verb, "dry-run")
                continue
            try:
                done = await self._one(action, why)
            except _Terminating as held:
                # Not an error: the rest of the decision (the phase it enters, say) waits for the create.
                log.info("waiting for %s to be deleted", held, extra=why)
                self.observe(verb, "skipped")
                return Result(Outcome.REQUEUE_AFTER, TERMINATING_RETRY, written=tuple(written))
            except ApiError as error:
                self.observe(verb, "error")
                return _failure(error, verb, action, tuple(written))
            self.observe(verb, "ok")
            if done is not None:
                written.append(done)
        if decision.requeue_after is not None:
            return Result(Outcome.REQUEUE_AFTER, decision.requeue_after, written=tuple(written))
        return Result(Outcome.DONE, written=tuple(written))

    async def _one(self, action: Action, why: dict[str, str]) -> Written | None:
        if isinstance(action, CreateObject):
            return await self._create(action, why)
        if isinstance(action, DeleteObject):
            try:
                await self.cluster.delete(action.ref, action.propagation)
            except ApiError as error:
                if error.status == 404:
                    return None
                raise
            log.info("deleted %s", action.ref, extra={"propagation": action.propagation.value, **why})
            return Written("delete", action.ref)
        if isinstance(action, PatchObject):
            stored = await self.cluster.patch(action.ref, action.patch, action.patch_type, action.subresource)
            log.info("patched %s%s", action.ref, f"/{action.subresource}" if action.subresource else "", extra=why)
            return Written("patch", action.ref, _rv(stored))
        await self.events.emit(action)
        return None

    async def _create(self, action: CreateObject, why: dict[str, str]) -> Written:
        try:
            stored = await self.cluster.create(action.obj)
        except ApiError as error:
            if error.status != 409 or error.reason != "AlreadyExists":
                raise
            ref = ObjectRef.of_object(action.obj)
            existing = await self.cluster.read(ref)
            if existing is None:
                raise ApiError(409, "Conflict", f"{ref} exists but could not be read; retrying") from None
            if (existing.get("metadata") or {}).get("deletionTimestamp"):
                raise _Terminating(str(ref)) from None
            if not _owned(existing, action):
                owners = [r.get("name") for r in (existing.get("metadata") or {}).get("ownerReferences") or []]
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f"{ref} already exists and is not ours (owners: {', '.join(map(str, owners)) or 'none'}); "
                    "delete or rename it",
                ) from None
            log.info("adopted existing %s (already created)", ref, extra=why)
            return Written("create", ObjectRef.of_object(existing), _rv(existing))
        ref = ObjectRef.of_object(stored)
        log.info("created %s", ref, extra=why)
        return Written("create", ref, _rv(stored))


def _owned(existing: Obj, action: CreateObject) -> bool:
    meta = existing.get("metadata") or {}
    if action.owner_uid and any(
        isinstance(r, dict) and r.get("uid") == action.owner_uid for r in meta.get("ownerReferences") or []
    ):
        return True
    labels = meta.get("labels") or {}
    return bool(action.adopt_labels) and all(labels.get(k) == v for k, v in action.adopt_labels.items())


def _failure(error: ApiError, verb: str, action: Action, written: tuple[Written, ...]) -> Result:
    message = f"{verb} {_describe(action)} failed: {error}"
    if error.status == 429 or error.status >= 500 or error.status == 0:
        if error.retry_after:
            return Result(Outcome.REQUEUE_AFTER, error.retry_after, message, written)
        return Result(Outcome.REQUEUE, error=message, written=written)
    return Result(Outcome.REQUEUE, error=message, written=written)


def _verb(action: Action) -> str:
    if isinstance(action, CreateObject):
        return "create"
    if isinstance(action, DeleteObject):
        return "delete"
    if isinstance(action, PatchObject):
        return "patch-status" if action.subresource == "status" else "patch"
    return "event"


def _describe(action: Action) -> str:
    if isinstance(action, CreateObject):
        return str(ObjectRef.of_object(action.obj)) + (
            f" (generateName {action.obj.get('metadata', {}).get('generateName')})"
            if not (action.obj.get("metadata") or {}).get("name")
            else ""
        )
    if isinstance(action, DeleteObject | PatchObject):
        return str(action.ref)
    assert isinstance(action, EmitEvent)
    return f"event {action.reason} on {action.involved}"


def _rv(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")
