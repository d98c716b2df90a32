"""The compiler: rule files become a frozen RuleSet with everything compiled, or every problem at once."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine.spec
from engine.errors import Problem, RuleSetError
from engine.expr import Expression, Template
from engine.model import GVK, Propagation
from engine.spec import compile_ruleset, compile_texts, lint
from engine.spec.ruleset import (
    ActionOp,
    CasesFact,
    CreateSpec,
    DeleteSpec,
    EventSpec,
    ExprFact,
    GetLookup,
    ListFact,
    ListLookup,
    Match,
    StatusSpec,
    ValueFact,
)

from .rulesets import HEADER, WIDGETS, document


def lint_texts(text: str) -> list[Problem]:
    """The problems of one rule file given as text (none when it compiles)."""
    try:
        compile_texts({"r.yaml": text})
    except RuleSetError as error:
        return error.problems
    return []


def problems(*texts: str) -> list[str]:
    """The problems of rule files given as texts (named rules.yaml, rules2.yaml, ...)."""
    named = {f"rules{index or ''}.yaml": text for index, text in enumerate(texts)}
    with pytest.raises(RuleSetError) as caught:
        compile_texts(named)
    return [str(problem) for problem in caught.value.problems]


def test_a_valid_document_compiles_to_its_model() -> None:
    """Every part of a document is compiled: target, lookups, facts, builders, groups, rules, actions, onError."""
    ruleset = compile_texts({"widgets.yaml": WIDGETS})
    (doc,) = ruleset.documents
    assert (doc.name, doc.description, doc.file) == ("widgets", "Widgets and their Jobs.", "widgets.yaml")
    assert doc.target.static is not None
    assert doc.target.static.gvk == GVK("example.com", "v1", "Widget")
    job, requests = doc.related["job"], doc.related["requests"]
    assert isinstance(job.lookup, GetLookup)
    assert job.lookup.kind.gvk == GVK("batch", "v1", "Job")
    assert isinstance(requests.lookup, ListLookup)
    assert requests.lookup.order_by is not None
    assert requests.trigger is not None
    assert requests.trigger.when is not None
    assert isinstance(doc.facts["paused"].form, ExprFact)
    assert isinstance(doc.facts["size"].form, CasesFact)
    assert len(doc.facts["size"].form.cases) == 2
    assert isinstance(doc.facts["label"].form, ValueFact)
    assert isinstance(doc.facts["enabledItems"].form, ListFact)
    builder = doc.builders["job"]
    assert [name for name, _ in builder.lets] == ["image"]
    assert len(builder.requires) == 1
    assert [t.op.value for t in builder.transforms] == ["merge"]
    lifecycle, audit = doc.groups
    assert lifecycle.match is Match.FIRST
    assert audit.match is Match.ALL
    assert lifecycle.state is not None
    assert lifecycle.state.states == ("New", "Running", "Paused")
    assert lifecycle.state.data["New"] is None
    assert isinstance(lifecycle.state.data["Running"], Template)
    pause, start = lifecycle.rules
    assert pause.states is None
    assert pause.to == "Paused"
    assert isinstance(pause.event, EventSpec)
    assert start.states == frozenset({"New", "Paused"})
    assert start.when is None
    assert [name for name, _ in start.lets] == ["name", "jobName"]
    assert isinstance(pause.then[0].body, DeleteSpec)
    assert pause.then[0].body.propagation is Propagation.BACKGROUND
    create = start.then[0].body
    assert isinstance(create, CreateSpec)
    assert create.build == "job"
    assert create.owner is not None
    assert isinstance(audit.rules[0].then[0].body, StatusSpec)
    assert [action.op for action in doc.on_error] == [ActionOp.EVENT]
    assert [rule.name for _, _, rule in ruleset.rules()] == ["pause", "start", "count"]
    assert ruleset.for_kind(GVK("example.com", "v1", "Widget")) == (doc,)
    assert ruleset.for_kind(GVK("batch", "v1", "Job")) == ()


def test_expressions_are_compiled_once() -> None:
    """Conditions and facts hold compiled expressions (no parsing when evaluating)."""
    ruleset = compile_texts({"widgets.yaml": WIDGETS})
    form = ruleset.documents[0].facts["paused"].form
    assert isinstance(form, ExprFact)
    assert isinstance(form.expression, Expression)
    assert form.expression.evaluate({"object": {"spec": {"paused": True}}}) is True


def test_rule_lets_see_earlier_lets() -> None:
    """A rule's `let` may use the names bound before it (and its actions use them all)."""
    compile_texts({"widgets.yaml": WIDGETS})  # `jobName` uses `name`
    assert problems(
        document(
            """\
            groups:
              - name: main
                rules:
                  - name: r
                    let:
                      b: "{{ a }}"
                      a: "x"
            """
        )
    ) == ["rules.yaml:14:20: spec.groups[0].rules[0].let.b: unknown name `a` in `a` (known names: object, rule)"]


