"""evaluate(): first-match and all-match groups, the state machine, lazy facts and lookups, provenance, the trace."""

from __future__ import annotations

import dataclasses
import gc
import textwrap
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.evaluate import Evaluation, Lookup, Snapshot, evaluate
from engine.core.trace import render
from engine.model import Decision, Provenance
from engine.spec.checks import needs_cycle_check
from engine.testing.memory import MemoryCluster

from .harness import HEADER, JOB, NOW_TEXT, WIDGET, actions, clock, cluster, job, rules, run, widget

LIFECYCLE_TEXT = """\
    related:
      job:
        get: {apiVersion: batch/v1, kind: Job, name: "{{ object.metadata.name }}"}
    facts:
      paused: "object.spec.paused == `true`"
      jobFailed: "condition(job, 'Failed').status == 'True'"
      itemCount: "length(object.spec.items || `[]`)"
      failure: {value: ""}
    groups:
      - name: lifecycle
        state:
          field: status.phase
          initial: New
          states:
            New: null
            Running: {type: Ready, reason: Running, message: "running ({{ rule.name }}, from {{ transition.from }})"}
            Paused: {type: Ready, reason: Paused, message: paused}
            Failed: {type: Error, reason: Failed, message: "failed.{{ failure }}"}
          onEnter:
            - status:
                conditions:
                  replace: [{type: "{{ entered.type }}", reason: "{{ entered.reason }}", message: "{{ entered.message }}"}]
        rules:
          - name: job-failed
            when: jobFailed
            let: {failure: " Job {{ job.metadata.name }} failed."}
            then: [{delete: {target: job}}]
            to: Failed
            event: {type: Warning, reason: JobFailed, message: "{{ failure }}"}
          - name: pause
            from: [New, Running]
            when: paused
            to: Paused
            event: {reason: Paused, message: paused}
          - name: start
            from: [New, Paused]
            when: "!paused"
            then:
              - create:
                  object: {apiVersion: batch/v1, kind: Job, metadata: {name: "{{ object.metadata.name }}"}, spec: {}}
                  owner: object
                  existing: job
            to: Running
            event: {reason: Started, message: "started {{ object.metadata.name }}"}
          - name: keep-running
            from: [Running]
            when: "itemCount > `0`"
            event: {reason: Still, message: "{{ itemCount }} items", always: true}
          - name: settle
            from: [New, Running]  # never reached in New (start fires first): only [Running] would be a lint error
            to: Running
            event: {reason: Settled, message: settled}
      - name: audit
        match: all
        rules:
          - name: count
            when: "object.spec.count"
            then: [{status: {set: {count: "{{ object.spec.count }}"}}}]
          - name: labelled
            when: "object.metadata.labels.audit"
            then: [{event: {reason: Audited, message: audited}}]
    """
LIFECYCLE = rules(LIFECYCLE_TEXT)
WIDGET_REF = "Widget/default/w1"


def test_initial_state_and_transition() -> None:
    """An object without a state is in the initial state; the first matching rule moves it, writing the state,
    running onEnter with `entered`, `transition` and `rule`, and emitting the rule's event."""
    evaluation = run(LIFECYCLE, widget())
    assert evaluation.fired == ["start"]
    (decision,) = evaluation.decisions
    assert decision.transition == ("New", "Running")
    assert actions(evaluation) == [
        "create Job w1",
        f"patch {WIDGET_REF}/status merge {{'status': {{'phase': 'Running', 'conditions': [{{'type': 'Ready', "
        f"'reason': 'Running', 'message': 'running (start, from New)', 'status': 'True', 'lastTransitionTime': '{NOW_TEXT}'}}]}}}}",
        f"event Normal Started on {WIDGET_REF}: started w1",
    ]


def test_empty_state_field_means_the_initial_state() -> None:
    """An empty string in the state field counts as absent: the machine starts from its initial state."""
    assert run(LIFECYCLE, widget(status={"phase": ""})).decisions[0].transition == ("New", "Running")


