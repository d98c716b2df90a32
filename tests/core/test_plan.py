"""Every action, planned against the snapshot into minimal concrete actions (nothing when nothing would change)."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
import yaml

from engine.core.plan import merge_conditions, merge_patch, owner_reference
from engine.errors import ExpressionError
from engine.model import CreateObject, DeleteObject, EmitEvent, PatchObject, PatchType
from engine.spec import compile_texts

from .harness import NOW_TEXT, actions, job, rules, run, widget

W = "Widget/default/w1"


def one_rule(then: str, when: str = "", extra: str = "") -> Any:
    """A rule set whose single rule (all-match) has the actions `then` (YAML), with `job` (the Widget's Job) and
    `jobs` (every Job) as related objects, and `extra` (YAML) added to the spec."""
    rule: dict[str, Any] = {"name": "act", "then": yaml.safe_load(textwrap.dedent(then))}
    if when:
        rule["when"] = when
    spec: dict[str, Any] = {
        "for": {"kind": {"apiVersion": "example.com/v1", "kind": "Widget"}},
        "related": {
            "job": {"get": {"apiVersion": "batch/v1", "kind": "Job", "name": "{{ object.metadata.name }}"}},
            "jobs": {"list": {"apiVersion": "batch/v1", "kind": "Job"}},
        },
        **(yaml.safe_load(textwrap.dedent(extra)) if extra else {}),
        "groups": [{"name": "main", "match": "all", "rules": [rule]}],
    }
    document = {
        "apiVersion": "rules.arcane.dev/v1alpha1",
        "kind": "Rules",
        "metadata": {"name": "widgets"},
        "spec": spec,
    }
    return compile_texts({"widgets.yaml": yaml.safe_dump(document, sort_keys=False)})


# --- create ----------------------------------------------------------------------------------------------------

CREATE = one_rule(
    """
                  - create:
                      object:
                        apiVersion: batch/v1
                        kind: Job
                        metadata: {name: "{{ object.metadata.name }}", labels: {app: widget}}
                        spec: "{{ object.spec.jobSpec }}"
                      owner: object
                      existing: job
                      replaceWhen: "job.metadata.annotations.hash != object.spec.hash"
                      replacePropagation: Foreground
"""
)


def test_create_when_missing_with_owner_and_namespace() -> None:
    """A missing object is created in the evaluated object's namespace, with a controller ownerReference, and
    owner_uid set for adoption on 409."""
    evaluation = run(CREATE, widget(spec={"jobSpec": {"x": 1}, "hash": "h"}))
    (create,) = evaluation.decisions[0].actions
    assert isinstance(create, CreateObject)
    assert create.owner_uid == "uid-w1"
    assert create.obj == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "w1",
            "labels": {"app": "widget"},
            "namespace": "default",
            "ownerReferences": [
                {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w1", "uid": "uid-w1", "controller": True}
            ],
        },
        "spec": {"x": 1},
    }


def test_create_leaves_an_existing_object_alone() -> None:
    """When `existing` is an object and `replaceWhen` is false, create plans nothing."""
    current = job(annotations={"hash": "h"})
    assert actions(run(CREATE, widget(spec={"hash": "h"}), current)) == []


def test_create_replaces_when_asked() -> None:
    """When `replaceWhen` holds, the existing object is deleted (uid precondition, given propagation), then created."""
    evaluation = run(CREATE, widget(spec={"hash": "new"}), job(annotations={"hash": "old"}))
    assert actions(evaluation) == ["delete Job/default/w1 Foreground", "create Job w1"]
    delete = evaluation.decisions[0].actions[0]
    assert isinstance(delete, DeleteObject)
    assert delete.ref.uid == "uid-job-w1"


def test_create_waits_for_a_terminating_object() -> None:
    """An existing object that is being deleted is neither replaced nor recreated yet (its deletion re-evaluates)."""
    terminating = job(annotations={"hash": "old"}, deletionTimestamp=NOW_TEXT)
    assert actions(run(CREATE, widget(spec={"hash": "new"}), terminating)) == []


def test_create_does_not_copy_cache_objects() -> None:
    """The created object is a fresh copy: rendering it from the evaluated object never changes that object."""
    obj = widget(spec={"jobSpec": {"nested": {"a": 1}}})
    evaluation = run(CREATE, obj)
    created = evaluation.decisions[0].actions[0]
    assert isinstance(created, CreateObject)
    created.obj["spec"]["nested"]["a"] = 2  # type: ignore[index]
    assert obj["spec"]["jobSpec"] == {"nested": {"a": 1}}


def test_create_with_generate_name_and_explicit_namespace() -> None:
    """generateName is kept (the server names the object); an explicit namespace wins over the default; a
    non-object owner adds no reference."""
    ruleset = one_rule(
        """[{create: {object: {apiVersion: v1, kind: ConfigMap, metadata: {generateName: "w-", namespace: other}},
             owner: "object.spec.nobody"}}]"""
    )
    (create,) = run(ruleset, widget()).decisions[0].actions
    assert isinstance(create, CreateObject)
    assert create.obj["metadata"] == {"generateName": "w-", "namespace": "other"}
    assert create.owner_uid == ""


def test_create_with_a_builder() -> None:
    """`build` runs the named builder with `with` as `args` (see test_build.py for builders themselves)."""
    ruleset = one_rule(
        """[{create: {build: job, with: {name: "{{ object.metadata.name }}-job"}, owner: object}}]""",
        extra="""builders:
          job:
            object: {apiVersion: batch/v1, kind: Job, metadata: {name: "{{ args.name }}"}}""",
    )
    assert actions(run(ruleset, widget())) == ["create Job w1-job"]


# --- delete ----------------------------------------------------------------------------------------------------


def test_delete_objects_lists_and_nulls() -> None:
    """delete takes an object or a list; nulls are skipped, repeats planned once, terminating objects skipped."""
    ruleset = one_rule("""[{delete: {target: "[job, `null`, job, jobs[?metadata.name == 'other']] | [0:3]", propagation: Orphan}},
                         {delete: {target: "jobs[?metadata.name == 'gone']"}}]""")
    evaluation = run(
        ruleset,
        widget(),
        job(),
        job("other"),
        job("gone", deletionTimestamp=NOW_TEXT),
    )
    assert actions(evaluation) == ["delete Job/default/w1 Orphan"]


def test_delete_nothing() -> None:
    """Deleting null (an absent related object) plans nothing."""
    assert actions(run(one_rule("[{delete: {target: job}}]"), widget())) == []


@pytest.mark.parametrize("target", ["'text'", "`[1]`", "`[{}, 2]`"])
def test_delete_of_non_objects_is_an_error(target: str) -> None:
    """A delete target that is not an object or a list of objects is an error decision saying what it was."""
    evaluation = run(one_rule(f'[{{delete: {{target: "{target}"}}}}]'), widget())
    assert evaluation.errors[0].error.startswith("delete: the target must be an object or a list of objects, got ")


# --- patch -----------------------------------------------------------------------------------------------------


def test_merge_patch_of_another_object_only_when_it_changes() -> None:
    """A merge patch of another object is planned when it would change it, in the order of the rule's actions."""
    ruleset = one_rule(
        """[{patch: {target: job, merge: {metadata: {labels: {seen: "yes"}}}}}, {event: {reason: R, message: m}}]"""
    )
    assert actions(run(ruleset, widget(), job())) == [
        "patch Job/default/w1 merge {'metadata': {'labels': {'seen': 'yes'}}}",
        f"event Normal R on {W}: m",
    ]
    assert actions(run(ruleset, widget(), job(labels={"seen": "yes"}))) == [f"event Normal R on {W}: m"]


def test_merge_patches_of_the_evaluated_object_are_combined() -> None:
    """Merge patches of the evaluated object are merged into one patch, planned only when it changes something."""
    ruleset = one_rule(
        """[{patch: {target: object, merge: {spec: {a: 1}}}}, {patch: {target: object, merge: {spec: {b: null, c: 3}}}}]"""
    )
    assert actions(run(ruleset, widget(spec={"b": 2}))) == [f"patch {W} merge {{'spec': {{'a': 1, 'c': 3}}}}"]
    assert actions(run(ruleset, widget(spec={"a": 1, "c": 3}))) == []


def test_json_patches_are_always_sent() -> None:
    """A JSON patch (which may test values) is planned as written: the server decides."""
    ruleset = one_rule(
        """[{patch: {target: job, json: [{op: test, path: /spec/x, value: 1}, {op: replace, path: /spec/x, value: "{{ `2` }}"}]}}]"""
    )
    (patch,) = run(ruleset, widget(), job()).decisions[0].actions
    assert isinstance(patch, PatchObject)
    assert patch.patch_type is PatchType.JSON
    assert patch.patch == [
        {"op": "test", "path": "/spec/x", "value": 1},
        {"op": "replace", "path": "/spec/x", "value": 2},
    ]


# --- status ----------------------------------------------------------------------------------------------------

STATUS = one_rule(
    """
                  - status: {set: {observed: "{{ object.metadata.generation }}", nested: {a: 1}}}
                  - status: {set: {nested: {b: 2}}}
"""
)


def test_status_set_merges_and_is_suppressed_when_unchanged() -> None:
    """status.set writes merge into one status patch; nothing is planned when the status already holds them."""
    assert actions(run(STATUS, widget(generation=3))) == [
        f"patch {W}/status merge {{'status': {{'observed': 3, 'nested': {{'a': 1, 'b': 2}}}}}}"
    ]
    unchanged = widget(generation=3, status={"observed": 3, "nested": {"a": 1, "b": 2}, "other": True})
    assert actions(run(STATUS, unchanged)) == []


CONDITIONS = one_rule(
    """
                  - status:
                      conditions:
                        set:
                          - {type: Ready, status: "{{ object.spec.ready }}", reason: "{{ object.spec.reason }}"}
"""
)
EARLIER = "2020-01-01T00:00:00Z"


def test_condition_set_keeps_transition_time_while_status_holds() -> None:
    """Setting a condition keeps its lastTransitionTime when its status is unchanged (a reason change is still
    written), and takes the clock's time when the status changes (a boolean status reads "True"/"False")."""
    current = [
        {"type": "Other", "status": "True"},
        {"type": "Ready", "status": "True", "reason": "A", "lastTransitionTime": EARLIER},
    ]
    same = run(CONDITIONS, widget(spec={"ready": "True", "reason": "B"}, status={"conditions": current}))
    assert same.decisions[0].actions[0].patch == {  # type: ignore[union-attr]
        "status": {
            "conditions": [
                {"type": "Other", "status": "True"},
                {"type": "Ready", "status": "True", "reason": "B", "lastTransitionTime": EARLIER},
            ]
        }
    }
    flipped = run(CONDITIONS, widget(spec={"ready": False, "reason": "A"}, status={"conditions": current}))
    assert flipped.decisions[0].actions[0].patch["status"]["conditions"][1] == {  # type: ignore[union-attr]
        "type": "Ready",
        "status": "False",
        "reason": "A",
        "lastTransitionTime": NOW_TEXT,
    }
    assert actions(run(CONDITIONS, widget(spec={"ready": "True", "reason": "A"}, status={"conditions": current}))) == []


def test_condition_set_updates_in_place_and_appends_new_types() -> None:
    """An existing condition is updated where it is (no reordering, so an unchanged list is no write); a new
    type is appended."""
    assert merge_conditions(
        [{"type": "A", "status": "True", "lastTransitionTime": EARLIER}, {"type": "B", "status": "True"}],
        [{"type": "A", "status": "True"}, {"type": "C"}],
        replace=False,
        now=NOW_TEXT,
    ) == [
        {"type": "A", "status": "True", "lastTransitionTime": EARLIER},
        {"type": "B", "status": "True"},
        {"type": "C", "status": "True", "lastTransitionTime": NOW_TEXT},
    ]


def test_condition_replace_and_remove() -> None:
    """`replace` makes the list exactly the given conditions; `remove` drops types (no write when absent); a
    null field of a condition is left out; an explicit lastTransitionTime is kept."""
    ruleset = one_rule(
        """[{status: {conditions: {replace: [{type: Only, message: "{{ object.spec.none }}", lastTransitionTime: "2001-01-01T00:00:00Z"}]}}}]"""
    )
    assert run(ruleset, widget(status={"conditions": [{"type": "A"}]})).decisions[0].actions[0].patch == {  # type: ignore[union-attr]
        "status": {"conditions": [{"type": "Only", "lastTransitionTime": "2001-01-01T00:00:00Z", "status": "True"}]}
    }
    remove = one_rule("[{status: {conditions: {remove: [Stale]}}}]")
    assert actions(run(remove, widget(status={"conditions": [{"type": "Stale"}, {"type": "Kept"}]}))) == [
        f"patch {W}/status merge {{'status': {{'conditions': [{{'type': 'Kept'}}]}}}}"
    ]
    assert actions(run(remove, widget(status={"conditions": [{"type": "Kept"}]}))) == []
    assert actions(run(remove, widget())) == []


TWO_GROUPS = """\
groups:
  - name: readiness
    rules:
      - name: ready
        then: [{status: {set: {phase: Active}, conditions: {set: [{type: Ready, status: "{{ object.spec.ok }}"}]}}}]
  - name: scaling
    match: all
    rules:
      - {name: scaled, then: [{status: {conditions: {set: [{type: ScaledOut}]}}}]}
      - {name: noted, then: [{patch: {target: object, merge: {metadata: {labels: {noted: "yes"}}}}}]}
      - {name: also-noted, then: [{patch: {target: object, merge: {metadata: {labels: {also: "yes"}}}}}]}
"""


def test_writes_of_one_object_by_several_decisions_build_on_each_other() -> None:
    """Each status write carries the whole list of conditions: a later decision's starts from what the earlier
    ones of the same evaluation write (not from the cached object), so applied in order the last leaves both
    conditions, and a condition already written is not written again."""
    evaluation = run(
        rules(TWO_GROUPS), widget(spec={"ok": "True"}, status={"conditions": [{"type": "Ready", "status": "False"}]})
    )
    patches = [a for d in evaluation.decisions for a in d.actions if isinstance(a, PatchObject)]
    applied = widget(spec={"ok": "True"}, status={"conditions": [{"type": "Ready", "status": "False"}]})
    for patch in patches:
        applied = merge_patch(applied, patch.patch)
    assert [(c["type"], c["status"]) for c in applied["status"]["conditions"]] == [
        ("Ready", "True"),
        ("ScaledOut", "True"),
    ]
    assert applied["status"]["phase"] == "Active"
    assert applied["metadata"]["labels"] == {"noted": "yes", "also": "yes"}
    assert len(patches) == 4
    again = run(rules(TWO_GROUPS), applied)
    assert actions(again) == []


@pytest.mark.parametrize(
    ("then", "message"),
    [
        (
            """[{status: {conditions: {set: [{status: "True"}]}}}]""",
            "conditions must be a list of objects, each with a `type`",
        ),
        (
            """[{status: {conditions: {set: ["{{ object.spec.x }}"]}}}]""",
            "conditions must be a list of objects, each with a `type`",
        ),
        (
            """[{status: {conditions: {replace: [{type: "{{ object.spec.none }}"}]}}}]""",
            "conditions must be a list of objects, each with a `type`",
        ),
    ],
)
def test_status_shape_errors(then: str, message: str) -> None:
    """Conditions that are not objects, or that have no type, are error decisions."""
    assert run(one_rule(then), widget(spec={"x": 1})).errors[0].error == message


def test_status_of_another_object() -> None:
    """status.target writes another object's status (through its status subresource)."""
    ruleset = one_rule("[{status: {target: job, set: {seen: true}}}]")
    (patch,) = run(ruleset, widget(), job()).decisions[0].actions
    assert isinstance(patch, PatchObject)
    assert (str(patch.ref), patch.subresource, patch.patch) == ("Job/default/w1", "status", {"status": {"seen": True}})


# --- events, requeue, forEach, when -----------------------------------------------------------------------------


def test_events() -> None:
    """Events render type, reason and message; `target` names another object (none when it is null)."""
    ruleset = one_rule(
        """[{event: {type: Warning, reason: "Saw{{ object.kind }}", message: "job {{ job.metadata.name }}"}},
            {event: {target: job, reason: OnJob, message: m}}]"""
    )
    assert actions(run(ruleset, widget(), job())) == [
        f"event Warning SawWidget on {W}: job w1",
        "event Normal OnJob on Job/default/w1: m",
    ]
    assert actions(run(ruleset, widget())) == [f"event Warning SawWidget on {W}: job "]


def test_event_when_changed() -> None:
    """An event with whenChanged is emitted only when the decision's own writes change that field."""
    ruleset = one_rule(
        """[{status: {set: {size: "{{ object.spec.size }}"}}},
            {event: {reason: Resized, message: "now {{ object.spec.size }}", whenChanged: status.size}}]"""
    )
    assert actions(run(ruleset, widget(spec={"size": 2}, status={"size": 1}))) == [
        f"patch {W}/status merge {{'status': {{'size': 2}}}}",
        f"event Normal Resized on {W}: now 2",
    ]
    assert actions(run(ruleset, widget(spec={"size": 1}, status={"size": 1}))) == []
    # Marked as an event for a change: the runtime drops it when it finds the change already made (a pruned status).
    (decision,) = run(ruleset, widget(spec={"size": 2}, status={"size": 1})).decisions
    assert [a.on_change for a in decision.actions if isinstance(a, EmitEvent)] == [True]
    always = one_rule("""[{event: {reason: Hello, message: hi}}]""")
    assert [a.on_change for d in run(always, widget()).decisions for a in d.actions] == [False]


def test_requeue_takes_the_shortest_delay() -> None:
    """Several requeues in one decision keep the shortest delay."""
    ruleset = one_rule("[{requeue: {after: 30}}, {requeue: {after: 2.5}}, {requeue: {after: 10}}]")
    (decision,) = run(ruleset, widget()).decisions
    assert (decision.actions, decision.requeue_after) == ((), 2.5)


def test_for_each_and_when() -> None:
    """forEach repeats its actions for each item under its alias; an action's `when` skips it when false."""
    ruleset = one_rule(
        """[{forEach: {in: "object.spec.items", as: thing, do: [
              {when: "thing.loud", event: {type: Warning, reason: Loud, message: "{{ thing.name }}"}},
              {when: "!(thing.loud)", event: {reason: Quiet, message: "{{ thing.name }}"}}]}},
            {forEach: {in: "object.spec.notAList", do: [{event: {reason: Never, message: "{{ item }}"}}]}}]"""
    )
    items = [{"name": "a", "loud": True}, {"name": "b"}]
    assert actions(run(ruleset, widget(spec={"items": items, "notAList": "x"}))) == [
        f"event Warning Loud on {W}: a",
        f"event Normal Quiet on {W}: b",
    ]


def test_the_order_of_a_decisions_actions() -> None:
    """A decision lists creates, deletes and other-object patches in rule order, then the evaluated object's
    patches and status, then events."""
    ruleset = one_rule(
        """[{event: {reason: First, message: m}}, {status: {set: {a: 1}}}, {delete: {target: job}},
            {patch: {target: object, merge: {spec: {a: 1}}}}]"""
    )
    assert actions(run(ruleset, widget(), job())) == [
        "delete Job/default/w1 Background",
        f"patch {W} merge {{'spec': {{'a': 1}}}}",
        f"patch {W}/status merge {{'status': {{'a': 1}}}}",
        f"event Normal First on {W}: m",
    ]


# --- helpers ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [
        ({"a": 1, "b": {"c": 2}}, {"b": {"c": None, "d": 3}}, {"a": 1, "b": {"d": 3}}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
        ({"a": 1}, {"a": {"b": 1}}, {"a": {"b": 1}}),
        ({"a": {"b": 1}}, {"a": 1}, {"a": 1}),
        ("x", {"a": 1}, {"a": 1}),
        ({"a": 1}, [1], [1]),
        ({"a": 1}, {"missing": None}, {"a": 1}),
    ],
)
def test_merge_patch_is_rfc_7386(target: Any, patch: Any, result: Any) -> None:
    """merge_patch follows RFC 7386: objects merge, null removes, anything else replaces; the target is not changed."""
    original = repr(target)
    assert merge_patch(target, patch) == result
    assert repr(target) == original


def test_owner_reference() -> None:
    """A controller ownerReference names the owner's apiVersion, kind, name and uid."""
    assert owner_reference(widget()) == {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "name": "w1",
        "uid": "uid-w1",
        "controller": True,
    }


def test_merge_conditions_rejects_bad_input() -> None:
    """merge_conditions needs a list of objects that each have a type."""
    with pytest.raises(ExpressionError, match="conditions must be a list of objects, each with a `type`"):
        merge_conditions([], [{"type": ""}], replace=True, now=NOW_TEXT)
