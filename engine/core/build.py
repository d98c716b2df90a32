"""Builders: make an object from a template plus ordered transforms (set, append, upsert, merge, remove, forEach).

Where this sits: the planner calls `build` for `create` actions that name a builder. The result is a fresh
object: rendered values are copied before they are placed, so nothing read from the cache is ever mutated.
A failed `require` raises `RequirementError` with the builder's message; the evaluator turns it into an
error decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from engine.core.context import Context
from engine.errors import ExpressionError
from engine.expr import is_false
from engine.spec.ruleset import Builder, Transform, TransformOp


class RequirementError(ExpressionError):
    """A builder's `require` did not hold; the message is the rule author's."""


SCALARS = frozenset({str, int, float, bool, type(None)})
"""The types of JSON values that hold no other value: immutable, shared rather than copied."""


def fresh(value: Any) -> Any:
    """A deep copy of JSON-like data (objects and lists are copied; scalars are immutable, so they are shared).

    An object of scalars, or a list of scalars and such objects (an env list, labels: most transform values), is
    copied as it is, one container at a time, without encoding its text: a variable holding a stream's spec as
    JSON would otherwise be escaped and parsed back for nothing. Anything deeper is copied through orjson."""
    kind = type(value)
    if kind is dict:
        if _flat(value):
            return dict(value)
    elif kind is list:
        if SCALARS.issuperset(map(type, value)):  # scalars only (args, a command): in C, no loop of ours
            return list(value)
        copied: list[Any] = []
        for item in value:
            if type(item) in SCALARS:
                copied.append(item)
            elif type(item) is dict and _flat(item):
                copied.append(dict(item))
            else:
                return orjson.loads(orjson.dumps(value))
        return copied
    if isinstance(value, dict | list):
        return orjson.loads(orjson.dumps(value))
    return value


def _flat(obj: dict[str, Any]) -> bool:
    """Whether every value of a plain object is a scalar (a shallow copy of it is a deep one): the types of its
    values tested in C, without a generator resumed per value."""
    return SCALARS.issuperset(map(type, obj.values()))


def build(builder: Builder, context: Context, args: Any, builders: Mapping[str, Builder]) -> dict[str, Any]:
    """Run a builder with `args` (and first its `base` builder, when it has one); returns a new object.

    A builder sees the document's names (the root of `context`: object, related objects, facts) and `args`,
    never the names of the place that calls it (a rule's `let`, `item`, `rule`), as the compiler checks."""
    root = context.root()
    local = root.child({"args": args})
    if builder.base is not None:
        base_name, base_args = builder.base
        rendered = base_args.render(local) if base_args is not None else {}
        local["base"] = build(builders[base_name], root, rendered, builders)
    for name, expression in builder.lets:
        local[name] = expression.evaluate(local)
    for requirement in builder.requires:
        if is_false(requirement.that.evaluate(local)):
            raise RequirementError(str(requirement.message.render(local)))
    obj = fresh(builder.object.render(local))
    if not isinstance(obj, dict):
        raise ExpressionError(f"builder `{builder.name}` made a {type(obj).__name__}, not an object")
    apply_transforms(builder.transforms, obj, local)
    return obj


_FOR_EACH, _REMOVE, _SET, _APPEND, _UPSERT, _MERGE = (
    TransformOp.FOR_EACH,
    TransformOp.REMOVE,
    TransformOp.SET,
    TransformOp.APPEND,
    TransformOp.UPSERT,
    TransformOp.MERGE,
)


def apply_transforms(transforms: tuple[Transform, ...], obj: dict[str, Any], context: Context) -> None:
    """Apply transforms in order to `obj` (mutated in place)."""
    for transform in transforms:
        when = transform.when
        if when is not None and is_false(when.evaluate(context)):
            continue
        op = transform.op
        if op is _FOR_EACH:
            assert transform.each is not None
            items = transform.each.evaluate(context)
            for item in items if isinstance(items, list) else []:
                apply_transforms(transform.body, obj, context.child({transform.alias: item}))
            continue
        at = transform.at
        assert at is not None
        if op is _REMOVE:
            at.remove(obj)
            continue
        assert transform.value is not None
        value = fresh(transform.value.render(context))
        if op is _SET:
            at.set(obj, value)
        elif op is _APPEND:
            if value is None:
                continue
            at.append(obj, value if isinstance(value, list) else [value])
        elif op is _UPSERT:
            if not isinstance(value, dict):
                raise ExpressionError(f"upsert at {at.source}: the item must be an object, got {type(value).__name__}")
            at.upsert(obj, transform.key, value)
        elif op is _MERGE:
            if not isinstance(value, dict):
                raise ExpressionError(f"merge at {at.source}: the value must be an object, got {type(value).__name__}")
            at.merge(obj, value)