def test_first_match_stops_at_the_first_true_condition() -> None:
    """In a first-match group only the first matching rule fires; later rules are not even considered."""
    evaluation = run(LIFECYCLE, widget(spec={"paused": True}))
    assert evaluation.fired == ["pause"]
    steps = [(s.rule, s.matched) for s in evaluation.trace.groups[0].steps]
    assert steps == [("job-failed", False), ("pause", True)]


def test_from_restricts_rules_to_states() -> None:
    """A rule whose `from` does not hold the current state is skipped (and the trace says so)."""
    evaluation = run(LIFECYCLE, widget(spec={"paused": True}, status={"phase": "Paused"}))
    assert evaluation.fired == []
    group = evaluation.trace.groups[0]
    assert [(s.rule, s.state_mismatch) for s in group.steps] == [
        ("job-failed", False),
        ("pause", True),
        ("start", False),
        ("keep-running", True),
        ("settle", True),
    ]
    assert group.winner is None
    assert evaluation.trace.why_not("pause") == "the state was 'Paused', which is not among its `from` states"


def test_rule_events_fire_on_state_change_only_unless_always() -> None:
    """A rule keeping the state emits its event only with `always: true`; `to` the current state is no change
    (no onEnter, no event without `always`)."""
    running = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    still = run(LIFECYCLE, widget(spec={"items": [1, 2]}, status=running), job())
    assert still.fired == ["keep-running"]
    assert actions(still) == [f"event Normal Still on {WIDGET_REF}: 2 items"]
    assert still.decisions[0].transition is None
    settled = run(LIFECYCLE, widget(status=running), job())
    assert settled.fired == ["settle"]
    assert actions(settled) == []
    assert settled.decisions[0].transition is None


def test_rule_let_shadows_facts_in_actions_state_data_and_events() -> None:
    """A rule's `let` shadows the fact of the same name in its actions, the entered state's data and its event."""
    failed = job(status={"conditions": [{"type": "Failed", "status": "True"}]})
    evaluation = run(LIFECYCLE, widget(status={"phase": "Running"}), failed)
    assert evaluation.fired == ["job-failed"]
    assert actions(evaluation) == [
        "delete Job/default/w1 Background",
        f"patch {WIDGET_REF}/status merge {{'status': {{'phase': 'Failed', 'conditions': [{{'type': 'Error', "
        f"'reason': 'Failed', 'message': 'failed. Job w1 failed.', 'status': 'True', 'lastTransitionTime': '{NOW_TEXT}'}}]}}}}",
        f"event Warning JobFailed on {WIDGET_REF}:  Job w1 failed.",
    ]
    assert "widgets.failure" not in evaluation.trace.facts


def test_all_match_fires_every_matching_rule_in_order() -> None:
    """Every rule of an all-match group whose condition holds fires, in order, each with its own decision."""
    obj = widget(spec={"count": 3, "paused": True}, status={"phase": "Paused"}, labels={"audit": "yes"})
    evaluation = run(LIFECYCLE, obj)
    assert evaluation.fired == ["count", "labelled"]
    assert actions(evaluation) == [
        f"patch {WIDGET_REF}/status merge {{'status': {{'count': 3}}}}",
        f"event Normal Audited on {WIDGET_REF}: audited",
    ]
    assert evaluation.trace.groups[1].winner is None  # no winner where every matching rule fires
    assert render(evaluation.trace).splitlines()[-1] == "  fired: count, labelled"


def test_facts_and_lookups_are_lazy() -> None:
    """Only the facts and related objects a decision needed are computed (and traced); the rest never run."""
    evaluation = run(LIFECYCLE, widget(spec={"paused": True}))
    assert sorted(evaluation.trace.facts) == ["widgets.jobFailed", "widgets.paused"]
    assert evaluation.trace.related == {"widgets.job": None}
    assert evaluation.lookups == {Lookup(JOB, "default", "w1")}


