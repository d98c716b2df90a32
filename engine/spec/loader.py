"""Rule files -> YAML documents that remember where each value came from.

Where this sits: the first step of loading a rule set (loader -> schema -> compiler). YAML is parsed with
PyYAML's *safe* loader (no tags that construct Python objects), into plain dicts and lists; a side table
keeps the line and column of every mapping key and sequence item so that every later problem can name its
place in the file.

A rule-set directory is every `*.yaml`/`*.yml` file directly inside it whose name does not start with `.`
(Kubernetes mounts a ConfigMap as `..data/` plus symlinks; the symlinks are read, the hidden directories
are not). This module reads files and parses YAML; it does not validate documents.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.errors import Location, Problem
from engine.expr.canonical import go_float

MAX_FILE_BYTES = 4 * 1024 * 1024
"""A rule file larger than this is refused (a ConfigMap holds at most 1 MiB; this leaves room)."""


@dataclass(slots=True)
class Positions:
    """Line/column of values inside one document, keyed by their path (tuple of keys and indexes)."""

    file: str
    table: dict[tuple[Any, ...], tuple[int, int]] = field(default_factory=dict)
    values: dict[tuple[Any, ...], tuple[int, int]] = field(default_factory=dict)
    scalars: dict[tuple[Any, ...], tuple[str | None, str, int]] = field(default_factory=dict)
    """String scalars: (YAML style, text, last line), to place a column inside the text."""
    lines: list[str] = field(default_factory=list)

    def at(self, path: Iterable[Any]) -> Location:
        """The location of `path`, or of its closest ancestor that has one."""
        key = tuple(path)
        while key and key not in self.table:
            key = key[:-1]
        line, column = self.table.get(key, (0, 0))
        return Location(self.file, line, column, dotted(tuple(path)))

    def value_at(self, path: Iterable[Any], column_offset: int = 0) -> Location:
        """The location of the value at `path` (not its key); with `column_offset` (1-based, counted in the
        string's text), the place of that character in the file, across quotes, escapes and folded lines."""
        key = tuple(path)
        if key not in self.values:
            return self.at(key)
        line, column = self.values[key]
        if column_offset:
            line, column = self._inside(key, column_offset - 1) or (line, column)
        return Location(self.file, line, column, dotted(key))

    def _inside(self, key: tuple[Any, ...], index: int) -> tuple[int, int] | None:
        scalar = self.scalars.get(key)
        if scalar is None or not self.lines:
            return None
        style, text, last = scalar
        line, column = self.values[key]
        if line == last and style in (None, "'", '"'):
            if style is None:
                return line, column + index
            return line, _quoted_column(self.lines[line - 1], column, style, index)
        if style in ("'", '"'):
            return None  # a quoted string over several lines: the string's start is close enough
        # Plain and block scalars over several lines: each source line's text appears, in order, in the value.
        position = 0
        for number in range(line + 1 if style in ("|", ">") else line, min(last, len(self.lines)) + 1):
            raw = self.lines[number - 1]
            start = column - 1 if number == line else 0
            part = raw[start:]
            content = part.strip()
            if not content:
                continue
            found = text.find(content, position)
            if found < 0 or text[position:found].strip():
                return None
            if found <= index <= found + len(content):
                return number, start + len(part) - len(part.lstrip()) + 1 + index - found
            position = found + len(content)
        return None


def _quoted_column(raw: str, column: int, style: str, index: int) -> int:
    """The 1-based column of character `index` of a one-line quoted scalar whose quote is at `column`."""
    at = column  # 0-based index of the first character after the opening quote
    for _ in range(index):
        if at >= len(raw):
            break
        if style == '"' and raw[at] == "\\":
            at += {"x": 4, "u": 6, "U": 10}.get(raw[at + 1 : at + 2], 2)
        elif style == "'" and raw.startswith("''", at):
            at += 2
        else:
            at += 1
    return at + 1


@dataclass(slots=True)
class Document:
    """One YAML document of a rule file."""

    file: str
    index: int
    body: Any
    positions: Positions


@dataclass(slots=True)
class Source:
    """The documents of a rule set, the problems met while reading them, and the content digest."""

    documents: list[Document]
    problems: list[Problem]
    digest: str
    files: list[str]


def dotted(path: tuple[Any, ...]) -> str:
    """`('spec', 'groups', 0, 'rules', 2, 'when')` -> `spec.groups[0].rules[2].when`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def rule_files(directory: Path) -> list[Path]:
    """The rule files of a directory, sorted by name."""
    return sorted(
        path
        for path in directory.iterdir()
        if path.suffix in (".yaml", ".yml") and not path.name.startswith(".") and path.is_file()
    )


def load_paths(paths: Iterable[Path]) -> Source:
    """Read rule files (directories expand to their rule files) into documents, collecting every problem."""
    files: list[Path] = []
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            found = rule_files(path)
            if not found:
                problems.append(
                    Problem(Location(str(path)), "no rule files (*.yaml, *.yml) in this directory", "empty")
                )
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            problems.append(Problem(Location(str(path)), "no such file or directory", "missing"))
    texts: list[tuple[str, bytes]] = []
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as error:
            problems.append(Problem(Location(str(path)), f"cannot read: {error.strerror}", "unreadable"))
            continue
        texts.append((str(path), data))
    return load_texts(texts, problems)


def load_texts(texts: list[tuple[str, bytes]], problems: list[Problem] | None = None) -> Source:
    """Parse named file contents (as a ConfigMap's data would give them) into documents."""
    problems = list(problems or [])
    documents: list[Document] = []
    digest = hashlib.sha256()
    for name, data in sorted(texts, key=lambda item: Path(item[0]).name):
        digest.update(Path(name).name.encode() + b"\0" + data + b"\0")
        documents.extend(_parse(name, data, problems))
    return Source(documents, problems, digest.hexdigest()[:16], [name for name, _ in texts])


def _parse(name: str, data: bytes, problems: list[Problem]) -> list[Document]:
    if len(data) > MAX_FILE_BYTES:
        problems.append(
            Problem(
                Location(name), f"file is {len(data)} bytes; rule files are limited to {MAX_FILE_BYTES}", "too-large"
            )
        )
        return []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        problems.append(
            Problem(Location(name), f"not UTF-8 text (byte {error.start}): is this a binary file?", "binary")
        )
        return []
    if "\x00" in text:
        problems.append(Problem(Location(name), "contains NUL bytes: is this a binary file?", "binary"))
        return []
    documents: list[Document] = []
    lines = text.splitlines()
    nodes: Iterable[yaml.Node]
    try:
        nodes = _compose(text)
    except yaml.YAMLError:
        nodes = yaml.compose_all(text, Loader=yaml.SafeLoader)  # the problem, in PyYAML's words, below
    try:
        for index, node in enumerate(nodes):
            if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
                continue  # an empty document (e.g. a trailing `---`)
            positions = Positions(name, lines=lines)
            body = _Builder(positions).build(node, ())
            documents.append(Document(name, index, body, positions))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        reason = getattr(error, "problem", None) or str(error)
        problems.append(Problem(Location(name, line, column), f"invalid YAML: {reason}", "yaml"))
        return []
    if not documents:
        problems.append(Problem(Location(name), "the file holds no YAML document", "empty"))
    return documents


def _compose(text: str) -> Iterable[yaml.Node]:
    """The documents' nodes, composed by libyaml when it is there (several times faster than PyYAML's own)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return list(yaml.compose_all(text, Loader=loader))


_PLAIN_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})
_SCALAR_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null"))
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
MAX_NODES = 200_000
"""Values one document may expand to (guards against alias bombs such as "billion laughs")."""
MAX_DEPTH = 64
"""Mappings and lists one document may nest (building, checking and compiling recurse per level)."""


class _Builder:
    """Builds plain Python values from composed nodes, recording positions (safe: standard tags only)."""

    def __init__(self, positions: Positions) -> None:
        self.positions = positions
        self.loader = yaml.SafeLoader("")
        self.count = 0
        self._merged: dict[int, int] = {}
        self._own: set[tuple[Any, ...]] = set()

    def build(self, node: yaml.Node, path: tuple[Any, ...]) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            # Aliased nodes carry their anchor's position: name the top-level key that expands instead.
            line, column = self.positions.table.get(path[:1], (node.start_mark.line + 1, node.start_mark.column + 1))
            mark = yaml.error.Mark(self.positions.file, 0, line - 1, column - 1, None, 0)
            raise yaml.constructor.ConstructorError(
                None, None, f"document expands to more than {MAX_NODES} values (alias bomb?)", mark
            )
        if len(path) > MAX_DEPTH:
            raise yaml.constructor.ConstructorError(
                None, None, f"values nest more than {MAX_DEPTH} levels deep", node.start_mark
            )
        self.positions.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        self.positions.table.setdefault(path, self.positions.values[path])
        if isinstance(node, yaml.MappingNode):
            self._check_tag(node, _PLAIN_TAGS)
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            self._check_tag(node, _PLAIN_TAGS)
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        if node.tag == _TIMESTAMP:
            value: Any = node.value  # as Kubernetes reads YAML (through JSON): a timestamp is its text
        else:
            self._check_tag(node, _SCALAR_TAGS)
            value = self.loader.construct_object(node, deep=True)
        if isinstance(value, str):
            self.positions.scalars[path] = (getattr(node, "style", None), value, node.end_mark.line + 1)
        return value

    @staticmethod
    def _check_tag(node: yaml.Node, allowed: frozenset[str]) -> None:
        if node.tag not in allowed:
            raise yaml.constructor.ConstructorError(
                None, None, f"unsupported YAML tag {node.tag!r} (rule files hold plain data)", node.start_mark
            )

    def _mapping(self, node: yaml.MappingNode, path: tuple[Any, ...]) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        merged = self._merged.get(id(node))
        if merged is None:  # merge keys (`<<: *anchor`) are flattened once; an alias may bring the node again
            own = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
            self.loader.flatten_mapping(node)
            merged = self._merged[id(node)] = len(node.value) - own
        for position, (key_node, value_node) in enumerate(node.value):
            key = self._key(key_node)
            child = (*path, key)
            if key in out and position >= merged and child in self._own:
                first = self.positions.table[child][0]
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {first})", key_node.start_mark
                )
            if position >= merged:
                self._own.add(child)  # a key written here overrides one merged in, and may not repeat
            self.positions.table[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = self.build(value_node, child)
        return out

    def _key(self, node: yaml.Node) -> str:
        """A mapping key as text, as Kubernetes reads YAML through JSON (`1` -> "1", `true` -> "true")."""
        if not isinstance(node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, "mapping keys must be plain values, not lists or mappings", node.start_mark
            )
        if node.tag == _TIMESTAMP:
            return str(node.value)
        self._check_tag(node, _SCALAR_TAGS)
        key = self.loader.construct_object(node, deep=True)
        if isinstance(key, bool) or key is None:
            return "true" if key is True else "false" if key is False else "null"
        if isinstance(key, float):
            return go_float(key) if math.isfinite(key) else str(node.value)
        return str(key)
