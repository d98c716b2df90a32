"""Kubernetes label selectors in their text form (`tier=gold,env in (prod,staging),!legacy`), parsed once.

Where this sits: the compiler parses a document's `for.labelSelector` into a `LabelSelector` (a located problem when
it does not parse); the evaluator asks it whether an object's labels match. The grammar is the API server's
(k8s.io/apimachinery labels.Parse): requirements separated by commas, each `key`, `!key`, `key=value`,
`key==value`, `key!=value`, `key in (v1,v2)` or `key notin (v1,v2)`; `!=` and `notin` also match objects without
the key. Keys may carry a DNS prefix (`app.kubernetes.io/name`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_KEY = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9.]*[A-Za-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET = rf"\(\s*{_VALUE}\s*(?:,\s*{_VALUE}\s*)*\)"
_REQUIREMENT = re.compile(
    rf"\s*(?:(?P<absent>!)\s*(?P<akey>{_KEY})"
    rf"|(?P<key>{_KEY})(?:\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})|\s+(?P<setop>in|notin)\s*(?P<set>{_SET}))?)\s*"
)


class SelectorError(ValueError):
    """A label selector that does not parse; `column` (1-based) is where it stops making sense."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.column = column


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    op: str
    """One of `exists`, `!`, `=`, `!=`, `in`, `notin`."""
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, Any]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        value = labels.get(self.key)
        if self.op in ("=", "in"):
            return present and value in self.values
        return not present or value not in self.values  # != and notin


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """Every requirement must match (an empty selector matches everything, as the API server's)."""

    text: str
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, Any] | None) -> bool:
        found = labels if isinstance(labels, Mapping) else {}
        return all(requirement.matches(found) for requirement in self.requirements)


def parse_selector(text: str) -> LabelSelector:
    """The selector `text` says; `SelectorError` naming the column where it does not parse."""
    requirements: list[Requirement] = []
    if not text.strip():
        return LabelSelector(text, ())
    position = 0
    while True:
        found = _REQUIREMENT.match(text, position)
        if found is None or found.end() == position:
            rest = text[position:].strip()
            what = f"cannot read {rest!r}" if rest else "a requirement is missing after the last `,`"
            raise SelectorError(f"label selector {text!r}: {what}", position + 1)
        requirements.append(_requirement(found))
        position = found.end()
        if position == len(text):
            return LabelSelector(text, tuple(requirements))
        if text[position] != ",":
            raise SelectorError(
                f"label selector {text!r}: expected `,` between requirements, found {text[position:].strip()!r}",
                position + 1,
            )
        position += 1


def _requirement(found: re.Match[str]) -> Requirement:
    if found["absent"]:
        return Requirement(found["akey"], "!")
    key = found["key"]
    if found["op"]:
        return Requirement(key, "!=" if found["op"] == "!=" else "=", frozenset({found["value"]}))
    if found["setop"]:
        values = frozenset(part.strip() for part in found["set"].strip()[1:-1].split(","))
        return Requirement(key, found["setop"], values)
    return Requirement(key, "exists")