def test_provenance_names_the_rule_and_the_rule_set() -> None:
    """Each decision carries its document, group, rule, file, line and the rule set's digest."""
    (decision,) = run(LIFECYCLE, widget()).decisions
    text = HEADER + textwrap.indent(textwrap.dedent(LIFECYCLE_TEXT), "  ")
    line = 1 + [row.strip() for row in text.splitlines()].index("- name: start")
    assert decision.provenance == Provenance("widgets", "lifecycle", "start", "widgets.yaml", line, LIFECYCLE.digest)
    assert str(decision.provenance) == f"start (widgets.yaml:{line})"


def test_no_document_for_the_kind() -> None:
    """An object of a kind no document evaluates yields an empty evaluation."""
    evaluation = run(LIFECYCLE, job())
    assert (evaluation.decisions, evaluation.trace.groups) == ([], [])
    assert (
        evaluation.trace.why_not("start") == "it was not evaluated (no document of the rule set evaluates this object)"
    )


def test_trace_renders_values_and_winners() -> None:
    """The rendered trace lists related objects, facts and every condition with its value, the winner of each
    first-match group and the rules an all-match group fired."""
    evaluation = run(LIFECYCLE, widget(spec={"paused": True}), job())
    assert render(evaluation.trace).splitlines() == [
        "related objects:",
        '  widgets.job = "Job/default/w1"',
        "facts:",
        "  widgets.jobFailed = false",
        "  widgets.paused = true",
        "group widgets/lifecycle (match first, state 'New'):",
        "  -  job-failed: `jobFailed` = false",
        "  => pause: `paused` = true",
        "  winner: pause",
        "group widgets/audit (match all):",
        "  -  count: `object.spec.count` = null",
        "  -  labelled: `object.metadata.labels.audit` = null",
        "  fired: none",
    ]


def test_why_not() -> None:
    """why_not() explains a rule that did not fire: false condition with its value, or an earlier winner."""
    evaluation = run(LIFECYCLE, widget(spec={"paused": True}))
    assert evaluation.trace.why_not("job-failed") == "its condition `jobFailed` was false"
    assert evaluation.trace.why_not("start") == "rule `pause` matched first in group `lifecycle`, so it was not reached"
    assert evaluation.trace.why_not("pause") == "it matched"
    step = evaluation.trace.step("count")
    assert step is not None
    assert (step.condition, step.value, step.matched, step.state_mismatch, step.error) == (
        "object.spec.count",
        None,
        False,
        False,
        "",
    )
    assert evaluation.trace.step("nope") is None


def test_the_state_can_live_outside_status() -> None:
    """A state field outside `status` is written with a patch of the object itself."""
    ruleset = rules(
        """\
        groups:
          - name: main
            state: {field: spec.stage, initial: one, states: {one: null, two: null}}
            rules:
              - {name: advance, from: [one], to: two}
        """
    )
    assert actions(run(ruleset, widget())) == [f"patch {WIDGET_REF} merge {{'spec': {{'stage': 'two'}}}}"]


def test_now_comes_from_the_injected_clock() -> None:
    """now() in a rule reads the clock given to evaluate(), never the wall clock."""
    ruleset = rules(
        """\
        groups:
          - name: main
            rules:
              - {name: stamp, then: [{status: {set: {seen: "{{ now() }}"}}}]}
        """
    )
    evaluation = evaluate(
        ruleset, Snapshot(widget(), cluster()), lambda: datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)
    )
    assert actions(evaluation) == [f"patch {WIDGET_REF}/status merge {{'status': {{'seen': '1999-12-31T23:59:59Z'}}}}"]