def test_lets_may_shadow_facts() -> None:
    """A rule's `let` may take the name of a fact (it shadows the fact in that rule's actions)."""
    compile_texts(
        {
            "rules.yaml": document(
                """\
                facts:
                  message: "'default'"
                groups:
                  - name: main
                    rules:
                      - name: r
                        let: {message: "special"}
                        then: [{event: {reason: R, message: "{{ message }}"}}]
                """
            )
        }
    )


def test_every_problem_of_every_file_is_reported_in_order() -> None:
    """Problems of several files come together, sorted by file, line and column."""
    bad = document(
        """\
        facts:
          a: "nosuch"
        groups:
          - name: main
            rules:
              - name: r
                when: "a ||"
        """
    )
    assert problems(bad, bad) == [
        "rules.yaml:10:5: spec.facts.a: unknown name `nosuch` in `nosuch` (known names: a, object)",
        "rules.yaml:15:22: spec.groups[0].rules[0].when: invalid JMESPath: the expression ends too early in `a ||`",
        "rules1.yaml:1:1: document name `widgets` is already used at rules.yaml:1:1",
        "rules1.yaml:10:5: spec.facts.a: unknown name `nosuch` in `nosuch` (known names: a, object)",
        "rules1.yaml:15:22: spec.groups[0].rules[0].when: invalid JMESPath: the expression ends too early in `a ||`",
    ]


def test_compile_ruleset_reads_files_and_directories(tmp_path: Path) -> None:
    """compile_ruleset takes directories and files; lint returns the problems instead of raising."""
    (tmp_path / "widgets.yaml").write_text(WIDGETS)
    ruleset = compile_ruleset([tmp_path])
    assert [d.name for d in ruleset.documents] == ["widgets"]
    assert ruleset.files == (str(tmp_path / "widgets.yaml"),)
    assert compile_ruleset([str(tmp_path / "widgets.yaml")]).digest == ruleset.digest
    assert lint([tmp_path]) == []
    (tmp_path / "broken.yaml").write_text(HEADER.replace("name: widgets", "name: broken") + "  groups: 1\n")
    assert [str(p) for p in lint([tmp_path])] == [
        f"{tmp_path / 'broken.yaml'}:9:3: spec.groups: expected list, found integer 1"
    ]
    with pytest.raises(RuleSetError, match=r"spec\.groups: expected list, found integer 1$"):
        compile_ruleset([tmp_path])


def test_an_empty_rule_set_is_a_problem() -> None:
    """A rule set without documents (only empty files) cannot be used."""
    with pytest.raises(RuleSetError) as caught:
        compile_texts({"a.yaml": "# nothing\n"})
    assert [(str(p), p.code) for p in caught.value.problems] == [("a.yaml: the file holds no YAML document", "empty")]
    with pytest.raises(RuleSetError) as caught:
        compile_texts({})
    assert [(str(p), p.code) for p in caught.value.problems] == [("<input>: the rule set holds no documents", "empty")]


