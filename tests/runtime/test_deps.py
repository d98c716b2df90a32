"""The dependency index: which evaluated keys a change of one object re-evaluates."""

from __future__ import annotations

import sys

from engine.core.evaluate import Lookup
from engine.model import GVK, ObjectKey
from engine.runtime.deps import DependencyIndex

STREAM = GVK("example.com", "v1", "Stream")
JOB = GVK("batch", "v1", "Job")
REQUEST = GVK("example.com", "v1", "Request")
CRD = GVK("apiextensions.k8s.io", "v1", "CustomResourceDefinition")
CLASS = GVK("example.com", "v1", "Class")


def key(name: str, namespace: str = "ns") -> ObjectKey:
    return ObjectKey(STREAM, namespace, name)


def test_get_lookup_depends_on_that_name_only() -> None:
    """A key that looked one object up by name is a dependent of that object, and of no other name or namespace."""
    index = DependencyIndex()
    index.record(key("a"), {Lookup(JOB, "ns", "a")})
    assert index.dependents(JOB, "ns", "a") == {key("a")}
    assert index.dependents(JOB, "ns", "b") == set()
    assert index.dependents(JOB, "other", "a") == set()
    assert index.dependents(STREAM, "ns", "a") == set()


def test_get_lookup_of_a_missing_object_still_depends_on_it() -> None:
    """Looking for an object that does not exist yet makes its later creation re-evaluate the key (the index does not look at results)."""
    index = DependencyIndex()
    index.record(key("a"), {Lookup(JOB, "ns", "a-backfill")})
    assert index.dependents(JOB, "ns", "a-backfill") == {key("a")}


def test_cluster_scoped_get_is_keyed_by_empty_namespace() -> None:
    """A get lookup with no namespace (a cluster-scoped kind) matches events of that object, whose namespace is ""."""
    index = DependencyIndex()
    index.record(key("a"), {Lookup(CLASS, None, "demo")})
    assert index.dependents(CLASS, "", "demo") == {key("a")}


def test_list_lookup_depends_on_every_object_of_its_kind_in_its_namespace() -> None:
    """An untriggered list in one namespace makes every object of that kind there (any name) a dependency, and none elsewhere."""
    index = DependencyIndex()
    index.record(key("a"), {Lookup(REQUEST, "ns", None)})
    assert index.dependents(REQUEST, "ns", "anything") == {key("a")}
    assert index.dependents(REQUEST, "other", "anything") == set()


def test_list_across_namespaces_depends_on_every_namespace() -> None:
    """A list over all namespaces (namespace None) depends on objects of that kind in any namespace, cluster-scoped ones included."""
    index = DependencyIndex()
    class_key = ObjectKey(CLASS, "", "demo")
    index.record(class_key, {Lookup(CRD, None, None)})
    assert index.dependents(CRD, "", "streams.example.com") == {class_key}
    assert index.dependents(CRD, "ns", "x") == {class_key}


def test_triggered_list_is_left_to_the_triggers() -> None:
    """A list whose changes the rules map back through triggers adds no dependency: one change must not fan out to the whole namespace."""
    index = DependencyIndex()
    index.record(key("a"), {Lookup(REQUEST, "ns", None, triggered=True)})
    assert index.dependents(REQUEST, "ns", "r1") == set()
    assert len(index) == 1


def test_record_replaces_the_previous_lookups() -> None:
    """The latest evaluation's lookups replace the earlier ones: what the key no longer reads no longer re-evaluates it."""
    index = DependencyIndex()
    index.record(key("a"), {Lookup(JOB, "ns", "a"), Lookup(REQUEST, "ns", None)})
    index.record(key("a"), {Lookup(JOB, "ns", "a-backfill")})
    assert index.dependents(JOB, "ns", "a") == set()
    assert index.dependents(REQUEST, "ns", "r1") == set()
    assert index.dependents(JOB, "ns", "a-backfill") == {key("a")}
    assert len(index) == 1


def test_record_of_the_same_lookups_changes_nothing() -> None:
    """Recording identical lookups again keeps the same dependents (the common case: nothing changed in what was read)."""
    index = DependencyIndex()
    lookups = {Lookup(JOB, "ns", "a"), Lookup(REQUEST, "ns", None)}
    index.record(key("a"), lookups)
    index.record(key("a"), set(lookups))
    assert index.dependents(JOB, "ns", "a") == {key("a")}
    assert index.dependents(REQUEST, "ns", "r") == {key("a")}