LOOKUPS = rules(
    """\
    related:
      byName: {get: {apiVersion: batch/v1, kind: Job, name: "{{ object.spec.job }}"}}
      elsewhere: {get: {apiVersion: batch/v1, kind: Job, name: "{{ object.spec.job }}", namespace: other}}
      noName: {get: {apiVersion: batch/v1, kind: Job, name: "{{ object.spec.missing }}"}}
      oldestFirst:
        list: {apiVersion: batch/v1, kind: Job, where: "item.metadata.labels.app == 'w'", orderBy: metadata.creationTimestamp}
      newest:
        list: {apiVersion: batch/v1, kind: Job, orderBy: metadata.creationTimestamp, descending: true, first: true}
      everywhere: {list: {apiVersion: batch/v1, kind: Job, namespace: "*"}}
      inNamespace: {list: {apiVersion: batch/v1, kind: Job, namespace: "{{ object.spec.namespace }}"}}
    groups:
      - name: main
        match: all
        rules:
          - name: report
            then:
              - status:
                  set:
                    byName: "{{ byName.metadata.name }}"
                    elsewhere: "{{ elsewhere.metadata.namespace }}"
                    noName: "{{ noName }}"
                    oldestFirst: "{{ oldestFirst[].metadata.name }}"
                    newest: "{{ newest.metadata.name }}"
                    everywhere: "{{ length(everywhere) }}"
                    inNamespace: "{{ inNamespace[].metadata.name }}"
    """
)


def _job(
    name: str, namespace: str = "default", created: str = "2030-01-01T00:00:00Z", app: str = "w"
) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created, "labels": {"app": app}},
    }


def test_related_lookups() -> None:
    """get by computed name (and namespace), list with where/orderBy/descending/first, in one, another or every
    namespace; an empty name looks nothing up (null, which status.set drops); every lookup is recorded."""
    objects = [
        _job("b", created="2030-01-01T00:00:02Z"),
        _job("a", created="2030-01-01T00:00:01Z"),
        _job("c", created="2030-01-01T00:00:03Z", app="x"),
        _job("a", namespace="other"),
        _job("d", namespace="third"),
    ]
    obj = widget(spec={"job": "a", "namespace": "third"})
    evaluation = run(LOOKUPS, obj, *objects)
    patch = evaluation.decisions[0].actions[0].patch  # type: ignore[union-attr]
    assert patch == {
        "status": {
            "byName": "a",
            "elsewhere": "other",
            "oldestFirst": ["a", "b"],
            "newest": "c",
            "everywhere": 5,
            "inNamespace": ["d"],
        }
    }
    assert evaluation.lookups == {
        Lookup(JOB, "default", "a"),
        Lookup(JOB, "other", "a"),
        Lookup(JOB, "default", None),
        Lookup(JOB, None, None),
        Lookup(JOB, "third", None),
    }
    assert evaluation.trace.related["widgets.oldestFirst"] == ["Job/default/a", "Job/default/b"]


def test_traced_lists_are_shortened() -> None:
    """A long looked-up list shows its first five objects in the trace, then `...`."""
    evaluation = run(LOOKUPS, widget(), *[_job(f"j{i}", created=f"2030-01-01T00:00:0{i}Z") for i in range(7)])
    assert evaluation.trace.related["widgets.oldestFirst"] == [f"Job/default/j{i}" for i in range(5)] + ["..."]


FACTS = rules(
    """\
    facts:
      size:
        cases:
          - when: "object.spec.replicas > `3`"
            value: large
          - when: "object.spec.replicas > `1`"
            value: "medium {{ object.spec.replicas }}"
          - value: small
      noMatch:
        cases:
          - when: "`false`"
            value: never
      names: {in: "object.spec.items", where: "item.enabled", select: "{{ item.name }}"}
      firstBig: {in: "object.spec.items", where: "item.size > `1`", first: true}
      nothing: {in: "object.spec.none", first: true}
      text: {value: "{{ object.metadata.name }}-{{ size }}"}
    groups:
      - name: main
        rules:
          - name: report
            then: [{status: {set: {facts: ["{{ size }}", "{{ noMatch }}", "{{ names }}", "{{ firstBig }}", "{{ nothing }}", "{{ text }}"]}}}]
    """
)


