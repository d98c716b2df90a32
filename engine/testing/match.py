"""Comparing what a step expected with what happened: actions as YAML, partial or exact matching, diffs.

Where this sits: engine.testing.expect uses it to check expectations. Actions (engine.model) are shown in
the fixture format's YAML form (`action_form`), so expected and actual read the same way.

Matching is *partial* by default: a mapping matches when every key it gives matches (a `null` matches an
absent field); a list matches when its items match items of the actual list in order (others may come
between); scalars must be equal, and a boolean never equals a number. *Exact* matching compares whole
values. A mismatch names the first place that differs; `diff` shows expected against the actual value cut
down to the fields the expectation gives. This module decides nothing about which lists to compare.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import yaml

from engine.model import Action, CreateObject, DeleteObject, EmitEvent, ObjectRef, PatchObject, PatchType
from engine.testing.fixture import ActionVerb

_MISSING = object()


def _ref_fields(ref: ObjectRef) -> dict[str, Any]:
    fields: dict[str, Any] = {"apiVersion": ref.api_version, "kind": ref.kind}
    if ref.namespace:
        fields["namespace"] = ref.namespace
    fields["name"] = ref.name
    return fields


def action_form(action: Action) -> dict[str, Any]:
    """An action as the fixture format writes it: `{create: obj}`, `{delete: {...}}`, `{status: {..., set}}`..."""
    if isinstance(action, CreateObject):
        return {ActionVerb.CREATE.value: dict(action.obj)}
    if isinstance(action, DeleteObject):
        return {ActionVerb.DELETE.value: {**_ref_fields(action.ref), "propagation": action.propagation.value}}
    if isinstance(action, PatchObject):
        if action.subresource == "status" and isinstance(action.patch, dict) and set(action.patch) == {"status"}:
            return {ActionVerb.STATUS.value: {**_ref_fields(action.ref), "set": action.patch["status"]}}
        key = "merge" if action.patch_type is PatchType.MERGE else "json"
        return {ActionVerb.PATCH.value: {**_ref_fields(action.ref), key: action.patch}}
    assert isinstance(action, EmitEvent)
    return {
        ActionVerb.EVENT.value: {
            **_ref_fields(action.involved),
            "type": action.type.value,
            "reason": action.reason,
            "message": action.message,
        }
    }


def action_text(action: Action) -> str:
    """`create Job/default/w1-run`, `status Widget/default/w1`, `event Normal Started on Widget/default/w1`."""
    if isinstance(action, CreateObject):
        meta = action.obj.get("metadata") or {}
        name = meta.get("name") or f"{meta.get('generateName', '')}*"
        where = f"{meta['namespace']}/{name}" if meta.get("namespace") else name
        return f"create {action.obj.get('kind')}/{where}"
    if isinstance(action, DeleteObject):
        return f"delete {action.ref} ({action.propagation.value})"
    if isinstance(action, PatchObject):
        return f"{'status' if action.subresource == 'status' else 'patch'} {action.ref}"
    return f"event {action.type.value} {action.reason} on {action.involved}"


@dataclass(frozen=True, slots=True)
class Mismatch:
    """Where a comparison failed and how."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"at {self.path}: {self.message}" if self.path else self.message


def show(value: Any) -> str:
    """A short, one-line rendering of a value for messages."""
    if value is _MISSING:
        return "nothing"
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False).strip()
    text = text.removesuffix("\n...").removesuffix("...").strip()
    return text if len(text) <= 120 else text[:117] + "..."


