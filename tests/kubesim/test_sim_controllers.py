"""Controllers: Job outcomes and conditions, suspend, TTL, GC propagation, CronJob on a fake clock, namespaces."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from simhelpers import job


def wait_for(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll until `check()` is truthy (the simulator runs in its own thread)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        time.sleep(0.02)


def conditions(obj: dict[str, Any]) -> list[str]:
    return [c["type"] for c in (obj.get("status") or {}).get("conditions", []) if c["status"] == "True"]


def get_job(sim: Any, name: str = "j1") -> dict[str, Any]:
    found = sim.get("batch/v1", "Job", "default", name)
    assert found is not None
    return found


def test_job_succeeds_with_1_32_condition_order(kubesim: Any) -> None:
    """A succeeding Job gets SuccessCriteriaMet then Complete, succeeded=1 and completionTime."""
    kubesim.apply(job())
    done = wait_for(lambda: "Complete" in conditions(get_job(kubesim)) and get_job(kubesim))
    assert conditions(done) == ["SuccessCriteriaMet", "Complete"]
    status = done["status"]
    assert (status["succeeded"], status["active"]) == (1, 0)
    assert status["completionTime"]
    assert status["startTime"]
    pods = kubesim.list("v1", "Pod", "default")
    assert [p["status"]["phase"] for p in pods] == ["Succeeded"]
    assert "finalizers" not in pods[0]["metadata"]
    reasons = sorted(e["reason"] for e in kubesim.list("v1", "Event", "default"))
    assert reasons == ["Completed", "SuccessfulCreate"]


def test_job_runs_pods_while_active(kubesim: Any) -> None:
    """A run-forever Job keeps one Running pod and reports active=1, ready=1."""
    kubesim.apply(job(outcome="run-forever"))
    running = wait_for(lambda: get_job(kubesim).get("status", {}).get("ready") == 1 and get_job(kubesim))
    assert running["status"]["active"] == 1
    pod = kubesim.list("v1", "Pod", "default")[0]
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job"
    assert pod["metadata"]["finalizers"] == ["batch.kubernetes.io/job-tracking"]
    assert pod["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "j1"


def test_job_fails_past_backoff_limit(kubesim: Any) -> None:
    """A failing Job retries backoffLimit times, then gets FailureTarget and Failed (BackoffLimitExceeded)."""
    kubesim.apply(job(outcome="fail-after=0.05s", backoffLimit=1))
    failed = wait_for(lambda: "Failed" in conditions(get_job(kubesim)) and get_job(kubesim))
    assert conditions(failed) == ["FailureTarget", "Failed"]
    assert failed["status"]["failed"] == 2
    assert failed["status"]["conditions"][-1]["reason"] == "BackoffLimitExceeded"


def test_job_suspend_and_resume(kubesim: Any) -> None:
    """A suspended Job has no pods and a Suspended condition; resuming runs it."""
    kubesim.apply(job(suspend=True))
    wait_for(lambda: "Suspended" in conditions(get_job(kubesim)))
    assert kubesim.list("v1", "Pod", "default") == []
    kubesim.patch("batch/v1", "Job", "default", "j1", {"spec": {"suspend": False}})
    wait_for(lambda: "Complete" in conditions(get_job(kubesim)))


def test_ttl_after_finished_deletes_the_job(kubesim: Any) -> None:
    """ttlSecondsAfterFinished deletes a finished Job."""
    kubesim.apply(job(ttlSecondsAfterFinished=0))
    wait_for(lambda: kubesim.get("batch/v1", "Job", "default", "j1") is None)


def test_job_outcome_with_tracked_jobs_only(kubesim_factory: Any) -> None:
    """With job_pods=False no Pods exist and the Job completes after its outcome time."""
    sim = kubesim_factory(job_pods=False, job_default_outcome="succeed-after=0.1s")
    sim.apply(job())
    wait_for(lambda: "Complete" in conditions(get_job(sim)))
    assert sim.list("v1", "Pod", "default") == []


def owned_config_map(owner: dict[str, Any], name: str, block: bool = False) -> dict[str, Any]:
    ref = {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "blockOwnerDeletion": block,
    }
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "ownerReferences": [ref]}}


def test_gc_background_deletes_owned_jobs(kubesim: Any) -> None:
    """Deleting an owner deletes the Jobs it owns (and their pods) in the background."""
    owner = kubesim.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}})
    child = job("child", outcome="run-forever")
    child["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    ]
    kubesim.apply(child)
    wait_for(lambda: kubesim.list("v1", "Pod", "default"))
    kubesim.delete("v1", "ConfigMap", "default", "owner")
    wait_for(lambda: kubesim.get("batch/v1", "Job", "default", "child") is None)
    wait_for(lambda: kubesim.list("v1", "Pod", "default") == [])


def test_gc_foreground_waits_for_blocking_dependents(kubesim: Any) -> None:
    """Foreground deletion deletes dependents first, then the owner."""
    owner = kubesim.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}})
    dependent = owned_config_map(owner, "dep", block=True)
    dependent["metadata"]["finalizers"] = ["example.com/hold"]
    kubesim.apply(dependent)
    kubesim.delete("v1", "ConfigMap", "default", "owner", propagation="Foreground")
    kubesim.settle()
    held = kubesim.get("v1", "ConfigMap", "default", "owner")
    assert held is not None
    assert held["metadata"]["finalizers"] == ["foregroundDeletion"]
    kubesim.patch("v1", "ConfigMap", "default", "dep", {"metadata": {"finalizers": None}})
    wait_for(lambda: kubesim.get("v1", "ConfigMap", "default", "owner") is None)


def test_gc_orphan_strips_owner_references(kubesim: Any) -> None:
    """Orphan deletion keeps dependents and removes their ownerReferences."""
    owner = kubesim.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}})
    kubesim.apply(owned_config_map(owner, "dep"))
    kubesim.delete("v1", "ConfigMap", "default", "owner", propagation="Orphan")
    wait_for(lambda: kubesim.get("v1", "ConfigMap", "default", "owner") is None)
    dep = kubesim.get("v1", "ConfigMap", "default", "dep")
    assert dep is not None
    assert "ownerReferences" not in dep["metadata"]


def test_gc_deletes_dependents_of_dangling_owners(kubesim: Any) -> None:
    """A dependent whose owner uid does not exist is deleted."""
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ghost", "uid": "0000"}}
    kubesim.apply(owned_config_map(ghost, "orphaned"))
    wait_for(lambda: kubesim.get("v1", "ConfigMap", "default", "orphaned") is None)


def test_cronjob_creates_jobs_on_a_fake_clock(kubesim_factory: Any) -> None:
    """On a fake clock, advancing past the schedule creates the Job with its owner and timestamp."""
    sim = kubesim_factory(fake_clock=True)
    template = job()["spec"]
    sim.apply(
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "cj"},
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": template}},
        }
    )
    sim.settle()
    assert sim.list("batch/v1", "Job", "default") == []
    sim.advance(301)
    jobs = sim.list("batch/v1", "Job", "default")
    assert len(jobs) == 1
    created = jobs[0]
    assert created["metadata"]["name"].startswith("cj-")
    assert created["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert "batch.kubernetes.io/cronjob-scheduled-timestamp" in created["metadata"]["annotations"]
    sim.advance(1)
    cronjob = sim.get("batch/v1", "CronJob", "default", "cj")
    assert cronjob is not None
    assert cronjob["status"]["lastScheduleTime"]
    assert conditions(sim.get("batch/v1", "Job", "default", created["metadata"]["name"]) or {}) == [
        "SuccessCriteriaMet",
        "Complete",
    ]


def test_namespace_deletion_empties_it(kubesim: Any) -> None:
    """Deleting a namespace makes it Terminating, refuses creates (403), deletes its content, then goes."""
    kubesim.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gone"}})
    kubesim.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "gone", "finalizers": ["x.io/f"]},
        }
    )
    kubesim.delete("v1", "Namespace", None, "gone")
    kubesim.settle()
    ns = kubesim.get("v1", "Namespace", None, "gone")
    assert ns is not None
    assert ns["status"]["phase"] == "Terminating"
    import pytest

    from kubesim import ApiError

    with pytest.raises(ApiError) as exc:
        kubesim.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new", "namespace": "gone"}})
    assert exc.value.code == 403
    assert exc.value.message == "unable to create new content in namespace gone because it is being terminated"
    kubesim.patch("v1", "ConfigMap", "gone", "c", {"metadata": {"finalizers": None}})
    wait_for(lambda: kubesim.get("v1", "Namespace", None, "gone") is None)
