"""Field addressing with JSONPath: where to read or write inside an object.

Rules name places in objects with JSONPath (`$.spec.template.spec.containers[*].env`), parsed by
jsonpath-ng at load time (syntax errors come with their position). Paths made only of fields, `[*]` and
integer indexes — nearly all of them — run on a walk generated for the path (engine.expr.walkers),
about 20x faster than jsonpath-ng's `find`; anything else (filters, slices, `..`) runs through jsonpath-ng.

Writes (`set`, `append`, `upsert`, `remove`, `merge`) mutate the object they are given: callers pass a
private copy. This module does not evaluate expressions (engine.expr.jmes) nor decide what to write.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import jsonpath_ng
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext.parser import parse as parse_jsonpath

from engine.errors import ExpressionError
from engine.expr.walkers import Walk, generate_walk

_WILD = object()


@dataclass(frozen=True, slots=True)
class PathSyntaxError(Exception):
    """A path that does not parse: why, and the 1-based column in `source` where parsing stopped (0: unknown)."""

    source: str
    message: str
    column: int = 0

    def __str__(self) -> str:
        return f"invalid JSONPath {self.source!r}: {self.message}"


_AT_COLUMN = re.compile(r"(?:at 1:|line 1, col )(\d+)")
_NEAR = re.compile(r"near token (\S+) \(|Unexpected character: (\S)")


def _syntax_error(source: str, text: str, error: Exception) -> PathSyntaxError:
    """jsonpath-ng's error in our words, with the column translated to `source` (jsonpath-ng counts from 0)."""
    said = str(error).strip()
    prefix = len(text) - len(source)
    if "end of string" in said:
        return PathSyntaxError(source, "the path ends too early", len(source) + 1)
    if "Unexpected EOF" in said:
        return PathSyntaxError(source, "a quoted name is not closed", len(source) + 1)
    column = _AT_COLUMN.search(said)
    near = _NEAR.search(said)
    if column is not None and near is not None:
        token = near.group(1) if near.group(1) is not None else near.group(2)
        return PathSyntaxError(source, f"unexpected `{token}`", max(int(column.group(1)) + 1 - prefix, 1))
    return PathSyntaxError(source, said.splitlines()[0] if said else type(error).__name__)


