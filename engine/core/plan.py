"""Planning: a matched rule's actions rendered into concrete, minimal `Action`s.

Where this sits: the evaluator calls `plan_rule` for each rule that fired. Everything is decided here
against the snapshot, so the executor only performs writes: `create` becomes nothing (the object exists),
a create, or a delete-then-create (replace); deletes of absent or already-terminating objects vanish;
status writes to one object merge into one patch and vanish when they change nothing; events that depend
on a change (`whenChanged`, a state rule's event) are kept only when the change happens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.core.build import SCALARS, build, fresh
from engine.core.context import Context
from engine.errors import ExpressionError
from engine.expr import FieldPath, is_false, stringify
from engine.model import (
    Action,
    CreateObject,
    DeleteObject,
    EmitEvent,
    EventType,
    Obj,
    ObjectRef,
    PatchObject,
    PatchType,
)
from engine.spec.ruleset import (
    ActionOp,
    ActionSpec,
    CreateSpec,
    DeleteSpec,
    Document,
    EventSpec,
    ForEachSpec,
    PatchSpec,
    RequeueSpec,
    StatusSpec,
)


@dataclass(slots=True)
class _Event:
    target: Obj
    type: EventType
    reason: str
    message: str
    when_changed: FieldPath | None


@dataclass(slots=True)
class Plan:
    """Actions of one decision as they accumulate."""

    actions: list[Action] = field(default_factory=list)
    status: dict[str, tuple[Obj, dict[str, Any]]] = field(default_factory=dict)
    main_patches: dict[str, tuple[Obj, dict[str, Any]]] = field(default_factory=dict)
    events: list[_Event] = field(default_factory=list)
    requeue_after: float | None = None


def object_key(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('apiVersion')}/{obj.get('kind')}/{meta.get('namespace', '')}/{meta.get('name', '')}"


def owner_reference(owner: Obj) -> dict[str, Any]:
    """A controller ownerReference to `owner`."""
    meta = owner.get("metadata") or {}
    return {
        "apiVersion": owner.get("apiVersion"),
        "kind": owner.get("kind"),
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "controller": True,
    }


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch applied to a copy of `target`."""
    if not isinstance(patch, dict):
        return fresh(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif type(value) in SCALARS:  # most of a patch (20 of 32 values in the engine bench): as it is, no copy
            result[key] = value
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def merge_conditions(current: Any, desired: Any, replace: bool, now: str) -> list[dict[str, Any]]:
    """Conditions after setting `desired` (by type); `lastTransitionTime` changes only when `status` does.

    A missing `status` is "True" and a boolean one "True"/"False"; null fields are left out.
    `replace` makes `desired` the whole list. Otherwise a condition of a type already present is updated in
    place and a new type is appended, so setting a condition that did not change leaves the list equal."""
    existing = [c for c in current if isinstance(c, dict)] if isinstance(current, list) else []
    typed = [c for c in existing if isinstance(c.get("type"), str)]  # the others are kept as they are
    if not isinstance(desired, list) or not all(
        isinstance(c, dict) and isinstance(c.get("type"), str) and c["type"] for c in desired
    ):
        raise ExpressionError("conditions must be a list of objects, each with a `type`")
    by_type = {c["type"]: c for c in typed}
    rendered = []
    for wanted in desired:
        condition = {key: value for key, value in wanted.items() if value is not None}
        status = condition.get("status", "True")
        # Kubernetes condition statuses are "True", "False" or "Unknown": a boolean becomes its capitalised name.
        condition["status"] = str(status) if isinstance(status, bool) else stringify(status)
        previous = by_type.get(condition["type"])
        if "lastTransitionTime" not in condition:
            kept = (
                previous.get("lastTransitionTime")
                if previous and previous.get("status") == condition["status"]
                else None
            )
            condition["lastTransitionTime"] = kept or now
        rendered.append(condition)
    if replace:
        return rendered
    updates = {condition["type"]: condition for condition in rendered}
    out = [updates.pop(c["type"], c) if isinstance(c.get("type"), str) else c for c in existing]
    out.extend(updates.values())
    return out


_CREATE, _DELETE, _PATCH, _STATUS, _EVENT, _REQUEUE = (
    ActionOp.CREATE,
    ActionOp.DELETE,
    ActionOp.PATCH,
    ActionOp.STATUS,
    ActionOp.EVENT,
    ActionOp.REQUEUE,
)


class Planner:
    """Renders action specs for one evaluated object."""

    def __init__(self, document: Document, evaluated: Obj, now: str) -> None:
        self.document = document
        self.evaluated = evaluated
        self.now = now
        self._written: dict[str, Obj] = {}
        self._pending: dict[str, tuple[Obj, dict[str, Any]]] = {}
        """Objects as the decisions planned so far leave them (their status writes and merge patches of the
        evaluated object), as an object or as (object, patch) not applied until a later decision asks
        (`base_of`): a later decision's writes start from there, so that two rules setting conditions of one
        object in one evaluation keep each other's (each write is the whole list). Most evaluations make one
        decision, which pays for nothing."""

    def base_of(self, key: str, target: Obj) -> Obj:
        """`target` (the object under `key`) as the decisions planned so far leave it."""
        pending = self._pending.pop(key, None)
        if pending is not None:
            self._written[key] = merge_patch(*pending)
        return self._written.get(key, target)

    def _wrote(self, key: str, base: Obj, patch: dict[str, Any]) -> None:
        """A decision writes `patch` to the object under `key` (`base` as the decision found it)."""
        self._pending[key] = (self.base_of(key, base), patch)

    def plan(self, specs: tuple[ActionSpec, ...], context: Context, plan: Plan) -> None:
        for spec in specs:
            if spec.when is not None and is_false(spec.when.evaluate(context)):
                continue
            self._one(spec, context, plan)

    def _one(self, spec: ActionSpec, context: Context, plan: Plan) -> None:
        body = spec.body
        op = spec.op
        if op is _CREATE:
            assert isinstance(body, CreateSpec)
            self._create(body, context, plan)
        elif op is _DELETE:
            assert isinstance(body, DeleteSpec)
            for target in _objects(body.target.evaluate(context), "delete"):
                if (target.get("metadata") or {}).get("deletionTimestamp"):
                    continue  # already being deleted
                ref = ObjectRef.of_object(target)
                if not any(isinstance(done, DeleteObject) and done.ref == ref for done in plan.actions):
                    plan.actions.append(DeleteObject(ref, body.propagation))
        elif op is _PATCH:
            assert isinstance(body, PatchSpec)
            self._patch(body, context, plan)
        elif op is _STATUS:
            assert isinstance(body, StatusSpec)
            self._status(body, context, plan)
        elif op is _EVENT:
            assert isinstance(body, EventSpec)
            self.event(body, context, plan)
        elif op is _REQUEUE:
            assert isinstance(body, RequeueSpec)
            after = body.after if plan.requeue_after is None else min(plan.requeue_after, body.after)
            plan.requeue_after = after
        else:
            assert isinstance(body, ForEachSpec)
            items = body.each.evaluate(context)
            for item in items if isinstance(items, list) else []:
                self.plan(body.body, context.child({body.alias: item}), plan)

    def _create(self, body: CreateSpec, context: Context, plan: Plan) -> None:
        existing = body.existing.evaluate(context) if body.existing is not None else None
        if isinstance(existing, dict):
            if (existing.get("metadata") or {}).get("deletionTimestamp"):
                return  # still terminating: its deletion event brings the next evaluation, which creates it anew
            replace = body.replace_when is not None and not is_false(body.replace_when.evaluate(context))
            if not replace:
                return
        if body.build:
            args = body.args.render(context) if body.args is not None else {}
            obj = build(self.document.builders[body.build], context, args, self.document.builders)
        else:
            assert body.object is not None
            obj = fresh(body.object.render(context))
            if not isinstance(obj, dict):
                raise ExpressionError(f"create: the object is a {type(obj).__name__}, not an object")
        meta = obj.setdefault("metadata", {})
        evaluated_ns = (self.evaluated.get("metadata") or {}).get("namespace")
        if not meta.get("namespace") and evaluated_ns:
            meta["namespace"] = evaluated_ns
        owner_uid = ""
        if body.owner is not None:
            owner = body.owner.evaluate(context)
            if isinstance(owner, dict):
                reference = owner_reference(owner)
                owner_uid = str(reference["uid"] or "")
                refs = meta.setdefault("ownerReferences", [])
                if not any(isinstance(r, dict) and r.get("uid") == owner_uid for r in refs):
                    refs.append(reference)
        if isinstance(existing, dict):
            plan.actions.append(DeleteObject(ObjectRef.of_object(existing), body.replace_propagation))
        plan.actions.append(CreateObject(obj, owner_uid))

    def _patch(self, body: PatchSpec, context: Context, plan: Plan) -> None:
        for target in _objects(body.target.evaluate(context), "patch"):
            if body.merge is not None:
                patch = body.merge.render(context)
                key = object_key(target)
                if key != object_key(self.evaluated):
                    # Another object: patched in place, so the order of the rule's actions is kept.
                    if merge_patch(target, patch) != target:
                        plan.actions.append(PatchObject(ObjectRef.of_object(target), patch, PatchType.MERGE))
                    continue
                base, pending = plan.main_patches.get(key, (self.base_of(key, target), {}))
                plan.main_patches[key] = (base, merge_patch(pending, patch))
            else:
                assert body.json is not None
                ops = body.json.render(context)
                plan.actions.append(PatchObject(ObjectRef.of_object(target), ops, PatchType.JSON))

    def _status(self, body: StatusSpec, context: Context, plan: Plan) -> None:
        targets = [self.evaluated] if body.target is None else _objects(body.target.evaluate(context), "status")
        for target in targets:
            key = object_key(target)
            base, pending = plan.status.get(key, (self.base_of(key, target), {}))
            if body.set is not None:
                values = body.set.render(context)
                if not isinstance(values, dict):
                    raise ExpressionError("status.set must render to an object")
                pending = merge_patch(pending, values)
            for desired, replace in ((body.replace_conditions, True), (body.set_conditions, False)):
                if desired is not None:
                    current = pending.get("conditions", (base.get("status") or {}).get("conditions"))
                    pending["conditions"] = merge_conditions(current, desired.render(context), replace, self.now)
            if body.remove_conditions:
                current = pending.get("conditions", (base.get("status") or {}).get("conditions"))
                if isinstance(current, list):
                    kept = [c for c in current if not (isinstance(c, dict) and c.get("type") in body.remove_conditions)]
                    if len(kept) != len(current) or "conditions" in pending:
                        pending["conditions"] = kept
            plan.status[key] = (base, pending)

    def write_field(self, fields: tuple[str, ...], value: Any, plan: Plan) -> None:
        """Set the evaluated object's field at `fields` (a state machine's state): in its status write when the path
        starts with `status`, else in its merge patch."""
        nested: Any = value
        for name in reversed(fields[1:]):
            nested = {name: nested}
        key = object_key(self.evaluated)
        if fields and fields[0] == "status":
            base, pending = plan.status.get(key, (self.base_of(key, self.evaluated), {}))
            plan.status[key] = (base, merge_patch(pending, nested))
        else:
            base, pending = plan.main_patches.get(key, (self.base_of(key, self.evaluated), {}))
            plan.main_patches[key] = (base, merge_patch(pending, {fields[0]: nested} if fields else {}))

    def event(self, body: EventSpec, context: Context, plan: Plan, when_changed: FieldPath | None = None) -> None:
        target = self.evaluated if body.target is None else body.target.evaluate(context)
        if not isinstance(target, dict):
            return
        plan.events.append(
            _Event(
                target,
                EventType(body.type),
                stringify(body.reason.render(context)),
                stringify(body.message.render(context)),
                when_changed or body.when_changed,
            )
        )

    def finish(self, plan: Plan) -> tuple[Action, ...]:
        """The decision's actions: rule actions, then patches and status writes that change something, then events."""
        actions = list(plan.actions)
        after = self.evaluated
        for key, (base, patch) in plan.main_patches.items():
            if patch and merge_patch(base, patch) != base:  # an empty patch changes nothing (targets are objects)
                actions.append(PatchObject(ObjectRef.of_object(base), patch, PatchType.MERGE))
                self._wrote(key, base, patch)
                if key == object_key(self.evaluated):
                    after = merge_patch(after, patch)
        for key, (base, status) in plan.status.items():
            current = base.get("status") or {}
            if not status and isinstance(current, dict):  # an empty patch changes no object
                continue
            if merge_patch(current, status) != current:
                actions.append(PatchObject(ObjectRef.of_object(base), {"status": status}, PatchType.MERGE, "status"))
                self._wrote(key, base, {"status": status})
                if key == object_key(self.evaluated):
                    after = merge_patch(after, {"status": status})
        for event in plan.events:
            if event.when_changed is not None and event.when_changed.first(self.evaluated) == event.when_changed.first(
                after
            ):
                continue
            actions.append(
                EmitEvent(
                    ObjectRef.of_object(event.target),
                    event.type,
                    event.reason,
                    event.message,
                    event.when_changed is not None,
                )
            )
        return tuple(actions)


def _objects(value: Any, verb: str) -> list[Obj]:
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and all(isinstance(item, dict) or item is None for item in value):
        return [item for item in value if item is not None]
    raise ExpressionError(f"{verb}: the target must be an object or a list of objects, got {type(value).__name__}")
