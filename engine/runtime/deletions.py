"""Objects someone else deleted a moment ago: the runtime does not create them again at once.

Where this sits: the reactor tells it of the deletes it is about to send and of every deletion its watches report;
before executing an evaluation's decisions it asks how long a create among them must still wait.

Why: when a user or a GitOps tool deletes many objects at once, the garbage collector deletes what they own, and
the runtime hears of each deletion on the watch of its kind. It may hear that a stream's Job is gone before it hears
that the stream itself is: the cached stream, still there and Running, has lost its Job, and a rule that starts what
is missing would create the Job again (the collector deletes it again, after its Pod may have started). Waiting a
grace before creating an object that was deleted by someone else lets the owner's own deletion arrive; the
re-evaluation then finds nothing to act for. Objects the runtime deleted itself (a Job replaced after an edit) are
created again without waiting; an object deleted by hand is recreated after the grace.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable

from engine.model import GVK, Action, CreateObject, DeleteObject

Identity = tuple[GVK, str, str]
KEPT = 60.0
"""Seconds an entry is kept at most: long enough for any delete's event to arrive."""


class RecentDeletions:
    def __init__(self, clock: Callable[[], float], grace: float) -> None:
        self._clock = clock
        self.grace = grace
        self._ours: OrderedDict[Identity, float] = OrderedDict()
        self._theirs: OrderedDict[Identity, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._ours) + len(self._theirs)

    def sending(self, actions: Iterable[Action]) -> None:
        """The deletes among `actions` are about to be sent: their deletion events are ours."""
        for action in actions:
            if isinstance(action, DeleteObject):
                ref = action.ref
                self._add(self._ours, (ref.gvk, ref.namespace, ref.name))

    def deleted(self, gvk: GVK, namespace: str, name: str) -> None:
        """A watch reported the object gone."""
        identity = (gvk, namespace, name)
        if self._ours.pop(identity, None) is None:
            self._add(self._theirs, identity)

    def wait(self, actions: Iterable[Action]) -> float:
        """Seconds until every object `actions` create may be created (0: at once)."""
        if not self._theirs:
            return 0.0
        now = self._clock()
        longest = 0.0
        for action in actions:
            if isinstance(action, CreateObject):
                meta = action.obj.get("metadata") or {}
                gvk = GVK.of_object(action.obj)
                when = self._theirs.get((gvk, str(meta.get("namespace") or ""), str(meta.get("name") or "")))
                if when is not None:
                    longest = max(longest, when + self.grace - now)
        return longest

    def _add(self, entries: OrderedDict[Identity, float], identity: Identity) -> None:
        now = self._clock()
        entries[identity] = now
        entries.move_to_end(identity)  # entries stay in the order they were made: the oldest first
        keep = max(KEPT, self.grace)
        while now - next(iter(entries.values())) > keep:
            entries.popitem(last=False)