@pytest.mark.parametrize(
    ("replicas", "size"),
    [(5, "large"), (2, "medium 2"), (1, "small"), (None, "small")],
)
def test_fact_forms(replicas: int | None, size: str) -> None:
    """cases (first true `when`, a case without `when` as the default, null when none holds), in/where/select/first
    over a list, and value templates."""
    items = [{"name": "a", "enabled": True, "size": 1}, {"name": "b", "enabled": False, "size": 2}]
    evaluation = run(FACTS, widget(spec={"replicas": replicas, "items": items}))
    assert evaluation.decisions[0].actions[0].patch == {  # type: ignore[union-attr]
        "status": {"facts": [size, None, ["a"], items[1], None, f"w1-{size}"]}
    }


DYNAMIC = """\
apiVersion: rules.arcane.dev/v1alpha1
kind: Rules
metadata: {name: gadgets}
spec:
  for:
    dynamic:
      from: {apiVersion: example.com/v1, kind: GadgetClass}
      where: "status.ready"
      kind: {apiVersion: "{{ spec.group }}/{{ spec.version }}", kind: "{{ spec.kind }}"}
      as: gadgetClass
  groups:
    - name: main
      rules:
        - name: classify
          then: [{status: {set: {class: "{{ gadgetClass.metadata.name }}"}}}]
"""


def _class(name: str, kind: str, ready: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "GadgetClass",
        "metadata": {"name": name},
        "spec": {"group": "gadgets.example.com", "version": "v2", "kind": kind},
        "status": {"ready": ready},
    }


def test_dynamic_kinds_bind_their_source() -> None:
    """A dynamic document evaluates the kinds its (ready) source objects name, with the source bound by name."""
    from engine.spec import compile_texts

    ruleset = compile_texts({"gadgets.yaml": DYNAMIC})
    gadget = {"apiVersion": "gadgets.example.com/v2", "kind": "Blue", "metadata": {"name": "g", "namespace": "default"}}
    evaluation = run(ruleset, gadget, _class("b-class", "Blue"), _class("a-class", "Blue"), _class("r", "Red"))
    assert actions(evaluation) == ["patch Blue/default/g/status merge {'status': {'class': 'a-class'}}"]
    assert run(ruleset, gadget, _class("b-class", "Blue", ready=False)).decisions == []


def test_error_decisions_never_escape() -> None:
    """A condition that fails becomes an error decision naming the rule and the expression; a first-match group
    stops there, and the trace records the error."""
    ruleset = rules(
        """\
        groups:
          - name: main
            rules:
              - {name: broken, when: "abs(object.spec.name) > `1`"}
              - {name: after}
          - name: all
            match: all
            rules:
              - {name: broken-too, when: "abs(object.spec.name) > `1`"}
              - {name: fine}
        """
    )
    evaluation = run(ruleset, widget(spec={"name": "text"}))
    assert evaluation.fired == ["broken", "broken-too", "fine"]
    broken = evaluation.errors[0]
    assert broken.error == (
        "condition failed (widgets.yaml:11): 'abs(object.spec.name) > `1`': In function abs(), invalid type for value: "
        "text, "
        "expected one of: ['number'], received: \"string\""
    )
    assert broken.actions == ()
    assert evaluation.trace.why_not("after") == "rule `broken` failed first in group `main`, so it was not reached"
    assert evaluation.trace.step("broken").error.startswith("'abs(object.spec.name)")  # type: ignore[union-attr]
    assert evaluation.trace.why_not("broken").startswith("its condition failed: 'abs(object.spec.name) > `1`'")


def test_a_name_read_by_a_computed_key_that_needs_itself_is_an_error_decision() -> None:
    """A cycle the compiler cannot see (through `get(@, key)`) is caught while evaluating: the condition that read
    it fails with the name, and the evaluation goes on."""
    ruleset = rules(
        """\
        facts:
          key: "'loop'"
          loop: "get(@, key)"
        groups:
          - name: main
            rules:
              - {name: looped, when: "loop"}
              - {name: after}
        """
    )
    evaluation = run(ruleset, widget())
    assert evaluation.fired == ["looped"]
    assert evaluation.errors[0].error == "condition failed (widgets.yaml:14): `loop` depends on itself"


