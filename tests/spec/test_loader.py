"""Loading rule files: safe YAML with positions, refusal of unusable input, directories and the content digest."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.spec.loader import MAX_FILE_BYTES, MAX_NODES, Source, dotted, load_paths, load_texts


def load(text: str | bytes, name: str = "rules.yaml") -> Source:
    return load_texts([(name, text.encode() if isinstance(text, str) else text)])


def problems(text: str | bytes) -> list[str]:
    return [f"{p} [{p.code}]" for p in load(text).problems]


def test_documents_keep_line_and_column_of_keys_and_values() -> None:
    """Every key and value remembers its 1-based line and column; `at` falls back to the closest ancestor."""
    source = load("a:\n  b: [1, {c: x}]\n  d: |\n    text\n")
    positions = source.documents[0].positions
    assert str(positions.at(("a", "b"))) == "rules.yaml:2:3: a.b"
    assert str(positions.value_at(("a", "b"))) == "rules.yaml:2:6: a.b"
    assert str(positions.at(("a", "b", 1, "c"))) == "rules.yaml:2:11: a.b[1].c"
    assert str(positions.at(("a", "b", 1, "missing", 3))) == "rules.yaml:2:10: a.b[1].missing[3]"
    assert str(positions.value_at(("nowhere",))) == "rules.yaml:1:1: nowhere"
    assert source.documents[0].body == {"a": {"b": [1, {"c": "x"}], "d": "text\n"}}


@pytest.mark.parametrize(
    ("line", "offset", "where"),
    [
        ("k: abc.def", 5, (1, 8)),
        ("k: 'it''s a.b'", 6, (1, 11)),
        ('k: "a\\"b\\u00e9c d"', 6, (1, 16)),
        ('k: "\\x41bc"', 2, (1, 9)),
        ("k: >-\n  first line\n  second line\n", 12, (3, 3)),
        ("k: >-\n  first line\n  second line\n", 3, (2, 5)),
        ("k: |\n  one\n    two\n", 7, (3, 5)),
        ("k: plain start\n  and more\n", 17, (2, 7)),
        ("k: 'quoted over\n  two lines'\n", 12, (1, 4)),
        ("k: [a, 'b c']", 3, (1, 11)),
    ],
)
def test_value_at_places_a_column_inside_a_string(line: str, offset: int, where: tuple[int, int]) -> None:
    """A 1-based column inside a string's text maps to the file's line and column across quotes, escapes and folds
    (a quoted string over several lines falls back to its start)."""
    positions = load(line).documents[0].positions
    path = ("k", 1) if "[" in line else ("k",)
    location = positions.value_at(path, offset)
    assert (location.line, location.column) == where


def test_several_documents_per_file_and_empty_documents() -> None:
    """Documents are separated by `---`; empty documents (a trailing `---`) are skipped, indexes kept."""
    source = load("a: 1\n---\n---\nb: 2\n---\n")
    assert [(d.index, d.body) for d in source.documents] == [(0, {"a": 1}), (2, {"b": 2})]


def test_timestamps_stay_text() -> None:
    """Unquoted timestamps and dates stay strings, as Kubernetes reads YAML through JSON."""
    assert load("t: 2024-01-02T03:04:05Z\nd: 2024-01-02\n").documents[0].body == {
        "t": "2024-01-02T03:04:05Z",
        "d": "2024-01-02",
    }


def test_merge_keys_are_resolved() -> None:
    """YAML merge keys (`<<: *anchor`) merge the anchored mapping; keys written beside them override merged ones."""
    assert load("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n").documents[0].body["other"] == {"x": 1, "y": 3}
    body = load("a: &a {<<: {m: 1}, y: 3}\nb: *a\nc: {<<: [*a, {m: 2}], z: 1}\n").documents[0].body
    assert body == {"a": {"m": 1, "y": 3}, "b": {"m": 1, "y": 3}, "c": {"m": 1, "y": 3, "z": 1}}
    assert problems("b: &b {x: 1}\no: {<<: *b, z: 1, z: 2}\n") == [
        "rules.yaml:2:19: invalid YAML: duplicate key 'z' (first at line 2) [yaml]"
    ]


def test_keys_are_text() -> None:
    """Keys become text as Kubernetes reads YAML through JSON: `1` -> "1", `true` -> "true", `null` -> "null"."""
    body = load("1: a\ntrue: b\n1.5: c\nnull: d\n2024-01-01: e\n").documents[0].body
    assert body == {"1": "a", "true": "b", "1.5": "c", "null": "d", "2024-01-01": "e"}


def test_keys_that_are_collections_are_refused() -> None:
    """A list or a mapping used as a key is a problem, not a crash."""
    assert problems("? [a]\n: 1\n") == [
        "rules.yaml:1:3: invalid YAML: mapping keys must be plain values, not lists or mappings [yaml]"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [1\n", "rules.yaml:2:1: invalid YAML: expected ',' or ']', but got '<stream end>' [yaml]"),
        ("a: 1\nb:\n  c: 2\n  c: 3\n", "rules.yaml:4:3: invalid YAML: duplicate key 'c' (first at line 3) [yaml]"),
        ("a: b: c\n", "rules.yaml:1:5: invalid YAML: mapping values are not allowed here [yaml]"),
        ("\ta: 1\n", "rules.yaml:1:1: invalid YAML: found character '\\t' that cannot start any token [yaml]"),
    ],
)
def test_yaml_errors_are_located(text: str, message: str) -> None:
    """A YAML syntax error becomes one problem at its line and column; the file yields no documents."""
    assert problems(text) == [message]
    assert load(text).documents == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a: !!python/object/apply:os.system ['echo hacked']\n",
            "rules.yaml:1:4: invalid YAML: unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' "
            "(rule files hold plain data) [yaml]",
        ),
        (
            "a: !!python/name:os.system ''\n",
            "rules.yaml:1:4: invalid YAML: unsupported YAML tag 'tag:yaml.org,2002:python/name:os.system' "
            "(rule files hold plain data) [yaml]",
        ),
        (
            "a: !!binary aGVsbG8=\n",
            "rules.yaml:1:4: invalid YAML: unsupported YAML tag 'tag:yaml.org,2002:binary' (rule files hold plain data) [yaml]",
        ),
        (
            "a: !!set {x, y}\n",
            "rules.yaml:1:4: invalid YAML: unsupported YAML tag 'tag:yaml.org,2002:set' (rule files hold plain data) [yaml]",
        ),
        (
            "a: !Ref x\n",
            "rules.yaml:1:4: invalid YAML: unsupported YAML tag '!Ref' (rule files hold plain data) [yaml]",
        ),
    ],
)
def test_tags_that_construct_objects_are_refused(text: str, message: str) -> None:
    """Only plain data loads: Python object tags, binary, sets and custom tags are refused with their location."""
    assert problems(text) == [message]


def test_alias_bombs_are_refused() -> None:
    """A document whose aliases expand past MAX_NODES values ("billion laughs") is refused at the top-level key that
    expands, before it is built."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    source = load("\n".join(lines) + "\n")
    assert [str(p) for p in source.problems] == [
        f"rules.yaml:6:1: invalid YAML: document expands to more than {MAX_NODES} values (alias bomb?)"
    ]
    assert source.documents == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"a: 1\x00\x01", "rules.yaml: contains NUL bytes: is this a binary file? [binary]"),
        (b"a: \xff\xfe", "rules.yaml: not UTF-8 text (byte 3): is this a binary file? [binary]"),
        (b"", "rules.yaml: the file holds no YAML document [empty]"),
        (b"# only a comment\n", "rules.yaml: the file holds no YAML document [empty]"),
        (b"---\n---\n", "rules.yaml: the file holds no YAML document [empty]"),
    ],
)
def test_unusable_files(data: bytes, message: str) -> None:
    """Binary files, other encodings and files without documents are reported, each with its own code."""
    assert problems(data) == [message]


