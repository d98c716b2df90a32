"""Simple paths compiled to Python: one generated function per path and way of walking it.

Where this sits: engine.expr.paths walks paths made of fields, `[*]` and integer indexes (nearly all paths of the
rules) itself. A Job build walks `$.spec.template.spec.containers[*].env` once per transform; the interpreted walk
tests each step's kind and keeps a list of candidates at every step. Here the steps are known when the path is first
walked, so the walk is written out once as straight Python: the leading fields one dict read each, each later step
one loop over the candidates. The result is that of the interpreted walk (`FieldPath._walk`), in the same order, with the same
objects and lists created on the way; the tests compare the two on generated trees and paths.

Only the step values (names, indexes) reach the generated source, as constants passed in, never as text of the rule
file. This module neither parses paths nor writes values at the slots it finds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Walk = Callable[[Any], list[tuple[Any, Any]]]
"""A walk of one path over data: the (container, key) pairs of its last step."""


def generate_walk(steps: tuple[Any, ...], wild: object, *, create: bool, resolve_last: bool) -> Walk:
    """The walk of `steps` (field names, integer indexes, `wild` for `[*]`) as one function: `create` makes the
    missing objects (or lists, before an index) along the way; `resolve_last` keeps a last field only where it
    exists. The semantics are those of FieldPath's interpreted walk."""
    writer = _Writer(steps, wild, create)
    depth = len(steps)
    start = 0
    # The leading field names walk one object, with no list of candidates (most paths are only that).
    while start < depth - 1 and type(steps[start]) is str:
        writer.leading(start)
        start += 1
    if start < depth - 1 and steps[start] is wild:
        # `[*]` after the leading fields: the list itself is the candidates, uncopied (a walk only ever sets fields
        # of objects, so no list changes while it is walked).
        writer.lines.append("    frontier = node if isinstance(node, _list) else ()")
        start += 1
    else:
        writer.lines.append("    frontier = (node,)")
    for position in range(start, depth - 1):
        writer.step(position)
    writer.last(resolve_last)
    code = compile("\n".join(writer.lines) + "\n", "<path>", "exec")
    exec(code, writer.names)  # the source holds names of constants only
    walk: Walk = writer.names["walk"]
    return walk


class _Writer:
    """The lines of one walk function; step values are passed in as constants."""

    def __init__(self, steps: tuple[Any, ...], wild: object, create: bool) -> None:
        self.steps = steps
        self.wild = wild
        self.create = create
        self.names: dict[str, Any] = {"_dict": dict, "_list": list}
        self.lines = ["def walk(node):"]

    def const(self, value: Any) -> str:
        name = f"_k{len(self.names)}"
        self.names[name] = value
        return name

    def empty(self, position: int) -> str:
        """What `create` puts at a missing field: a list before an index, else an object."""
        return "[]" if isinstance(self.steps[position + 1], int) else "{}"

    def leading(self, position: int) -> None:
        """A leading field name: one object to one object (or no match)."""
        key = self.const(self.steps[position])
        missing = f"child = node[{key}] = {self.empty(position)}" if self.create else "return []"
        self.lines += [
            "    if not isinstance(node, _dict):",
            "        return []",
            f"    child = node.get({key})",
            "    if child is None:",
            f"        {missing}",
            "    node = child",
        ]

    def step(self, position: int) -> None:
        """A later step other than the last: the candidates it leads to, from every candidate."""
        step = self.steps[position]
        lines = self.lines
        if step is self.wild:
            lines.append("    frontier = [item for node in frontier if isinstance(node, _list) for item in node]")
            return
        lines += ["    found = []", "    for node in frontier:"]
        if isinstance(step, str):
            key = self.const(step)
            lines += ["        if isinstance(node, _dict):", f"            child = node.get({key})"]
            if self.create:
                lines += [
                    "            if child is None:",
                    f"                child = node[{key}] = {self.empty(position)}",
                ]
            lines += ["            if child is not None:", "                found.append(child)"]
        else:
            index = self.const(int(step))
            lines += [
                f"        if isinstance(node, _list) and -len(node) <= {index} < len(node):",
                f"            found.append(node[{index}])",
            ]
        lines.append("    frontier = found")

    def last(self, resolve_last: bool) -> None:
        """The last step: the (container, key) pairs of every candidate."""
        last = self.steps[-1]
        if last is self.wild:
            pairs = "(node, index) for node in frontier if isinstance(node, _list) for index in range(len(node))"
        elif isinstance(last, str):
            key = self.const(last)
            test = f"isinstance(node, _dict) and {key} in node" if resolve_last else "isinstance(node, _dict)"
            pairs = f"(node, {key}) for node in frontier if {test}"
        else:
            index = self.const(int(last))
            pairs = (
                f"(node, {index}) for node in frontier if isinstance(node, _list) and -len(node) <= {index} < len(node)"
            )
        self.lines.append(f"    return [{pairs}]")