def test_a_document_built_with_a_cycle_keeps_the_check() -> None:
    """A document the compiler did not check (built from a compiled one, with a cycle) still fails the condition that
    meets its cycle, instead of recursing until Python stops it."""
    ruleset = rules(
        """\
        facts:
          a: "b"
          b: "c"
          c: "`1`"
        groups:
          - name: main
            rules:
              - {name: reads, when: "a"}
        """
    )
    (document,) = ruleset.documents
    cyclic = dataclasses.replace(document, facts={**document.facts, "c": document.facts["a"]})  # c reads b
    assert needs_cycle_check(cyclic)
    evaluation = run(dataclasses.replace(ruleset, documents=(cyclic,)), widget())
    assert evaluation.errors[0].error == "condition failed (widgets.yaml:15): `b` depends on itself"


GROUPS = """
groups:
  - name: main
    rules:
      - {name: only, when: "object.spec.go"}
"""


@pytest.mark.parametrize(
    ("body", "dynamic"),
    [
        ('facts:\n  key: "\'a\'"\n  loop: "get(@, key)"\n', True),
        ('facts:\n  name: "object.metadata.name"\n', False),
        (
            "related:\n  peers:\n    list: {apiVersion: example.com/v1, kind: Widget, "
            "match: {spec.group: \"{{ get(@, 'object').spec.group }}\"}}\n",
            True,
        ),
        ('facts:\n  size: "length(object.spec.items || `[]`)"\n', False),
    ],
)
def test_the_cycle_check_stays_where_a_name_can_be_read_by_a_computed_key(body: str, dynamic: bool) -> None:
    """Computing a name through `@` (a fact, a lookup's match) may read any name; without `@`, the compiler saw every
    name read, so the context need not catch cycles while evaluating."""
    (document,) = rules(body + GROUPS).documents
    assert needs_cycle_check(document) is dynamic


ON_ERROR = rules(
    """\
    builders:
      job:
        require: [{that: "args.name", message: "no name for the Job of {{ object.metadata.name }}"}]
        object: {apiVersion: batch/v1, kind: Job, metadata: {name: "{{ args.name }}"}}
    onError:
      - status: {conditions: {set: [{type: Error, reason: "{{ rule.name }}", message: "{{ error.message }}"}]}}
      - event: {type: Warning, reason: Failed, message: "{{ error.rule }}: {{ error.message }}"}
    groups:
      - name: main
        rules:
          - name: build
            when: "object.spec.build"
            then: [{create: {build: job, with: {name: "{{ object.spec.jobName }}"}}}]
          - name: bad-action
            then: [{status: {set: {n: "{{ abs(object.metadata.name) }}"}}}]
    """
)


def test_failed_requirements_run_on_error() -> None:
    """A builder's unmet `require` is an error decision with the author's message, followed by the document's
    onError decision, which sees `error` (message, rule) and `rule`."""
    evaluation = run(ON_ERROR, widget(spec={"build": True}))
    assert evaluation.fired == ["build", "build:onError"]
    assert evaluation.decisions[0].error == "no name for the Job of w1"
    assert actions(evaluation) == [
        f"patch {WIDGET_REF}/status merge {{'status': {{'conditions': [{{'type': 'Error', 'reason': 'build', "
        f"'message': 'no name for the Job of w1', 'status': 'True', 'lastTransitionTime': '{NOW_TEXT}'}}]}}}}",
        f"event Warning Failed on {WIDGET_REF}: build: no name for the Job of w1",
    ]


def test_failing_actions_are_errors_too() -> None:
    """An expression failing inside an action is an error decision for that rule (then onError)."""
    evaluation = run(ON_ERROR, widget())
    assert evaluation.fired == ["bad-action", "bad-action:onError"]
    assert evaluation.decisions[0].error.startswith("'abs(object.metadata.name)': In function abs(), invalid type")


