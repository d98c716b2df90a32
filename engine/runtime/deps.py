"""Which evaluated objects read which other objects: the map from a change to the keys it re-evaluates.

Where this sits: after each evaluation the reactor records the lookups it made (engine.core.evaluate.Lookup);
on a watch event the reactor asks for the dependents of the changed object. A `get` lookup depends on one
name (also when nothing was found: the object's later creation matters); a `list` lookup depends on every
object of its kind in its namespace, unless the rules declared triggers for it (then the triggers map a
change to its key, and this index stays out of the way, so one change does not fan out to a namespace).

Dynamic dependency tracking, as a spreadsheet does: nothing is declared twice, nothing is missed.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TypeVar

from engine.core.evaluate import Lookup
from engine.model import GVK, ObjectKey

GetKey = tuple[GVK, str, str]
ListKey = tuple[GVK, str | None]
Entry = TypeVar("Entry", GetKey, ListKey)


class DependencyIndex:
    """Evaluated key -> its lookups, and the reverse."""

    def __init__(self) -> None:
        self._by_key: dict[ObjectKey, tuple[frozenset[GetKey], frozenset[ListKey]]] = {}
        self._gets: defaultdict[GetKey, set[ObjectKey]] = defaultdict(set)
        self._lists: defaultdict[ListKey, set[ObjectKey]] = defaultdict(set)

    def __len__(self) -> int:
        return len(self._by_key)

    def record(self, key: ObjectKey, lookups: set[Lookup]) -> None:
        """Replace what `key` depends on with the lookups of its latest evaluation."""
        gets = frozenset((lk.gvk, lk.namespace or "", lk.name) for lk in lookups if lk.name is not None)
        lists = frozenset((lk.gvk, lk.namespace) for lk in lookups if lk.name is None and not lk.triggered)
        previous = self._by_key.get(key)
        if previous == (gets, lists):
            return
        self.forget(key)
        self._by_key[key] = (gets, lists)
        for get in gets:
            self._gets[get].add(key)
        for listed in lists:
            self._lists[listed].add(key)

    def forget(self, key: ObjectKey) -> None:
        """Drop a key that no longer exists."""
        previous = self._by_key.pop(key, None)
        if previous is None:
            return
        gets, lists = previous
        for get in gets:
            _discard(self._gets, get, key)
        for listed in lists:
            _discard(self._lists, listed, key)

    def dependents(self, gvk: GVK, namespace: str, name: str) -> set[ObjectKey]:
        """Keys whose evaluation read (or looked for) this object."""
        found = set(self._gets.get((gvk, namespace, name), ()))
        found.update(self._lists.get((gvk, namespace), ()))
        found.update(self._lists.get((gvk, None), ()))
        return found


def _discard(index: dict[Entry, set[ObjectKey]], entry: Entry, key: ObjectKey) -> None:
    keys = index.get(entry)
    if keys is not None:
        keys.discard(key)
        if not keys:
            del index[entry]