def match(expected: Any, actual: Any, exact: bool = False, path: str = "") -> Mismatch | None:
    """None when `actual` matches `expected`; otherwise the first difference."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return Mismatch(path, f"expected a mapping, found {show(actual)}")
        for key, wanted in expected.items():
            here = f"{path}.{key}" if path else str(key)
            found = actual.get(key, _MISSING)
            if wanted is None and not exact and (found is None or found is _MISSING):
                continue
            if found is _MISSING:
                return Mismatch(here, f"expected {show(wanted)}, found nothing (the field is absent)")
            failed = match(wanted, found, exact, here)
            if failed is not None:
                return failed
        if exact:
            extra = [key for key in actual if key not in expected]
            if extra:
                return Mismatch(path, f"unexpected field(s) {', '.join(map(str, extra))}")
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return Mismatch(path, f"expected a list, found {show(actual)}")
        return match_list(expected, actual, exact, path)
    if _same_scalar(expected, actual):
        return None
    return Mismatch(path, f"expected {show(expected)}, found {show(actual)}")


def match_list(expected: list[Any], actual: list[Any], exact: bool, path: str, noun: str = "item") -> Mismatch | None:
    """Exact: same length, item by item. Partial: the expected items match actual items in order."""
    if exact:
        for index, (wanted, found) in enumerate(zip(expected, actual, strict=False)):
            failed = match(wanted, found, True, f"{path}[{index}]")
            if failed is not None:
                return failed
        if len(expected) != len(actual):
            return Mismatch(path, f"expected {len(expected)} {noun}(s), found {len(actual)}")
        return None
    start = 0
    for index, wanted in enumerate(expected):
        failures: list[tuple[int, Mismatch]] = []
        for position in range(start, len(actual)):
            failed = match(wanted, actual[position], False, f"{path}[{position}]")
            if failed is None:
                start = position + 1
                break
            failures.append((position, failed))
        else:
            return _unmatched(wanted, failures, _Place(index, path, noun, start, len(actual)))
    return None


@dataclass(frozen=True, slots=True)
class _Place:
    """Where in a partial list match an expected item failed: its index, the list, what is in it."""

    index: int
    path: str
    noun: str
    start: int
    total: int


def _unmatched(wanted: Any, failures: list[tuple[int, Mismatch]], place: _Place) -> Mismatch:
    index, path, noun, start, total = place.index, place.path, place.noun, place.start, place.total
    where = f"expected {noun} {index + 1} ({_short(wanted)})"
    if total == 0:
        return Mismatch(path, f"{where}: there is none")
    if not failures:
        return Mismatch(path, f"{where}: no {noun} is left after the ones matched before it ({total} in all)")
    position, closest = max(failures, key=lambda item: (item[1].path.count(".") + item[1].path.count("["), -item[0]))
    after = f" after {noun} {start}" if start else ""
    return Mismatch(path, f"{where} matches no {noun}{after}; closest is {noun} {position + 1}: {closest}")


def _short(value: Any) -> str:
    text = show(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _same_scalar(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return expected == actual
    return type(expected) is type(actual) and bool(expected == actual)


def project(actual: Any, expected: Any) -> Any:
    """`actual` cut down to the fields `expected` gives (lists: each actual item cut to its best match)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {key: project(actual[key], wanted) for key, wanted in expected.items() if key in actual}
    if isinstance(expected, list) and isinstance(actual, list) and expected:
        return [project(item, _shape_for(item, expected)) for item in actual]
    return actual


_IDENTITY = frozenset({"apiVersion", "kind", "namespace", "name", "metadata", "type", "reason"})


def _shape_for(item: Any, expected: list[Any]) -> Any:
    """The expected item to cut an actual item to: one it matches, else one with keys in common, else its
    identity (kind, name, type, reason...), so unrelated items still say what they are."""
    for wanted in expected:
        if match(wanted, item) is None:
            return wanted
    if isinstance(item, dict):
        for wanted in expected:
            if isinstance(wanted, dict) and set(wanted) & set(item):
                return wanted
        return _identity(item)
    return expected[0]


def _identity(item: Any, depth: int = 0) -> Any:
    """The identifying fields of a mapping (a one-key mapping, such as an action, is looked into)."""
    if not isinstance(item, dict) or depth > 2:
        return None
    if len(item) == 1:
        key, value = next(iter(item.items()))
        return {key: _identity(value, depth + 1) or {}}
    return {key: _identity(value, depth + 1) or value for key, value in item.items() if key in _IDENTITY}


def dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, default_flow_style=False, width=120, allow_unicode=True)


def diff(expected: Any, actual: Any, exact: bool = False) -> str:
    """A unified diff of the expected YAML against the actual YAML (cut to the expected fields unless exact)."""
    shown = actual if exact else project(actual, expected)
    lines = difflib.unified_diff(
        dump(expected).splitlines(), dump(shown).splitlines(), "expected", "actual", lineterm="", n=3
    )
    return "\n".join(lines)