def test_too_large_files_are_refused() -> None:
    """A file larger than MAX_FILE_BYTES is refused before it is parsed."""
    data = b"#" * (MAX_FILE_BYTES + 1)
    assert problems(data) == [
        f"rules.yaml: file is {MAX_FILE_BYTES + 1} bytes; rule files are limited to {MAX_FILE_BYTES} [too-large]"
    ]


def test_directories_read_yaml_files_in_name_order(tmp_path: Path) -> None:
    """A directory's rule files are its *.yaml and *.yml files, sorted by name; hidden files and others are skipped."""
    (tmp_path / "b.yml").write_text("b: 1\n")
    (tmp_path / "a.yaml").write_text("a: 1\n")
    (tmp_path / ".hidden.yaml").write_text("h: 1\n")
    (tmp_path / "notes.txt").write_text("n: 1\n")
    (tmp_path / "..data").mkdir()
    (tmp_path / "..data" / "c.yaml").write_text("c: 1\n")
    (tmp_path / "link.yaml").symlink_to(tmp_path / "..data" / "c.yaml")
    source = load_paths([tmp_path])
    assert [Path(d.file).name for d in source.documents] == ["a.yaml", "b.yml", "link.yaml"]
    assert source.problems == []


def test_missing_paths_and_empty_directories(tmp_path: Path) -> None:
    """A path that does not exist and a directory without rule files are problems."""
    (tmp_path / "empty").mkdir()
    source = load_paths([tmp_path / "nope.yaml", tmp_path / "empty"])
    assert [(str(p), p.code) for p in source.problems] == [
        (f"{tmp_path / 'nope.yaml'}: no such file or directory", "missing"),
        (f"{tmp_path / 'empty'}: no rule files (*.yaml, *.yml) in this directory", "empty"),
    ]


