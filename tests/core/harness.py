"""A small harness for the core's tests: Widgets (example.com/v1) that own Jobs, an in-memory cluster, a fixed clock.

Engine tests use this neutral vocabulary only; nothing here knows Arcane's rules.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from typing import Any

from engine.core.evaluate import Evaluation, Snapshot, evaluate
from engine.model import GVK, Action, CreateObject, DeleteObject, EmitEvent, PatchObject
from engine.spec import RuleSet, compile_texts
from engine.testing.memory import MemoryCluster

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
NOW_TEXT = "2030-01-02T03:04:05Z"
WIDGET = GVK("example.com", "v1", "Widget")
JOB = GVK("batch", "v1", "Job")

HEADER = """\
apiVersion: rules.arcane.dev/v1alpha1
kind: Rules
metadata:
  name: widgets
spec:
  for:
    kind: {apiVersion: example.com/v1, kind: Widget}
"""


def clock() -> datetime:
    return NOW


def rules(body: str, name: str = "widgets.yaml") -> RuleSet:
    """A rule set of one Widget document whose `spec` continues with `body` (YAML, dedented)."""
    return compile_texts({name: HEADER + textwrap.indent(textwrap.dedent(body), "  ")})


def widget(
    name: str = "w1", spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None, **meta: Any
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", **meta},
        "spec": spec or {},
    }
    if status is not None:
        obj["status"] = status
    return obj


def job(name: str = "w1", owner: str = "uid-w1", status: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"uid-job-{name}",
            "ownerReferences": [
                {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w1", "uid": owner, "controller": True}
            ],
            **meta,
        },
        "spec": {"template": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}}},
    }
    if status is not None:
        obj["status"] = status
    return obj


def cluster(*objects: dict[str, Any]) -> MemoryCluster:
    memory = MemoryCluster(lambda: NOW_TEXT)
    for obj in objects:
        memory.put(obj)
    return memory


def run(ruleset: RuleSet, obj: dict[str, Any], *others: dict[str, Any]) -> Evaluation:
    """Evaluate `obj` with `others` in the store (a fresh in-memory cluster)."""
    store = cluster(*others)
    return evaluate(ruleset, Snapshot(obj, store), clock)


def describe(action: Action) -> str:
    """An action as one short line, for readable assertions."""
    if isinstance(action, CreateObject):
        meta = action.obj.get("metadata") or {}
        return f"create {action.obj.get('kind')} {meta.get('name') or meta.get('generateName', '') + '*'}"
    if isinstance(action, DeleteObject):
        return f"delete {action.ref} {action.propagation.value}"
    if isinstance(action, PatchObject):
        where = f"{action.ref}/status" if action.subresource else str(action.ref)
        return f"patch {where} {action.patch_type.name.lower()} {action.patch}"
    assert isinstance(action, EmitEvent)
    return f"event {action.type.value} {action.reason} on {action.involved}: {action.message}"


def actions(evaluation: Evaluation) -> list[str]:
    """Every action of every decision, described, in order."""
    return [describe(action) for decision in evaluation.decisions for action in decision.actions]
