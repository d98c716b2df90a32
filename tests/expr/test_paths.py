"""Field paths (JSONPath): reading and writing, on the fast walker and through jsonpath-ng, with located syntax errors."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from jsonpath_ng.ext.parser import parse as parse_jsonpath

from engine.errors import ExpressionError
from engine.expr import FieldPath, PathSyntaxError, compile_path


def job() -> dict[str, Any]:
    return {
        "metadata": {"name": "j", "labels": {"a": "1"}, "annotations": {"configuration-hash": "h"}},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "main", "env": [{"name": "A", "value": "1"}]},
                        {"name": "side"},
                    ]
                }
            }
        },
    }


CONTAINERS = "$.spec.template.spec.containers[*]"


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("metadata.name", ["j"]),
        ("$.metadata.name", ["j"]),
        ("$.metadata.annotations['configuration-hash']", ["h"]),
        ('metadata.labels["a"]', ["1"]),
        (f"{CONTAINERS}.name", ["main", "side"]),
        (f"{CONTAINERS}.env", [[{"name": "A", "value": "1"}]]),
        (f"{CONTAINERS}.env[*].name", ["A"]),
        ("spec.template.spec.containers[0].name", ["main"]),
        ("spec.template.spec.containers[-1].name", ["side"]),
        ("spec.template.spec.containers[5].name", []),
        ("metadata.missing.deeper", []),
        ("metadata.name.deeper", []),
        ("spec.template.spec.containers[?(@.name == 'side')].name", ["side"]),
        ("spec.template.spec.containers[0:1].name", ["main"]),
        ("$..env[*].value", ["1"]),
    ],
)
def test_find(source: str, found: list[Any]) -> None:
    """find() returns every match in document order (none for missing fields or out-of-range indexes)."""
    assert compile_path(source).find(job()) == found


def test_first_is_the_first_match_or_null() -> None:
    """first() is the first match, or None when the path matches nothing."""
    assert compile_path(f"{CONTAINERS}.name").first(job()) == "main"
    assert compile_path("nothing.here").first(job()) is None


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ("status.phase", ("status", "phase")),
        ("$.metadata.annotations['x']", ("metadata", "annotations", "x")),
        ("spec.items[0].name", None),
        ("spec.items[*].name", None),
        ("spec..name", None),
    ],
)
def test_names_only_for_plain_field_paths(source: str, names: tuple[str, ...] | None) -> None:
    """`names` gives the field names of a path made of field names only, and None for any other path."""
    assert compile_path(source).names == names


def test_fields_skip_indexes_and_wildcards() -> None:
    """`fields` keeps the field names of a simple path with indexes or [*], and is None for paths needing jsonpath-ng."""
    assert compile_path("spec.items[0].name").fields == ("spec", "items", "name")
    assert compile_path("spec.items[*].name").fields == ("spec", "items", "name")
    assert compile_path("spec..name").fields is None


def test_set_creates_missing_objects() -> None:
    """set() writes at every match, creating the missing objects of a simple path, and counts the writes."""
    obj = job()
    assert compile_path("metadata.annotations['new-key']").set(obj, "v") == 1
    assert compile_path("status.nested.deep").set(obj, 3) == 1
    assert obj["metadata"]["annotations"]["new-key"] == "v"
    assert obj["status"] == {"nested": {"deep": 3}}
    assert compile_path(f"{CONTAINERS}.image").set(obj, "img") == 2
    assert [c["image"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["img", "img"]


def test_set_creates_a_list_before_an_index() -> None:
    """A missing field followed by an index becomes a list (then the index is out of range, so nothing is set)."""
    obj: dict[str, Any] = {}
    assert compile_path("items[0]").set(obj, 1) == 0
    assert obj == {"items": []}


def test_append_to_every_matched_list() -> None:
    """append() extends every matched list, and a missing last field becomes a new list."""
    obj = job()
    assert compile_path(f"{CONTAINERS}.env").append(obj, [{"name": "B"}]) == 2
    containers = obj["spec"]["template"]["spec"]["containers"]
    assert containers[0]["env"] == [{"name": "A", "value": "1"}, {"name": "B"}]
    assert containers[1]["env"] == [{"name": "B"}]


def test_append_to_a_non_list_fails() -> None:
    """Appending to a value that is not a list is an evaluation error naming the path."""
    with pytest.raises(ExpressionError, match=r"^metadata\.name: cannot append to a str$"):
        compile_path("metadata.name").append(job(), [1])


def test_upsert_replaces_by_key_or_appends() -> None:
    """upsert() replaces the first item whose key matches, else appends, in every matched list."""
    obj = job()
    path = compile_path(f"{CONTAINERS}.env")
    assert path.upsert(obj, "name", {"name": "A", "value": "2"}) == 2
    containers = obj["spec"]["template"]["spec"]["containers"]
    assert containers[0]["env"] == [{"name": "A", "value": "2"}]
    assert containers[1]["env"] == [{"name": "A", "value": "2"}]
    with pytest.raises(ExpressionError, match=r"^metadata: cannot upsert into a dict$"):
        compile_path("metadata").upsert(obj, "name", {})


def test_merge_is_shallow() -> None:
    """merge() shallow-merges into every matched object, creating a missing one; a non-object fails."""
    obj = job()
    assert compile_path("metadata.labels").merge(obj, {"b": "2", "a": "x"}) == 1
    assert obj["metadata"]["labels"] == {"a": "x", "b": "2"}
    assert compile_path("metadata.other").merge(obj, {"k": {"v": 1}}) == 1
    assert obj["metadata"]["other"] == {"k": {"v": 1}}
    with pytest.raises(ExpressionError, match=r"^metadata\.name: cannot merge into a str$"):
        compile_path("metadata.name").merge(obj, {})


def test_remove_fields_and_list_items() -> None:
    """remove() deletes matched fields and list items (from the back, so indexes stay valid) and counts them."""
    obj = job()
    assert compile_path("metadata.labels.a").remove(obj) == 1
    assert compile_path("metadata.labels.a").remove(obj) == 0
    assert obj["metadata"]["labels"] == {}
    items = {"l": [1, 2, 3]}
    assert compile_path("l[*]").remove(items) == 3
    assert items == {"l": []}


def test_writes_through_jsonpath_ng() -> None:
    """Paths the walker does not handle (filters) write through jsonpath-ng, creating the last field when missing."""
    obj = job()
    path = compile_path("spec.template.spec.containers[?(@.name == 'side')].image")
    assert path.fields is None
    assert path.set(obj, "side-image") == 1
    assert obj["spec"]["template"]["spec"]["containers"][1]["image"] == "side-image"
    removal = compile_path("spec.template.spec.containers[?(@.name == 'main')].env")
    assert removal.remove(obj) == 1
    assert "env" not in obj["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize(
    ("source", "message", "column"),
    [
        ("a[", "the path ends too early", 3),
        ("", "the path ends too early", 1),
        ("a.b^c", "unexpected `^`", 4),
        ("a.b c", "unexpected `c`", 5),
        ("a[?(@.x ==)]", "unexpected `)`", 11),
        ("$.a.b)", "unexpected `)`", 6),
        ('a["x', "a quoted name is not closed", 5),
    ],
)
def test_syntax_errors_have_a_message_and_column(source: str, message: str, column: int) -> None:
    """A path that does not parse raises PathSyntaxError with a short message and the 1-based column in the source."""
    with pytest.raises(PathSyntaxError) as caught:
        compile_path(source)
    assert (caught.value.message, caught.value.column) == (message, column)
    assert str(caught.value) == f"invalid JSONPath {source!r}: {message}"


KEYS = st.sampled_from(["a", "b", "c"])
TREES = st.recursive(
    st.integers(0, 9) | st.none(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=3),
    max_leaves=12,
)
SIMPLE_PATHS = st.lists(
    st.one_of(KEYS, st.just("[*]"), st.integers(-2, 2).map(lambda i: f"[{i}]")), min_size=1, max_size=4
)


def _source(steps: list[str]) -> str:
    out = "$"
    for step in steps:
        out += step if step.startswith("[") else f".{step}"
    return out


def _model(data: Any, steps: list[str]) -> list[Any]:
    """What a simple path means: fields of objects, every item of lists, an index of lists; nothing otherwise."""
    frontier = [data]
    for step in steps:
        if step == "[*]":
            frontier = [item for node in frontier if isinstance(node, list) for item in node]
        elif step.startswith("["):
            index = int(step[1:-1])
            frontier = [node[index] for node in frontier if isinstance(node, list) and -len(node) <= index < len(node)]
        else:
            frontier = [node[step] for node in frontier if isinstance(node, dict) and step in node]
    return frontier


@given(TREES, SIMPLE_PATHS)
def test_walker_finds_what_a_simple_path_means(data: Any, steps: list[str]) -> None:
    """On simple paths (fields, [*], indexes) the fast walker finds exactly the matches of the path's meaning, in order."""
    assert compile_path(_source(steps)).find(data) == _model(data, steps)


