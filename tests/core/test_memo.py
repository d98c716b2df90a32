"""Facts of an unchanged object kept between evaluations (engine.core.memo): only those that depend on it alone."""

from __future__ import annotations

from engine.core.evaluate import Snapshot, evaluate
from engine.core.memo import FactMemo
from engine.spec.checks import pure_facts
from engine.testing.memory import MemoryCluster

from .harness import NOW_TEXT, clock, job, rules, widget

RELATED_JOB = """
related:
  job:
    get: {apiVersion: batch/v1, kind: Job, name: "{{ object.metadata.name }}"}
"""
"""Every document here reads the Job named like the object."""

BODY = (
    RELATED_JOB
    + """facts:
  size: "length(object.spec.items || `[]`)"
  big: "size > `2`"
  running: "condition(job, 'Running').status == 'True'"
  stamp: "now()"
  named:
    in: "object.spec.items || `[]`"
    where: "item != 'skip'"
groups:
  - name: g
    match: all
    rules:
      - name: look
        when: "big || running || stamp || named"
"""
)


def test_pure_facts_are_those_of_the_object_alone() -> None:
    """A fact reading a related object, or the time, is not pure; one reading the object (or pure facts) is."""
    (document,) = rules(BODY).documents
    assert pure_facts(document) == frozenset({"size", "big", "named"})


def test_unchanged_object_reuses_its_facts_and_a_new_version_does_not() -> None:
    """Re-evaluating the same object version hits the memo for pure facts; a new resourceVersion is a miss."""
    ruleset = rules(BODY)
    cluster = MemoryCluster(lambda: NOW_TEXT)
    target = cluster.put(widget("w1", spec={"items": ["a", "b", "c"]}))
    memo = FactMemo()
    first = evaluate(ruleset, Snapshot(target, cluster, memo=memo), clock)
    assert (memo.hits, memo.misses) == (0, 1)
    cluster.put(job("w1"))  # a related object changes: the object itself did not
    second = evaluate(ruleset, Snapshot(target, cluster, memo=memo), clock)
    assert (memo.hits, memo.misses) == (1, 1)
    # The trace shows the facts read, with the values they had (a kept `big` needs no `size` any more).
    assert second.trace.facts.items() <= first.trace.facts.items()
    assert second.trace.facts["widgets.big"] is True
    changed = cluster.put(widget("w1", spec={"items": ["a"]}))
    third = evaluate(ruleset, Snapshot(changed, cluster, memo=memo), clock)
    assert (memo.hits, memo.misses) == (1, 2)
    assert third.trace.facts["widgets.big"] is False


def test_memo_is_bounded_and_forgets_deleted_objects() -> None:
    """The memo drops its least recently used entries beyond its size, and an object's entries when it is gone."""
    memo = FactMemo(size=2)
    for uid in ("a", "b", "c"):
        memo.values(uid, "doc", ("d", "doc", "1", "", ""))["x"] = uid
    assert len(memo) == 2
    assert [memo.peek(uid, "doc") for uid in ("a", "b", "c")] == [None, {"x": "b"}, {"x": "c"}]
    memo.forget("c", ["doc"])
    assert len(memo) == 1
    assert memo.peek("c", "doc") is None
    assert (memo.hits, memo.misses) == (0, 3)  # peeking is not a use
    assert memo.values("b", "doc", ("d", "doc", "1", "", "")) == {"x": "b"}


ACTING = (
    RELATED_JOB
    + """facts:
  size: "length(object.spec.items || `[]`)"
  payload: "to_json(object.spec)"
groups:
  - name: g
    rules:
      - name: start
        when: "size > `0` && !job"
        then:
          - create:
              object:
                apiVersion: batch/v1
                kind: Job
                metadata: {name: "{{ object.metadata.name }}", annotations: {payload: "{{ payload }}"}}
"""
)


def test_facts_only_an_acting_evaluation_read_are_not_kept() -> None:
    """An evaluation that acts keeps none of the facts it computed (its writes render the large ones); the quiet evaluation after it keeps what it read, and the next one reuses that."""
    ruleset = rules(ACTING)
    cluster = MemoryCluster(lambda: NOW_TEXT)
    target = cluster.put(widget("w1", spec={"items": ["a"]}))
    memo = FactMemo()
    acting = evaluate(ruleset, Snapshot(target, cluster, memo=memo), clock)
    assert [len(decision.actions) for decision in acting.decisions] == [1]
    assert set(acting.trace.facts) == {"widgets.size", "widgets.payload"}
    uid = target["metadata"]["uid"]
    assert len(memo) == 1
    assert memo.peek(uid, "widgets") == {}
    cluster.put(job("w1"))
    quiet = evaluate(ruleset, Snapshot(target, cluster, memo=memo), clock)
    assert quiet.decisions == []
    assert len(memo) == 1
    assert memo.peek(uid, "widgets") == {"size": 1}
    evaluate(ruleset, Snapshot(target, cluster, memo=memo), clock)
    assert (memo.hits, memo.misses) == (2, 1)


IMPURE = (
    RELATED_JOB
    + """facts:
  running: "condition(job, 'Running').status == 'True'"
  stamp: "now()"
groups:
  - name: g
    match: all
    rules:
      - name: look
        when: "running || stamp"
"""
)


def test_a_document_without_pure_facts_makes_no_entry() -> None:
    """Objects of a document whose facts all read related objects or the time get no memo entry (an empty one per object would only cost memory); a document with pure facts gets one."""
    impure = rules(IMPURE)
    (document,) = impure.documents
    assert pure_facts(document) == frozenset()
    cluster = MemoryCluster(lambda: NOW_TEXT)
    memo = FactMemo()
    target = cluster.put(widget("w1", spec={"items": ["a"]}))
    evaluate(impure, Snapshot(target, cluster, memo=memo), clock)
    assert (len(memo), memo.hits, memo.misses) == (0, 0, 0)
    evaluate(rules(BODY), Snapshot(target, cluster, memo=memo), clock)
    assert len(memo) == 1
