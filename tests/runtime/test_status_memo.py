"""StatusMemo: a status write the server already answered is not sent again; a deleted object is forgotten."""

from __future__ import annotations

from typing import Any

from engine.model import GVK, ObjectRef, PatchObject
from engine.runtime.memo import StatusMemo

REF = ObjectRef("example.com/v1", "Widget", "ns", "w1")
PATCH: dict[str, Any] = {
    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "t1"}]}
}


def _stored(status: Any) -> dict[str, Any]:
    return {
        "apiVersion": REF.api_version,
        "kind": REF.kind,
        "metadata": {"name": "w1", "namespace": "ns"},
        "status": status,
    }


def test_the_same_patch_on_the_status_the_server_answered_is_already_applied() -> None:
    """After a write whose answer pruned a field, the same patch on that stored status is a no-op; a new patch or a
    changed status is not."""
    memo = StatusMemo()
    pruned = {"phase": "Running"}  # the CRD kept no conditions
    memo.record(REF, PATCH, _stored(pruned))
    assert memo.already_applied(PatchObject(REF, PATCH, subresource="status"), _stored(pruned))
    assert not memo.already_applied(
        PatchObject(REF, {"status": {"phase": "Failed"}}, subresource="status"), _stored(pruned)
    )
    assert not memo.already_applied(PatchObject(REF, PATCH, subresource="status"), _stored({"phase": "Pending"}))


def test_a_pruned_transition_time_does_not_make_the_patch_new() -> None:
    """When the stored condition has no lastTransitionTime (pruned), a patch differing only in that time is applied."""
    memo = StatusMemo()
    stored = _stored({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]})
    memo.record(REF, PATCH, stored)
    later = {
        "status": {**PATCH["status"], "conditions": [{**PATCH["status"]["conditions"][0], "lastTransitionTime": "t2"}]}
    }
    assert memo.already_applied(PatchObject(REF, later, subresource="status"), stored)


def test_forget_drops_a_deleted_object() -> None:
    """Deleted objects leave the memo (names of short-lived objects never come back, so entries would only pile up)."""
    memo = StatusMemo()
    stored = _stored({"phase": "Running"})
    memo.record(REF, PATCH, stored)
    memo.forget(GVK("example.com", "v1", "Widget"), "ns", "w1")
    assert not memo.already_applied(PatchObject(REF, PATCH, subresource="status"), stored)
    memo.forget(GVK("example.com", "v1", "Widget"), "ns", "never-recorded")  # no error


def test_a_write_the_server_took_whole_is_not_remembered() -> None:
    """Only pruned writes need the memo: a status that shows every patched field leaves no entry, and drops an
    older entry of the same object (its pruned answer is out of date)."""
    memo = StatusMemo()
    memo.record(REF, PATCH, _stored({"phase": "Running"}))
    assert len(memo) == 1
    memo.record(REF, PATCH, _stored({**PATCH["status"], "observedGeneration": 3}))
    assert len(memo) == 0
    removal = {"status": {"phase": "Running", "message": None}}
    memo.record(REF, removal, _stored({"phase": "Running", "message": "kept by the server"}))
    assert len(memo) == 1
    memo.record(REF, removal, _stored({"phase": "Running"}))
    assert len(memo) == 0