def test_a_failing_on_error_is_reported_not_raised() -> None:
    """When onError itself fails, its decision carries that failure as an error."""
    ruleset = rules(
        """\
        onError: [{status: {set: {n: "{{ abs(error.message) }}"}}}]
        groups:
          - name: main
            rules: [{name: bad, when: "abs(object.metadata.name)"}]
        """
    )
    evaluation = run(ruleset, widget())
    assert [d.provenance.rule for d in evaluation.decisions] == ["bad", "bad:onError"]
    assert evaluation.decisions[1].error.startswith("onError failed: 'abs(error.message)': In function abs()")


def test_report_error_for_execution_failures() -> None:
    """report_error() gives the onError decision for an error met while executing a decision (None without onError)."""
    from engine.core.evaluate import report_error

    provenance = Provenance("widgets", "main", "build", "widgets.yaml", 12, ON_ERROR.digest)
    decision = report_error(ON_ERROR, Snapshot(widget(), cluster()), provenance, "409 Conflict", clock)
    assert isinstance(decision, Decision)
    assert decision.provenance.rule == "build:onError"
    assert [type(a).__name__ for a in decision.actions] == ["PatchObject", "EmitEvent"]
    assert decision.actions[1].message == "build: 409 Conflict"  # type: ignore[union-attr]
    assert report_error(LIFECYCLE, Snapshot(widget(), cluster()), provenance, "x", clock) is None


def test_evaluate_uses_given_bindings() -> None:
    """When the snapshot carries bindings, evaluate() uses them instead of looking documents up by kind."""
    snapshot = Snapshot(widget(), cluster(), bindings=())
    assert evaluate(LIFECYCLE, snapshot, clock).decisions == []


def test_decisions_for_a_sequence_converge() -> None:
    """Applying each step's writes and re-evaluating reaches a steady state: New -> Running, then nothing to do."""
    import asyncio

    from engine.core.execute import Executor

    store = cluster(widget())
    before = len(store.writes)

    async def step() -> list[str]:
        obj = store.get(WIDGET, "default", "w1")
        assert obj is not None
        evaluation = evaluate(LIFECYCLE, Snapshot(obj, store), clock)
        executor = Executor(store, now=lambda: NOW_TEXT)
        for decision in evaluation.decisions:
            assert (await executor.execute(decision)).ok
        return evaluation.fired

    assert asyncio.run(step()) == ["start"]
    assert asyncio.run(step()) == ["settle"]
    assert asyncio.run(step()) == ["settle"]
    stored = store.get(WIDGET, "default", "w1")
    assert stored is not None
    assert stored["status"]["phase"] == "Running"
    assert [(verb, text.split(".")[0]) for verb, text in store.writes[before:]] == [
        ("create", "Job/default/w1"),
        ("patch-status", "Widget/default/w1"),
        ("create", "Event/default/w1"),
    ]


VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 5) | st.sampled_from(["", "x", "True", "Running", "Failed"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "items", "type", "status"]), children, max_size=3)
    ),
    max_leaves=10,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "paused": VALUES,
        "items": VALUES,
        "count": VALUES,
        "job": VALUES,
        "namespace": VALUES,
        "replicas": VALUES,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FIELDS, st.sampled_from([None, "", "New", "Running", "Paused", "Failed", "Unknown", 3]), VALUES)
def test_evaluation_never_raises(spec: dict[str, Any], phase: Any, job_status: Any) -> None:
    """Whatever the object and its related objects hold, evaluation returns decisions (some of them errors)
    and never raises."""
    obj = widget(spec=spec, status={"phase": phase, "conditions": job_status})
    for ruleset in (LIFECYCLE, LOOKUPS, FACTS, ON_ERROR):
        evaluation = run(ruleset, obj, job(status={"conditions": job_status}), _job("x"))
        # A decision that failed acts on nothing: its actions are not half made.
        assert all(not decision.actions for decision in evaluation.decisions if decision.error)


