"""Which documents evaluate which objects: static kinds, kinds named by source objects, and every kind to watch."""

from __future__ import annotations

from typing import Any

import pytest

from engine.core.evaluate import Snapshot, evaluate
from engine.core.targets import bindings_for, bindings_of, named_kind, watched_kinds
from engine.model import GVK
from engine.spec import compile_texts
from engine.spec.ruleset import KindRef

from .harness import HEADER, clock, cluster

GADGETS = """\
apiVersion: rules.arcane.dev/v1alpha1
kind: Rules
metadata: {name: gadgets}
spec:
  for:
    dynamic:
      from: {apiVersion: example.com/v1, kind: GadgetClass, plural: gadgetclasses}
      where: "status.ready"
      kind: {apiVersion: "{{ spec.group }}/{{ spec.version }}", kind: "{{ spec.kind }}", plural: "{{ spec.plural }}"}
      as: gadgetClass
  related:
    config: {get: {apiVersion: v1, kind: ConfigMap, name: "{{ object.metadata.name }}"}}
  groups: [{name: main, rules: [{name: gadget}]}]
"""
WIDGETS = (
    HEADER
    + """\
  related:
    job: {get: {apiVersion: batch/v1, kind: Job, name: "{{ object.metadata.name }}"}}
  groups: [{name: main, rules: [{name: widget}]}]
"""
)
RULESET = compile_texts({"gadgets.yaml": GADGETS, "widgets.yaml": WIDGETS})
DYNAMIC = RULESET.documents[0].target.dynamic


def gadget_class(
    name: str, kind: str, *, ready: Any = True, group: str = "g.example.com", version: str = "v1", plural: Any = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"group": group, "version": version, "kind": kind}
    if plural is not None:
        spec["plural"] = plural
    return {
        "apiVersion": "example.com/v1",
        "kind": "GadgetClass",
        "metadata": {"name": name},
        "spec": spec,
        "status": {"ready": ready},
    }


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        (gadget_class("c", "Blue"), KindRef(GVK("g.example.com", "v1", "Blue"), "")),
        (gadget_class("c", "Blue", plural="blues"), KindRef(GVK("g.example.com", "v1", "Blue"), "blues")),
        (gadget_class("c", "Blue", group=""), KindRef(GVK("", "v1", "Blue"), "")),
        (gadget_class("c", "Blue", ready=False), None),
        (gadget_class("c", ""), None),
        (gadget_class("c", "Blue", version=""), None),
        (gadget_class("c", "Blue", group=" "), None),
        (gadget_class("c", "Blue", plural=3), KindRef(GVK("g.example.com", "v1", "Blue"), "")),
        (
            {
                "apiVersion": "example.com/v1",
                "kind": "GadgetClass",
                "metadata": {"name": "c"},
                "status": {"ready": True},
            },
            None,
        ),
    ],
)
def test_named_kind(source: dict[str, Any], kind: KindRef | None) -> None:
    """A source names a kind when `where` holds and the templates give a version and a kind (a core group is
    fine); otherwise it names none."""
    assert DYNAMIC is not None
    assert named_kind(DYNAMIC, source) == kind


def test_bindings_for_static_and_dynamic_kinds() -> None:
    """Objects of a static kind get its document; objects of a dynamic kind get the document bound to the first
    source (by name) that names the kind; other kinds get nothing."""
    store = cluster(gadget_class("z-class", "Blue"), gadget_class("a-class", "Blue"), gadget_class("r", "Red"))
    (widgets,) = bindings_for(RULESET, GVK("example.com", "v1", "Widget"), store)
    assert (widgets.document.name, widgets.name, widgets.source) == ("widgets", "", None)
    (blue,) = bindings_for(RULESET, GVK("g.example.com", "v1", "Blue"), store)
    assert (blue.document.name, blue.name, blue.source["metadata"]["name"]) == ("gadgets", "gadgetClass", "a-class")  # type: ignore[index]
    assert bindings_for(RULESET, GVK("g.example.com", "v1", "Green"), store) == []