@given(TREES, SIMPLE_PATHS)
def test_walker_agrees_with_jsonpath_ng_on_lists(data: Any, steps: list[str]) -> None:
    """Where `[*]` meets only lists, the walker and jsonpath-ng find the same values in the same order."""
    path = compile_path(_source(steps))
    prefixes = [steps[:i] for i, step in enumerate(steps) if step == "[*]"]
    assume(all(isinstance(node, list) for prefix in prefixes for node in _model(data, prefix)))
    assert path.find(data) == [match.value for match in parse_jsonpath(_source(steps)).find(data)]


def test_wildcard_on_a_non_list_matches_nothing() -> None:
    """`[*]` matches the items of a list and nothing else (jsonpath-ng would take a scalar as a one-item list)."""
    assert compile_path("a[*]").find({"a": {"x": 1}}) == []
    assert compile_path("a[*]").find({"a": None}) == []


@given(TREES, SIMPLE_PATHS)
def test_remove_agrees_with_a_second_find(data: Any, steps: list[str]) -> None:
    """remove() takes away every match of the path's meaning and counts them; after it, a path ending in a field
    matches nothing more (one ending in a list item may: the items after it moved into its place)."""
    path = compile_path(_source(steps))
    copied = copy.deepcopy(data)
    removed = path.remove(copied)
    assert removed == len(_model(data, steps))
    if not steps[-1].startswith("["):
        assert path.find(copied) == []
    assert (copied != data) is (removed > 0)