def test_a_dynamic_target_compiles_its_kind_templates() -> None:
    """`for.dynamic` compiles the source kind, the condition and the kind templates, and binds the source by name."""
    text = """\
apiVersion: rules.arcane.dev/v1alpha1
kind: Rules
metadata: {name: gadgets}
spec:
  for:
    dynamic:
      from: {apiVersion: example.com/v1, kind: GadgetClass}
      where: "status.ready"
      kind: {apiVersion: "{{ spec.group }}/{{ spec.version }}", kind: "{{ spec.kind }}", plural: "{{ spec.plural }}"}
      as: gadgetClass
    namespaces: [a, b]
    labelSelector: "team=x"
  groups:
    - name: main
      rules:
        - name: gadget-ready
          when: "gadgetClass.spec.enabled"
"""
    (doc,) = compile_texts({"gadgets.yaml": text}).documents
    dynamic = doc.target.dynamic
    assert dynamic is not None
    assert doc.target.static is None
    assert dynamic.source.gvk == GVK("example.com", "v1", "GadgetClass")
    assert dynamic.binding == "gadgetClass"
    assert dynamic.api_version.render({"spec": {"group": "g", "version": "v2"}}) == "g/v2"
    assert doc.target.namespaces == ("a", "b")
    assert doc.target.selector is not None
    assert doc.target.selector.text == "team=x"


def test_requeue_and_propagation_values() -> None:
    """`requeue.after` accepts integers and decimals; propagation policies become the closed enum."""
    (doc,) = compile_texts(
        {
            "r.yaml": document(
                """\
                groups:
                  - name: main
                    rules:
                      - name: r
                        then:
                          - requeue: {after: 1.5}
                          - requeue: {after: 30}
                          - delete: {target: object, propagation: Orphan}
                """
            )
        }
    ).documents
    first, second, delete = doc.groups[0].rules[0].then
    assert (first.body.after, second.body.after) == (1.5, 30.0)  # type: ignore[union-attr]
    assert delete.body.propagation is Propagation.ORPHAN  # type: ignore[union-attr]


def test_public_surface_is_sorted() -> None:
    """engine.spec exports a sorted `__all__` of names that exist."""
    assert engine.spec.__all__ == sorted(engine.spec.__all__)
    assert all(hasattr(engine.spec, name) for name in engine.spec.__all__)


JUNK = st.sampled_from([None, 1, "x", "", [], {}, [1], {"a": 1}, True, "{{", "a.b[", "!a.b", "$..[", [None], {"1": 2}])
BASE: Any = yaml.safe_load(WIDGETS)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.extend(_paths(value, (*prefix, index)))
    return out


PATHS = _paths(BASE)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PATHS), st.sampled_from(["delete", "replace", "add"]), JUNK), max_size=3))
def test_mangled_documents_give_problems_not_crashes(edits: list[tuple[tuple[Any, ...], str, Any]]) -> None:
    """Whatever is deleted, replaced or added in a valid document, linting returns problems and never raises."""
    doc = copy.deepcopy(BASE)
    for path, verb, junk in edits:
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            if verb == "delete" and isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif verb == "add" and isinstance(parent, dict):
                parent["extra"] = junk
            else:
                parent[path[-1]] = junk
        except (KeyError, IndexError, TypeError):
            continue
    found = lint_texts(yaml.safe_dump(doc, sort_keys=False))
    assert all(problem.message and problem.location.file == "r.yaml" for problem in found)


def test_field_paths_take_quoted_names_alike() -> None:
    """`for.optionalFields` reads a path with a quoted name (dots or slashes in it) as `match` does: one name."""
    text = """\
apiVersion: rules.arcane.dev/v1alpha1
kind: Rules
metadata: {name: widgets}
spec:
  for:
    kind: {apiVersion: example.com/v1, kind: Widget}
    optionalFields: [spec.replicas, 'metadata.annotations."example.com/tier"']
  groups: [{name: main, rules: [{name: any}]}]
"""
    (document,) = compile_texts({"w.yaml": text}).documents
    assert document.target.optional_fields == (("spec", "replicas"), ("metadata", "annotations", "example.com/tier"))