class FieldPath:
    """A compiled JSONPath. Read with `find`/`first`; write with the mutating methods."""

    __slots__ = ("_expr", "_steps", "_walks", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        text = source if source.startswith("$") else "$." + source
        try:
            self._expr = parse_jsonpath(text)
        except (JsonPathLexerError, JsonPathParserError, Exception) as error:
            raise _syntax_error(source, text, error) from None
        self._steps = _simple_steps(self._expr)
        self._walks: dict[tuple[bool, bool], Walk] = {}
        """The generated walks of a simple path, by (create, resolve_last), made on first use."""

    def __repr__(self) -> str:
        return f"FieldPath({self.source!r})"

    @property
    def fields(self) -> tuple[str, ...] | None:
        """The field names of a path made only of fields and `[*]`/indexes (None for other paths)."""
        if self._steps is None:
            return None
        return tuple(step for step in self._steps if isinstance(step, str))

    @property
    def names(self) -> tuple[str, ...] | None:
        """The field names of a path made of field names only (`status.phase`); None for any other path."""
        if self._steps is None or not all(isinstance(step, str) for step in self._steps):
            return None
        return tuple(self._steps)

    # --- reading ------------------------------------------------------------------------------------

    def find(self, data: Any) -> list[Any]:
        """Every value the path matches."""
        if self._steps is None:
            return [match.value for match in self._expr.find(data)]
        walk = self._walks.get((False, True)) or self._generate(create=False, resolve_last=True)
        return [parent[key] for parent, key in walk(data)]

    def first(self, data: Any) -> Any:
        """The first value the path matches, or None."""
        found = self.find(data)
        return found[0] if found else None

    # --- writing ------------------------------------------------------------------------------------

    def set(self, data: Any, value: Any) -> int:
        """Set the value at every match, creating missing objects along a simple path. Returns the count."""
        slots = self._slots(data, create=True)
        for parent, key in slots:
            parent[key] = value
        return len(slots)

    def append(self, data: Any, values: list[Any]) -> int:
        """Append `values` to every list the path matches; a missing last field becomes a new list."""
        count = 0
        for parent, key in self._slots(data, create=True):
            current = parent[key] if _has(parent, key) else None
            if current is None:
                parent[key] = current = []
            if not isinstance(current, list):
                raise ExpressionError(f"{self.source}: cannot append to a {type(current).__name__}")
            current.extend(values)
            count += 1
        return count

    def upsert(self, data: Any, key_field: str, item: dict[str, Any]) -> int:
        """In every matched list, replace the first item whose `key_field` equals `item`'s, else append it."""
        count = 0
        for parent, key in self._slots(data, create=True):
            current = parent[key] if _has(parent, key) else None
            if current is None:
                parent[key] = current = []
            if not isinstance(current, list):
                raise ExpressionError(f"{self.source}: cannot upsert into a {type(current).__name__}")
            for index, existing in enumerate(current):
                if isinstance(existing, dict) and existing.get(key_field) == item.get(key_field):
                    current[index] = item
                    break
            else:
                current.append(item)
            count += 1
        return count

    def merge(self, data: Any, value: dict[str, Any]) -> int:
        """Shallow-merge `value` into every object the path matches (missing objects are created)."""
        count = 0
        for parent, key in self._slots(data, create=True):
            current = parent[key] if _has(parent, key) else None
            if current is None:
                parent[key] = current = {}
            if not isinstance(current, dict):
                raise ExpressionError(f"{self.source}: cannot merge into a {type(current).__name__}")
            current.update(value)
            count += 1
        return count

    def remove(self, data: Any) -> int:
        """Remove every matched field or list item. Returns how many were removed."""
        slots = [(parent, key) for parent, key in self._slots(data, create=False) if _has(parent, key)]
        # Remove list items from the back so earlier indexes stay valid.
        for parent, key in sorted(slots, key=lambda slot: slot[1] if isinstance(slot[1], int) else 0, reverse=True):
            del parent[key]
        return len(slots)

    # --- internals ----------------------------------------------------------------------------------

    def _slots(self, data: Any, *, create: bool) -> list[tuple[Any, Any]]:
        """(container, key) pairs for the last step of the path."""
        if self._steps is not None:
            walk = self._walks.get((create, False)) or self._generate(create=create, resolve_last=False)
            return walk(data)
        expr = self._expr
        # `...[?(filter)].field`: the field of every matched object, whether it exists yet or not.
        right: Any = getattr(expr, "right", None)
        if create and isinstance(expr, jsonpath_ng.Child) and _single_field(right):
            name = right.fields[0]
            return [(match.value, name) for match in expr.left.find(data) if isinstance(match.value, dict)]
        slots = []
        for match in self._expr.find(data):
            parent = match.context.value if match.context is not None else None
            key = _datum_key(match.path)
            if parent is not None and key is not None:
                slots.append((parent, key))
        return slots

    def _generate(self, *, create: bool, resolve_last: bool) -> Walk:
        """The walk of this simple path, generated (engine.expr.walkers) and kept for the next call."""
        assert self._steps is not None
        walk = self._walks[(create, resolve_last)] = generate_walk(
            self._steps, _WILD, create=create, resolve_last=resolve_last
        )
        return walk

    def _walk(self, data: Any, depth: int, *, create: bool, resolve_last: bool) -> list[tuple[Any, Any]]:
        """The interpreted walk: the specification the generated walks are tested against (tests/expr)."""
        assert self._steps is not None
        steps = self._steps
        # The leading field names walk one object, with no list of candidates (most paths are only that).
        node = data
        start = 0
        while start < depth - 1:
            step = steps[start]
            if type(step) is not str:
                break
            if not isinstance(node, dict):
                return []
            child = node.get(step)
            if child is None:
                if not create:
                    return []
                child = node[step] = [] if isinstance(steps[start + 1], int) else {}
            node = child
            start += 1
        frontier: list[Any] = [node]
        for position in range(start, depth - 1):
            step = steps[position]
            following = steps[position + 1]
            nxt: list[Any] = []
            for node in frontier:
                if step is _WILD:
                    if isinstance(node, list):
                        nxt.extend(node)
                elif isinstance(step, str):
                    if isinstance(node, dict):
                        child = node.get(step)
                        if child is None and create:
                            child = node[step] = [] if isinstance(following, int) else {}
                        if child is not None:
                            nxt.append(child)
                elif isinstance(node, list) and -len(node) <= step < len(node):
                    nxt.append(node[step])
            frontier = nxt
        last = steps[depth - 1]
        out: list[tuple[Any, Any]] = []
        for node in frontier:
            if last is _WILD:
                if isinstance(node, list):
                    out.extend((node, index) for index in range(len(node)))
            elif isinstance(last, str):
                if isinstance(node, dict) and (not resolve_last or last in node):
                    out.append((node, last))
            elif isinstance(node, list) and -len(node) <= last < len(node):
                out.append((node, last))
        return out


def _single_field(node: Any) -> bool:
    return isinstance(node, jsonpath_ng.Fields) and len(node.fields) == 1 and node.fields[0] != "*"


def _has(parent: Any, key: Any) -> bool:
    if isinstance(parent, dict):
        return key in parent
    return isinstance(parent, list) and -len(parent) <= key < len(parent)


def _simple_steps(expr: Any) -> tuple[Any, ...] | None:
    """Flatten Root/Child/Fields/Index/Wildcard chains; None when the path needs jsonpath-ng."""
    steps: list[Any] = []

    def visit(node: Any) -> bool:
        if isinstance(node, jsonpath_ng.Root):
            return True
        if isinstance(node, jsonpath_ng.Child):
            return visit(node.left) and visit(node.right)
        if isinstance(node, jsonpath_ng.Fields) and len(node.fields) == 1 and node.fields[0] != "*":
            steps.append(node.fields[0])
            return True
        if isinstance(node, jsonpath_ng.Index) and len(getattr(node, "indices", [None])) == 1:
            steps.append(getattr(node, "index", None) if hasattr(node, "index") else node.indices[0])
            return True
        if isinstance(node, jsonpath_ng.Slice) and node.start is None and node.end is None and node.step is None:
            steps.append(_WILD)
            return True
        if type(node).__name__ == "Wildcard" or (isinstance(node, jsonpath_ng.Fields) and node.fields == ("*",)):
            steps.append(_WILD)
            return True
        return False

    return tuple(steps) if visit(expr) and steps else None


def _datum_key(path: Any) -> Any:
    if isinstance(path, jsonpath_ng.Fields) and len(path.fields) == 1:
        return path.fields[0]
    if isinstance(path, jsonpath_ng.Index):
        return getattr(path, "index", None) if hasattr(path, "index") else path.indices[0]
    return None


_NAMES = re.compile(r'"([^"]+)"|([^.]+)')


@functools.lru_cache(maxsize=1024)
def field_names(field: str) -> tuple[str, ...]:
    """The names of a dotted path of fields (`spec.owner`); a name in double quotes may hold dots and slashes
    (`metadata.labels."app.kubernetes.io/name"` -> metadata, labels, app.kubernetes.io/name)."""
    if '"' not in field:
        return tuple(field.split("."))
    return tuple(quoted or plain for quoted, plain in _NAMES.findall(field))