def test_many_keys_depend_on_one_object() -> None:
    """Every key that read an object is returned for it; forgetting one leaves the others."""
    index = DependencyIndex()
    index.record(key("a"), {Lookup(JOB, "ns", "shared"), Lookup(REQUEST, "ns", None)})
    index.record(key("b"), {Lookup(JOB, "ns", "shared")})
    index.record(key("c"), {Lookup(REQUEST, None, None)})
    assert index.dependents(JOB, "ns", "shared") == {key("a"), key("b")}
    assert index.dependents(REQUEST, "ns", "r") == {key("a"), key("c")}
    index.forget(key("a"))
    assert index.dependents(JOB, "ns", "shared") == {key("b")}
    assert index.dependents(REQUEST, "ns", "r") == {key("c")}
    assert len(index) == 2


def test_forget_drops_every_trace_of_a_key() -> None:
    """A forgotten key (its object was deleted) is no one's dependent; forgetting an unknown key is harmless."""
    index = DependencyIndex()
    index.record(key("a"), {Lookup(JOB, "ns", "a"), Lookup(REQUEST, None, None)})
    index.forget(key("a"))
    index.forget(key("never-recorded"))
    assert len(index) == 0
    assert index.dependents(JOB, "ns", "a") == set()
    assert index.dependents(REQUEST, "ns", "r") == set()


def test_no_lookups_is_recorded_as_no_dependencies() -> None:
    """An evaluation that read nothing else leaves the key known but dependent on nothing."""
    index = DependencyIndex()
    index.record(key("a"), {Lookup(JOB, "ns", "a")})
    index.record(key("a"), set())
    assert len(index) == 1
    assert index.dependents(JOB, "ns", "a") == set()


def test_a_name_read_by_one_then_many_then_none_keeps_the_right_dependents() -> None:
    """A looked-up name goes from one reader (kept as the key itself) to several (a set) and back, then away."""
    index = DependencyIndex()
    shared = Lookup(CLASS, "ns", "demo")
    index.record(key("a"), {shared, Lookup(JOB, "ns", "a")})
    assert index.dependents(CLASS, "ns", "demo") == {key("a")}
    index.record(key("b"), {shared})
    index.record(key("b"), {shared})  # the same lookups again: nothing doubles
    assert index.dependents(CLASS, "ns", "demo") == {key("a"), key("b")}
    index.forget(key("a"))
    assert index.dependents(CLASS, "ns", "demo") == {key("b")}
    assert index.dependents(JOB, "ns", "a") == set()
    index.record(key("b"), {Lookup(JOB, "ns", "b")})
    assert index.dependents(CLASS, "ns", "demo") == set()
    assert index.dependents(JOB, "ns", "b") == {key("b")}
    assert len(index) == 1


def test_reads_that_change_in_part_leave_the_other_entries_in_place() -> None:
    """A key whose reads change in part (a shared template read in some states only) re-records only what changed: its own entries stay where they are, so a long-lived index of many keys is not rebuilt bigger (a dict's deleted slots are reused only when its table is rebuilt)."""
    index = DependencyIndex()
    keys = [key(f"s-{n}") for n in range(2000)]
    own = {k: [Lookup(JOB, "ns", k.name), Lookup(JOB, "ns", f"{k.name}-backfill")] for k in keys}
    template = Lookup(CLASS, "ns", "template")
    for k in keys:
        index.record(k, own[k])
    size = sys.getsizeof(index._gets)
    for round_ in range(10):
        for k in keys:
            index.record(k, [*own[k], template] if round_ % 2 == 0 else own[k])
    assert sys.getsizeof(index._gets) == size
    assert index.dependents(CLASS, "ns", "template") == set()
    assert index.dependents(JOB, "ns", "s-7-backfill") == {key("s-7")}


def test_a_kept_entry_is_held_once() -> None:
    """After a re-record whose reads change in part, the key's entries that stayed are the very objects the reverse index holds (not equal copies beside them, which held a second tuple and name per read)."""
    index = DependencyIndex()
    index.record(key("a"), [Lookup(JOB, "ns", "a")])
    index.record(key("a"), [Lookup(JOB, "ns", "a"), Lookup(CLASS, "ns", "template")])
    (gets, _) = index._by_key[key("a")]  # private: object identity has no public view
    assert len(gets) == 2
    held = {entry: entry for entry in index._gets}
    assert all(entry is held[entry] for entry in gets)