def test_objects_of_unexpected_shape_fail_only_their_decision() -> None:
    """A target shaped unlike an object (a `metadata` that is a list) fails that decision with the error's type
    and message; the other rules still fire."""
    ruleset = rules(
        """\
        groups:
          - name: main
            match: all
            rules:
              - {name: odd, then: [{delete: {target: "object.spec.odd"}}]}
              - {name: fine, then: [{status: {set: {ok: true}}}]}
        """
    )
    evaluation = run(ruleset, widget(spec={"odd": {"metadata": ["not", "a", "mapping"]}}))
    assert evaluation.fired == ["odd", "fine"]
    assert evaluation.decisions[0].error == "AttributeError: 'list' object has no attribute 'get'"
    assert actions(evaluation) == [f"patch {WIDGET_REF}/status merge {{'status': {{'ok': True}}}}"]


def test_list_lookup_match_selects_by_field_and_filters_the_rest() -> None:
    """`match` keeps the listed objects whose fields equal the rendered values (the first answered by `select`)."""
    ruleset = rules(
        """
        related:
          mine:
            list:
              apiVersion: batch/v1
              kind: Job
              match: {spec.owner: "{{ object.metadata.name }}", spec.tier: gold}
        groups:
          - name: g
            match: all
            rules:
              - name: count
                when: "length(mine) == `1`"
        """
    )
    cluster = MemoryCluster(lambda: NOW_TEXT)
    target = cluster.put(widget("w1"))
    for name, owner, tier in (("j1", "w1", "gold"), ("j2", "w1", "silver"), ("j3", "w2", "gold")):
        cluster.put(
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"owner": owner, "tier": tier},
            }
        )
    evaluation = evaluate(ruleset, Snapshot(target, cluster), clock)
    assert evaluation.fired == ["count"]
    assert evaluation.trace.related["widgets.mine"] == ["Job/default/j1"]


def test_lookups_are_the_set_of_the_reads_made() -> None:
    """`lookups` is the set of the reads an evaluation made (a read made twice is one lookup), and follows reads
    made after it was first asked for."""
    evaluation = Evaluation()
    evaluation.reads.extend([(JOB, "default", "a", False), (JOB, "default", "a", False)])
    assert evaluation.lookups == {Lookup(JOB, "default", "a")}
    evaluation.reads.append((JOB, None, None, True))
    assert evaluation.lookups == {Lookup(JOB, "default", "a"), Lookup(JOB, None, None, triggered=True)}


def test_an_evaluation_leaves_no_reference_cycles() -> None:
    """An evaluation's objects (its lazy names, contexts, values) are freed when it ends, by reference counting: no
    cycle is left for the garbage collector, whose passes would otherwise pause evaluations every few runs."""
    ruleset, obj, store = LIFECYCLE, widget(status={"phase": "Running"}), cluster(job())
    evaluate(ruleset, Snapshot(obj, store), clock)  # compiled parts made once, before counting
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            assert evaluate(ruleset, Snapshot(obj, store), clock).fired == ["settle"]
        assert gc.collect() == 0
    finally:
        gc.enable()


LISTS = rules(
    """\
    facts:
      enabled: {in: "object.spec.items", where: "item.enabled && item.name != object.metadata.name"}
      scopes: {in: "object.spec.items", select: "{{ @ }}"}
    groups:
      - name: main
        rules:
          - name: report
            then: [{status: {set: {enabled: "{{ enabled[].name }}", scopes: "{{ scopes[].item.name }}"}}}]
    """
)


def test_list_facts_see_each_item_in_turn() -> None:
    """`where` sees each item in turn (and the document's names); a `select` keeps the scope of its own item."""
    items = [{"name": "a", "enabled": True}, {"name": "w1", "enabled": True}, {"name": "c", "enabled": False}]
    evaluation = run(LISTS, widget(spec={"items": items}))
    assert evaluation.decisions[0].actions[0].patch == {  # type: ignore[union-attr]
        "status": {"enabled": ["a"], "scopes": ["a", "w1", "c"]}
    }
