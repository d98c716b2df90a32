"""Fact values kept across evaluations of an unchanged object (the runtime's optimisation, optional).

Where this sits: the runtime passes one `FactMemo` in every Snapshot; the evaluator stores there the values of
the facts that depend on the evaluated object alone (engine.spec.checks.pure_facts: no related object, no
time), keyed by the object's uid and resourceVersion and those of the object bound to its dynamic kind. An
object re-evaluated because a related object changed (its own version unchanged) then reuses the facts it read.
A new version of either object, or a new rule set, is a miss. Values are shared: never mutate them.

What is kept, and what is not:
- a document without such facts makes no entry (an empty one per object still cost about 330 bytes under
  tracemalloc, and a place in the table for every object ever evaluated);
- only what an evaluation that decided no action read is kept: the facts an acting evaluation computes (those
  its writes render, often the largest: a whole spec as JSON, its hash) are dropped from the entry when it
  ends. An acting evaluation is followed by another (its writes bring it), usually of a new version, while the
  quiet one is what repeats as related objects change; so the memo holds, per object, what its settled
  evaluations read, not what its last change needed. Keeping those too made the memo grow by a spec's JSON per
  object edited once (bench soak: RSS +8 % over ten minutes of edits on 10,000 objects).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

Version = tuple[str, str, str, str, str]
"""(rule-set digest, document, object resourceVersion, bound object's uid, bound object's resourceVersion)."""


class FactMemo:
    """A bounded map: object uid -> (version, fact values), least recently used dropped first."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, str], tuple[Version, dict[str, Any]]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def values(self, uid: str, document: str, version: Version) -> dict[str, Any]:
        """The fact values stored for this object version (an empty dict to fill on a miss)."""
        key = (uid, document)
        entry = self._entries.get(key)
        if entry is not None and entry[0] == version:
            self.hits += 1
            self._entries.move_to_end(key)
            return entry[1]
        self.misses += 1
        values: dict[str, Any] = {}
        self._entries[key] = (version, values)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return values

    def peek(self, uid: str, document: str) -> dict[str, Any] | None:
        """The fact values held for an object, whatever their version, or None; not counted as a hit or a use."""
        entry = self._entries.get((uid, document))
        return None if entry is None else entry[1]

    def forget(self, uid: str, documents: list[str]) -> None:
        """Drop the entries of an object that is gone."""
        for document in documents:
            self._entries.pop((uid, document), None)
