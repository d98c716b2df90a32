"""Which evaluated objects read which other objects: the map from a change to the keys it re-evaluates.

Where this sits: after each evaluation the reactor records the lookups it made (engine.core.evaluate.Lookup);
on a watch event the reactor asks for the dependents of the changed object. A `get` lookup depends on one
name (also when nothing was found: the object's later creation matters); a `list` lookup depends on every
object of its kind in its namespace, unless the rules declared triggers for it (then the triggers map a
change to its key, and this index stays out of the way, so one change does not fan out to a namespace).

Dynamic dependency tracking, as a spreadsheet does: nothing is declared twice, nothing is missed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from engine.core.evaluate import Lookup
from engine.core.names import Read
from engine.model import GVK, ObjectKey

GetKey = tuple[GVK, str, str]
ListKey = tuple[GVK, str | None]
Entry = TypeVar("Entry", GetKey, ListKey)


class DependencyIndex:
    """Evaluated key -> its lookups, and the reverse.

    Kept small, since it holds an entry for every evaluated object: lookups as tuples (not frozensets), and a
    looked-up name read by one key (a stream's own Job) maps to that key itself, not to a set of one."""

    def __init__(self) -> None:
        self._by_key: dict[ObjectKey, tuple[tuple[GetKey, ...], tuple[ListKey, ...]]] = {}
        self._gets: dict[GetKey, ObjectKey | set[ObjectKey]] = {}
        self._lists: dict[ListKey, ObjectKey | set[ObjectKey]] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def record(self, key: ObjectKey, lookups: Iterable[Lookup | Read]) -> None:
        """Replace what `key` depends on with the lookups of its latest evaluation (as `Lookup`s or as the
        evaluation's `reads` tuples, which cost nothing more to make)."""
        reads = [lk if isinstance(lk, tuple) else (lk.gvk, lk.namespace, lk.name, lk.triggered) for lk in lookups]
        gets = tuple({(gvk, namespace or "", name): None for gvk, namespace, name, _ in reads if name is not None})
        lists = tuple(
            {(gvk, namespace): None for gvk, namespace, name, triggered in reads if name is None and not triggered}
        )
        previous = self._by_key.get(key)
        if previous == (gets, lists):  # same reads in the same order: the usual re-evaluation, nothing to do
            return
        old_gets, old_lists = previous if previous is not None else ((), ())
        self._by_key[key] = (
            _replace(self._gets, old_gets, gets, key),
            _replace(self._lists, old_lists, lists, key),
        )

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
        found: set[ObjectKey] = set()
        for entry in (
            self._gets.get((gvk, namespace, name)),
            self._lists.get((gvk, namespace)),
            self._lists.get((gvk, None)),
        ):
            if isinstance(entry, set):
                found.update(entry)
            elif entry is not None:
                found.add(entry)
        return found


def _replace(
    index: dict[Entry, ObjectKey | set[ObjectKey]], old: tuple[Entry, ...], new: tuple[Entry, ...], key: ObjectKey
) -> tuple[Entry, ...]:
    """Make `key` depend on the entries `new` instead of `old`, touching only those that differ, and return `new`
    holding the entry objects already in the index for those that stayed (not equal copies beside them).

    An entry dropped and added again would cost the work twice and, in a dict that lives as long as the process, a
    slot for good: a dict's deleted slots are reused only when its table is rebuilt, and the rebuild of a dict of
    10,000 streams' reads doubled its table (1.3 MiB in the churn soak)."""
    if old == new:
        return old
    same = {entry: entry for entry in old}
    wanted = set(new)
    for entry in old:
        if entry not in wanted:
            _discard(index, entry, key)
    for entry in new:
        if entry not in same:
            _add(index, entry, key)
    return tuple(same.get(entry, entry) for entry in new)


def _add(index: dict[Entry, ObjectKey | set[ObjectKey]], entry: Entry, key: ObjectKey) -> None:
    keys = index.get(entry)
    if keys is None:
        index[entry] = key
    elif isinstance(keys, set):
        keys.add(key)
    elif keys != key:
        index[entry] = {keys, key}


def _discard(index: dict[Entry, ObjectKey | set[ObjectKey]], entry: Entry, key: ObjectKey) -> None:
    keys = index.get(entry)
    if keys is None:
        return
    if isinstance(keys, set):
        keys.discard(key)
        if len(keys) == 1:
            index[entry] = next(iter(keys))
    elif keys == key:
        del index[entry]