def test_repr() -> None:
    """A compiled path shows its source."""
    assert repr(FieldPath("a.b")) == "FieldPath('a.b')"


@pytest.mark.parametrize(("create", "resolve_last"), [(False, False), (False, True), (True, False), (True, True)])
@given(data=TREES, steps=SIMPLE_PATHS)
def test_generated_walk_is_the_interpreted_walk(create: bool, resolve_last: bool, data: Any, steps: list[str]) -> None:
    """A simple path's generated walk finds the same slots, in the same order, as the interpreted walk, and creates
    the same objects and lists on the way (when it creates)."""
    path = compile_path(_source(steps))
    assert path._steps is not None
    interpreted, generated = copy.deepcopy(data), copy.deepcopy(data)
    expected = path._walk(interpreted, len(path._steps), create=create, resolve_last=resolve_last)
    found = path._generate(create=create, resolve_last=resolve_last)(generated)
    assert found == expected
    assert generated == interpreted


def test_writes_create_what_the_path_names() -> None:
    """A write through the generated walk creates the missing object, and a list before an index, as the path says."""
    data: dict[str, Any] = {"spec": {"containers": [{"name": "a"}, {"name": "b", "env": [1]}, 3]}}
    assert compile_path("$.spec.containers[*].env").append(data, [2]) == 2
    assert data["spec"]["containers"] == [{"name": "a", "env": [2]}, {"name": "b", "env": [1, 2]}, 3]
    created: dict[str, Any] = {}
    assert compile_path("$.a.b[0]").set(created, "x") == 0  # the list is made, but has no item 0 to set
    assert created == {"a": {"b": []}}
    assert compile_path("$.a.c.d").find(created) == []
    assert created == {"a": {"b": []}}  # reading creates nothing