def test_watched_kinds() -> None:
    """The kinds to watch are the evaluated kinds (static and currently named), the sources and the related kinds,
    with the plural when a rule gives one."""
    store = cluster(gadget_class("c", "Blue", plural="blues"))
    assert watched_kinds(RULESET, store) == {
        GVK("example.com", "v1", "GadgetClass"): KindRef(GVK("example.com", "v1", "GadgetClass"), "gadgetclasses"),
        GVK("g.example.com", "v1", "Blue"): KindRef(GVK("g.example.com", "v1", "Blue"), "blues"),
        GVK("", "v1", "ConfigMap"): KindRef(GVK("", "v1", "ConfigMap"), ""),
        GVK("example.com", "v1", "Widget"): KindRef(GVK("example.com", "v1", "Widget"), ""),
        GVK("batch", "v1", "Job"): KindRef(GVK("batch", "v1", "Job"), ""),
    }


SCOPED = """\
apiVersion: rules.arcane.dev/v1alpha1
kind: Rules
metadata: {name: scoped}
spec:
  for:
    kind: {apiVersion: example.com/v1, kind: Widget}
    namespaces: [team-a, team-b]
    labelSelector: "tier in (gold, silver), !legacy"
  groups: [{name: main, rules: [{name: scoped-rule}]}]
---
apiVersion: rules.arcane.dev/v1alpha1
kind: Rules
metadata: {name: everywhere}
spec:
  for:
    kind: {apiVersion: example.com/v1, kind: Widget}
  groups: [{name: main, rules: [{name: unscoped-rule}]}]
"""


@pytest.mark.parametrize(
    ("namespace", "labels", "fired"),
    [
        ("team-a", {"tier": "gold"}, ["scoped-rule", "unscoped-rule"]),
        ("team-b", {"tier": "silver", "other": "x"}, ["scoped-rule", "unscoped-rule"]),
        ("default", {"tier": "gold"}, ["unscoped-rule"]),
        ("team-a", {"tier": "bronze"}, ["unscoped-rule"]),
        ("team-a", {"tier": "gold", "legacy": ""}, ["unscoped-rule"]),
        ("team-a", None, ["unscoped-rule"]),
    ],
)
def test_a_document_evaluates_only_the_objects_in_its_namespaces_and_selector(
    namespace: str, labels: dict[str, str] | None, fired: list[str]
) -> None:
    """`for.namespaces` and `for.labelSelector` scope a document to some objects of its kind; another document of the
    same kind without them still evaluates every object."""
    ruleset = compile_texts({"scoped.yaml": SCOPED})
    meta: dict[str, Any] = {"name": "w1", "namespace": namespace, "uid": "uid-w1"}
    if labels is not None:
        meta["labels"] = labels
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": meta, "spec": {}}
    assert evaluate(ruleset, Snapshot(obj, cluster()), clock).fired == fired
    assert [b.document.name for b in bindings_of(ruleset, obj, cluster())] == [
        {"scoped-rule": "scoped", "unscoped-rule": "everywhere"}[rule] for rule in fired
    ]


LABELLED = """\
apiVersion: rules.arcane.dev/v1alpha1
kind: Rules
metadata: {name: labelled}
spec:
  for:
    kind: {apiVersion: example.com/v1, kind: Widget}
  related:
    parts:
      list:
        apiVersion: v1
        kind: ConfigMap
        match: {metadata.labels."app.kubernetes.io/part-of": "{{ object.metadata.name }}"}
  groups: [{name: main, rules: [{name: has-parts, when: "length(parts) == `1`"}]}]
"""


def test_a_list_lookup_matches_a_label_key_with_dots_and_slashes() -> None:
    """`match` takes a quoted name for a label key such as app.kubernetes.io/part-of: the lookup finds the object
    so labelled, and not one labelled for another Widget."""
    ruleset = compile_texts({"labelled.yaml": LABELLED})
    widget_obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1", "namespace": "default"}}

    def config(name: str, part_of: str) -> dict[str, Any]:
        labels = {"app.kubernetes.io/part-of": part_of}
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default", "labels": labels},
        }

    store = cluster(config("mine", "w1"), config("other", "w2"))
    evaluation = evaluate(ruleset, Snapshot(widget_obj, store), clock)
    assert evaluation.fired == ["has-parts"]
