"""RecentDeletions: what someone else deleted a moment ago is not created again at once; what we deleted is."""

from __future__ import annotations

from engine.model import GVK, CreateObject, DeleteObject, ObjectRef, Propagation
from engine.runtime.deletions import KEPT, RecentDeletions

JOB = GVK("batch", "v1", "Job")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def create(name: str) -> CreateObject:
    return CreateObject({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "ns"}})


def delete(name: str) -> DeleteObject:
    return DeleteObject(ObjectRef("batch/v1", "Job", "ns", name), Propagation.BACKGROUND)


def test_an_object_someone_else_deleted_is_created_after_the_grace() -> None:
    """A deletion the runtime did not send holds back a create of that object until the grace has passed since it;
    other objects are created at once."""
    clock = Clock()
    deletions = RecentDeletions(clock, grace=1.0)
    deletions.deleted(JOB, "ns", "a")
    clock.now += 0.25
    assert deletions.wait([create("a")]) == 0.75
    assert deletions.wait([create("b"), delete("a")]) == 0.0
    clock.now += 0.75
    assert deletions.wait([create("a")]) <= 0.0


def test_an_object_the_runtime_deleted_itself_is_created_at_once() -> None:
    """A delete the runtime sends (a Job replaced) makes its deletion event ours: the new object is created at
    once. Only that one event is ours: a later deletion of the same object by someone else holds it back again."""
    clock = Clock()
    deletions = RecentDeletions(clock, grace=1.0)
    deletions.sending([delete("a"), create("a")])
    deletions.deleted(JOB, "ns", "a")
    assert deletions.wait([create("a")]) == 0.0
    deletions.deleted(JOB, "ns", "a")
    assert deletions.wait([create("a")]) == 1.0


def test_entries_are_kept_a_bounded_time() -> None:
    """Entries older than a minute go as new ones come: bulk deletions leave nothing behind."""
    clock = Clock()
    deletions = RecentDeletions(clock, grace=1.0)
    for index in range(1000):
        deletions.deleted(JOB, "ns", f"j{index}")
    deletions.sending([delete("never-seen")])
    assert len(deletions) == 1001
    clock.now += KEPT + 1
    deletions.deleted(JOB, "ns", "late")
    deletions.sending([delete("late-ours")])
    assert len(deletions) == 2