def test_unreadable_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that cannot be read is a problem naming the OS error, and the other files still load. (The tests run as
    root, whom `chmod 000` does not stop: the read itself is made to fail.)"""
    locked, readable = tmp_path / "locked.yaml", tmp_path / "readable.yaml"
    locked.write_text("a: 1\n")
    readable.write_text("b: 2\n")
    read_bytes = Path.read_bytes

    def refuse(path: Path) -> bytes:
        if path == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    source = load_paths([tmp_path])
    assert [(str(p), p.code) for p in source.problems] == [(f"{locked}: cannot read: Permission denied", "unreadable")]
    assert [document.body for document in source.documents] == [{"b": 2}]


def test_a_directory_named_like_a_rule_file_is_no_rule_file(tmp_path: Path) -> None:
    """A directory whose name ends in .yaml is not read as a file: given itself, it is a directory without rule
    files; inside a directory given, it is passed over."""
    (tmp_path / "dir.yaml").mkdir()
    assert [(str(p), p.code) for p in load_paths([tmp_path]).problems] == [
        (f"{tmp_path}: no rule files (*.yaml, *.yml) in this directory", "empty")
    ]
    assert [(str(p), p.code) for p in load_paths([tmp_path / "dir.yaml"]).problems] == [
        (f"{tmp_path / 'dir.yaml'}: no rule files (*.yaml, *.yml) in this directory", "empty")
    ]


def test_digest_depends_on_names_and_contents_only() -> None:
    """The digest changes with any file's name or content, not with the order files are given in."""
    a, b = ("a.yaml", b"x: 1\n"), ("b.yaml", b"y: 2\n")
    digest = load_texts([a, b]).digest
    assert len(digest) == 16
    assert load_texts([b, a]).digest == digest
    assert load_texts([("dir/a.yaml", a[1]), b]).digest == digest
    assert load_texts([a, ("b.yaml", b"y: 3\n")]).digest != digest
    assert load_texts([("c.yaml", a[1]), b]).digest != digest


def test_dotted_paths() -> None:
    """Field paths read as in the rule file: keys joined by dots, indexes in brackets."""
    assert dotted(("spec", "groups", 0, "rules", 2, "when")) == "spec.groups[0].rules[2].when"
    assert dotted((0, "a")) == "[0].a"
    assert dotted(()) == ""
