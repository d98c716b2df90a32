"""Builders and transforms: an object from a template, then set/append/upsert/merge/remove/forEach/when in order."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from engine.core.build import fresh
from engine.model import CreateObject

from .harness import job, rules, run, widget

JOB_BUILDER = rules(
    """\
    facts:
      team: "object.metadata.labels.team || 'none'"
    builders:
      job:
        description: A Job for a Widget.
        let:
          image: "args.image || 'busybox'"
          envNames: "args.template.spec.template.spec.containers[].env[].name || `[]`"
        require:
          - that: "args.template"
            message: "Widget {{ object.metadata.name }} names no template"
          - that: "!contains(envNames, 'WIDGET')"
            message: "the template of {{ object.metadata.name }} already sets WIDGET"
        object:
          apiVersion: batch/v1
          kind: Job
          metadata:
            name: "{{ args.name }}"
            labels: "{{ args.template.metadata.labels || `{}` }}"
          spec: "{{ args.template.spec }}"
        transform:
          - merge: {at: metadata.labels, value: {widget: "{{ object.metadata.name }}", team: "{{ team }}"}}
          - append:
              at: "$.spec.template.spec.containers[*].env"
              items: [{name: WIDGET, value: "{{ object.metadata.name }}"}]
          - upsert:
              at: "$.spec.template.spec.containers[*].env"
              key: name
              item: {name: MODE, value: "{{ args.mode }}"}
          - when: "args.mode == 'debug'"
            set: {at: "$.spec.backoffLimit", value: 0}
          - set: {at: "$.metadata.annotations['example.com/hash']", value: "{{ md5(canonical_json(object.spec)) }}"}
          - set: {at: "$.spec.template.spec.containers[*].image", value: "{{ image }}"}
          - remove: {at: "$.spec.template.spec.containers[*].resources"}
          - forEach:
              in: "object.spec.secrets"
              as: secret
              do:
                - append: {at: "$.spec.template.spec.containers[*].envFrom", items: [{secretRef: {name: "{{ secret }}"}}]}
          - append: {at: "$.spec.template.spec.volumes", items: "{{ object.spec.volumes }}"}
          - append: {at: "$.metadata.finalizers", items: "{{ object.spec.finalizer }}"}
          - append: {at: "$.metadata.missing", items: "{{ object.spec.none }}"}
      cron:
        base:
          build: job
          with: {name: "{{ args.name }}-template", template: "{{ args.template }}", mode: "{{ args.mode }}"}
        object:
          apiVersion: batch/v1
          kind: CronJob
          metadata: {name: "{{ args.name }}"}
          spec: {schedule: "{{ object.spec.schedule }}", jobTemplate: {spec: "{{ base.spec }}"}}
    groups:
      - name: main
        match: all
        rules:
          - name: make-job
            when: "!(object.spec.schedule)"
            then:
              - create: {build: job, with: {name: "{{ object.metadata.name }}", template: "{{ object.spec.template }}", mode: "{{ object.spec.mode }}"}}
          - name: make-cron
            when: "object.spec.schedule"
            then:
              - create: {build: cron, with: {name: "{{ object.metadata.name }}", template: "{{ object.spec.template }}", mode: cron}}
    """
)

TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"from": "template"}},
    "spec": {
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "main",
                        "env": [{"name": "A", "value": "1"}, {"name": "MODE", "value": "old"}],
                        "resources": {},
                    },
                    {"name": "side"},
                ]
            }
        }
    },
}


def built(spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    evaluation = run(JOB_BUILDER, widget(spec=spec, **meta))
    assert evaluation.errors == [], evaluation.errors
    (action,) = evaluation.decisions[0].actions
    assert isinstance(action, CreateObject)
    return dict(action.obj)


def test_a_job_from_a_template() -> None:
    """The builder renders its object, then applies every transform in order (merge, append to every container's
    env, upsert by key, set with created fields, remove, forEach, append of a list or a single value)."""
    spec = {
        "template": TEMPLATE,
        "mode": "debug",
        "secrets": ["s1", "s2"],
        "volumes": [{"name": "v"}],
        "finalizer": "f",
    }
    obj = built(spec, labels={"team": "blue"})
    containers = obj["spec"]["template"]["spec"]["containers"]
    assert obj["metadata"]["labels"] == {"from": "template", "widget": "w1", "team": "blue"}
    # The MD5 of the spec's canonical JSON, here computed by the standard library: this spec has no `<`, `>`, `&`
    # and no fractional number, where Go's JSON and Python's differ.
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()
    assert obj["metadata"]["annotations"]["example.com/hash"] == hashlib.md5(canonical).hexdigest()
    assert obj["metadata"]["finalizers"] == ["f"]
    assert "missing" not in obj["metadata"]
    assert containers[0] == {
        "name": "main",
        "env": [{"name": "A", "value": "1"}, {"name": "MODE", "value": "debug"}, {"name": "WIDGET", "value": "w1"}],
        "image": "busybox",
        "envFrom": [{"secretRef": {"name": "s1"}}, {"secretRef": {"name": "s2"}}],
    }
    assert containers[1] == {
        "name": "side",
        "env": [{"name": "WIDGET", "value": "w1"}, {"name": "MODE", "value": "debug"}],
        "image": "busybox",
        "envFrom": [{"secretRef": {"name": "s1"}}, {"secretRef": {"name": "s2"}}],
    }
    assert obj["spec"]["backoffLimit"] == 0
    assert obj["spec"]["template"]["spec"]["volumes"] == [{"name": "v"}]


def test_transforms_with_false_when_are_skipped() -> None:
    """A transform whose `when` is false does nothing."""
    assert "backoffLimit" not in built({"template": TEMPLATE, "mode": "run"})["spec"]


def test_the_template_in_the_cache_is_never_changed() -> None:
    """Transforms work on a fresh copy: the template object (as read from the cache) is unchanged."""
    template = {"metadata": {"labels": {"a": "b"}}, "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}
    snapshot = repr(template)
    built({"template": template, "mode": "debug"})
    assert repr(template) == snapshot


def test_requirements() -> None:
    """An unmet `require` stops the build with its message (rendered with the builder's names)."""
    evaluation = run(JOB_BUILDER, widget())
    assert evaluation.errors[0].error == "Widget w1 names no template"
    env_template = {"spec": {"template": {"spec": {"containers": [{"name": "c", "env": [{"name": "WIDGET"}]}]}}}}
    evaluation = run(JOB_BUILDER, widget(spec={"template": env_template}))
    assert evaluation.errors[0].error == "the template of w1 already sets WIDGET"


def test_base_builders() -> None:
    """A builder with `base` first runs the other builder (its `with` may use this builder's `args`) and sees the
    result as `base`."""
    obj = built({"template": TEMPLATE, "schedule": "*/5 * * * *"})
    assert obj["kind"] == "CronJob"
    assert obj["metadata"]["name"] == "w1"
    assert obj["spec"]["schedule"] == "*/5 * * * *"
    job_spec = obj["spec"]["jobTemplate"]["spec"]
    assert job_spec["template"]["spec"]["containers"][0]["env"][1] == {"name": "MODE", "value": "cron"}


def test_builders_see_document_names_not_the_callers() -> None:
    """A builder reads the document's names and `args`, never the caller's (`item` of a forEach, a rule's `let`),
    so what it builds does not depend on where it is called from."""
    ruleset = rules(
        """\
        facts:
          label: "'fact'"
        builders:
          cm:
            object: {apiVersion: v1, kind: ConfigMap, metadata: {name: "{{ args.name }}"}, data: {label: "{{ label }}"}}
        groups:
          - name: main
            rules:
              - name: make
                let: {label: "let"}
                then:
                  - forEach:
                      in: "object.spec.names"
                      do: [{create: {build: cm, with: {name: "{{ item }}"}}}]
        """
    )
    evaluation = run(ruleset, widget(spec={"names": ["a", "b"]}))
    made = [a.obj for a in evaluation.decisions[0].actions if isinstance(a, CreateObject)]
    assert [(m["metadata"]["name"], m["data"]) for m in made] == [("a", {"label": "fact"}), ("b", {"label": "fact"})]


def test_transform_errors_are_error_decisions() -> None:
    """Merging a non-object, upserting a non-object or appending to a non-list is an error decision."""
    ruleset = rules(
        """\
        builders:
          cm:
            object: {apiVersion: v1, kind: ConfigMap, metadata: {name: x, labels: {a: b}}}
            transform:
              - when: "object.spec.case == 'merge'"
                merge: {at: metadata.labels, value: "{{ object.spec.value }}"}
              - when: "object.spec.case == 'upsert'"
                upsert: {at: metadata.list, key: name, item: "{{ object.spec.value }}"}
              - when: "object.spec.case == 'append'"
                append: {at: metadata.name, items: [1]}
        groups:
          - name: main
            rules: [{name: make, then: [{create: {build: cm}}]}]
        """
    )
    errors = {
        case: run(ruleset, widget(spec={"case": case, "value": 1})).errors[0].error
        for case in ("merge", "upsert", "append")
    }
    assert errors == {
        "merge": "merge at metadata.labels: the value must be an object, got int",
        "upsert": "upsert at metadata.list: the item must be an object, got int",
        "append": "metadata.name: cannot append to a str",
    }


def test_building_through_a_rule_with_an_existing_object() -> None:
    """With `existing` present and no replaceWhen, the builder is not even run (its requirements are not checked)."""
    ruleset = rules(
        """\
        related:
          job: {get: {apiVersion: batch/v1, kind: Job, name: "{{ object.metadata.name }}"}}
        builders:
          job:
            require: [{that: "`false`", message: never}]
            object: {apiVersion: batch/v1, kind: Job}
        groups:
          - name: main
            rules: [{name: make, then: [{create: {build: job, existing: job}}]}]
        """
    )
    assert run(ruleset, widget(), job()).decisions[0].actions == ()
    assert run(ruleset, widget()).errors[0].error == "never"


def test_fresh_copies_every_container_and_shares_only_scalars() -> None:
    """fresh() copies objects and lists at every depth (flat ones one container at a time, deeper ones through
    JSON), so changing the copy never changes the original; scalars, immutable, are the same objects."""
    spec = "x" * 1000
    flat = {"name": "SPEC", "value": spec, "n": 1, "on": True, "none": None}
    env = [flat, "text", 2]
    deep = {"labels": {"a": "b"}, "containers": [{"env": [flat]}]}
    args = ["--spec", spec, 3, 2.5, None, True]
    for original in (flat, env, deep, args):
        copy = fresh(original)
        assert copy == original
        assert copy is not original
    assert fresh(env)[0] is not flat
    assert fresh(env)[0]["value"] is spec
    assert fresh(args)[1] is spec
    copied = fresh(deep)
    copied["labels"]["a"] = "changed"
    copied["containers"][0]["env"][0]["name"] = "changed"
    assert deep == {"labels": {"a": "b"}, "containers": [{"env": [flat]}]}
    assert flat["name"] == "SPEC"
    assert fresh("text") == "text"
    assert fresh(None) is None
