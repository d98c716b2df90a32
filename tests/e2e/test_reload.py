"""End to end: rules edited on disk while the operator runs (hot reload, rejection, the ConfigMap layout)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from engine.spec import compile_ruleset
from kubesim import KubeSim
from kubesim.testing import Kubectl

from .conftest import StartOperator
from .harness import (
    NAMESPACE,
    RULES,
    OperatorProcess,
    condition_message,
    copy_rules,
    create_stream,
    events,
    get_stream,
    install_plugin,
    phase,
    project_configmap,
    set_suspended,
    stream,
    wait_for,
    with_replaced,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RESUMED = 'event: {reason: StreamResumed, message: "The stream {{ object.metadata.name }} has been resumed"}'
EDITED_RESUMED = 'event: {reason: StreamResumed, message: "Edited rules resumed {{ object.metadata.name }}"}'
RUNNING = "Running: {type: Ready, reason: StreamRunning, message: The stream is currently running.}"
EDITED_RUNNING = "Running: {type: Ready, reason: StreamRunning, message: The stream runs under edited rules.}"
RESUME_RULE = "          from: [Suspended]\n          to: Pending\n          event: {reason: StreamResumed"
BROKEN_RESUME_RULE = (
    '          from: [Suspended]\n          when: "object.spec.(("\n          to: Pending\n'
    "          event: {reason: StreamResumed"
)


def edited(text: str) -> str:
    """stream.yaml with new texts for the resume event and the Running condition."""
    return with_replaced(with_replaced(text, RESUMED, EDITED_RESUMED), RUNNING, EDITED_RUNNING)


def suspended_stream(sim: KubeSim, custom: Any, name: str) -> None:
    """The demo plugin, and a stream created suspended (New -> Suspended, nothing runs)."""
    install_plugin(sim)
    create_stream(custom, stream(name, suspended=True))
    wait_for(f"{name} to be Suspended", lambda: phase(sim, name) == "Suspended")


def resume(custom: Any, kubectl: Kubectl | None, name: str) -> None:
    """Resume the stream (with kubectl when there is one, as a user would)."""
    if kubectl is None:
        set_suspended(custom, name, False)
        return
    patch = '{"spec":{"execution":{"suspended":false}}}'
    kubectl.run("patch", "demostream", name, "-n", NAMESPACE, "--type", "merge", "-p", patch)


def reloads(operator: OperatorProcess, result: str) -> float:
    return operator.metrics().value("arcane_reloads_total", result=result)


def digest(operator: OperatorProcess) -> str:
    (labels,) = operator.metrics().labels("arcane_ruleset_info")
    return labels["digest"]


def running_stream(sim: KubeSim, operators: StartOperator, custom: Any, tmp_path: Path) -> tuple[Path, OperatorProcess]:
    """An operator on a copy of the rules (to edit), and the demo plugin's stream `orders` Running under it."""
    rules = copy_rules(tmp_path / "rules")
    operator = operators(sim, rules=rules)
    operator.wait_ready()
    install_plugin(sim)
    create_stream(custom, stream("orders"))
    wait_for("orders to be Running", lambda: phase(sim, "orders") == "Running", timeout=60)
    return rules, operator


def test_rule_edit_changes_behaviour_without_restart(
    sim: KubeSim, operators: StartOperator, custom: Any, kubectl: Kubectl | None, tmp_path: Path
) -> None:
    """An edit of a rule file on disk is compiled and swapped in by the running process: the next transition shows the new event and condition texts."""
    rules = copy_rules(tmp_path / "rules")
    operator = operators(sim, rules=rules)
    operator.wait_ready()
    suspended_stream(sim, custom, "orders")
    before = digest(operator)

    (rules / "stream.yaml").write_text(edited((rules / "stream.yaml").read_text()))
    wait_for("a successful reload", lambda: reloads(operator, "ok") == 1)
    assert digest(operator) != before
    operator.wait_log("rules reloaded")

    resume(custom, kubectl, "orders")
    wait_for("orders to be Running", lambda: phase(sim, "orders") == "Running")
    assert (
        condition_message(get_stream(custom, "orders")) == "The stream runs under edited rules. (rule: start-streaming)"
    )
    (event,) = events(sim, NAMESPACE, reason="StreamResumed", name="orders")
    assert event["message"] == "Edited rules resumed orders"
    assert operator.alive(), "the operator restarted"
    assert reloads(operator, "error") == 0


def test_invalid_edit_is_rejected_and_old_rules_keep_working(
    sim: KubeSim, operators: StartOperator, custom: Any, kubectl: Kubectl | None, tmp_path: Path
) -> None:
    """A rule edit that does not compile leaves the active rules in place, and is logged with its file and line, recorded as a RulesRejected Warning Event and counted as a reload error."""
    rules = copy_rules(tmp_path / "rules")
    operator = operators(sim, rules=rules)
    operator.wait_ready()
    suspended_stream(sim, custom, "orders")
    before = digest(operator)

    original = (rules / "stream.yaml").read_text()
    broken = with_replaced(original, RESUME_RULE, BROKEN_RESUME_RULE)
    line = broken.splitlines().index('          when: "object.spec.(("') + 1
    (rules / "stream.yaml").write_text(broken)
    wait_for("a rejected reload", lambda: reloads(operator, "error") >= 1)
    where = f"{rules / 'stream.yaml'}:{line}:"

    (logged,) = [r for r in operator.records() if r["level"] == "error" and "rules rejected" in r["msg"]]
    assert where in logged["msg"]
    groups = [group for document in compile_ruleset([RULES]).documents for group in document.groups]
    (lifecycle,) = [group for group in groups if any(rule.name == "resume" for rule in group.rules)]
    index = [rule.name for rule in lifecycle.rules].index("resume")  # the rule edited: its place in the file
    assert f"spec.groups[0].rules[{index}].when: invalid JMESPath" in logged["msg"]
    assert (logged["file"], logged["line"]) == (str(rules / "stream.yaml"), line)
    rejected = wait_for("the RulesRejected event", lambda: events(sim, "default", reason="RulesRejected"))
    assert len(rejected) == 1
    assert rejected[0]["type"] == "Warning"
    assert rejected[0]["message"].startswith(f"New rules rejected, the previous rules stay active: {where}")
    assert rejected[0]["involvedObject"]["kind"] == "Namespace"
    assert digest(operator) == before
    assert reloads(operator, "ok") == 0

    (rules / "stream.yaml").write_text(original)  # the fix: what is active already, so no reload, but said
    operator.wait_log("the rules are the active rule set again: nothing to reload")
    assert (digest(operator), reloads(operator, "ok")) == (before, 0)
    assert [r for r in operator.records() if str(r.get("logger")).startswith("watchfiles")] == []

    resume(custom, kubectl, "orders")
    wait_for("orders to be Running", lambda: phase(sim, "orders") == "Running")
    assert condition_message(get_stream(custom, "orders")) == "The stream is currently running. (rule: start-streaming)"
    (event,) = events(sim, NAMESPACE, reason="StreamResumed", name="orders")
    assert event["message"] == "The stream orders has been resumed"


NAME_TOO_LONG = 'nameTooLong: "length(object.metadata.name) > nameLimit"'
FAILING_NAME_TOO_LONG = 'nameTooLong: "length(object.metadata.name) > length(nameLimit)"'
"""Compiles, but length() of a number is a type error on every stream."""


def test_edit_that_fails_at_run_time_is_rejected_and_old_rules_keep_working(
    sim: KubeSim, operators: StartOperator, custom: Any, kubectl: Kubectl | None, tmp_path: Path
) -> None:
    """A rule edit that compiles but fails on the streams the operator holds is tried on them before the swap and refused like one that does not compile: the previous rules stay active, no stream gets an error condition, and the streams still react."""
    rules, operator = running_stream(sim, operators, custom, tmp_path)
    before = digest(operator)

    failing = with_replaced((rules / "stream.yaml").read_text(), NAME_TOO_LONG, FAILING_NAME_TOO_LONG)
    line = failing.splitlines().index("        - name: name-too-long") + 1
    (rules / "stream.yaml").write_text(failing)
    wait_for("a rejected reload", lambda: reloads(operator, "error") >= 1)
    where = f"{rules / 'stream.yaml'}:{line}"
    problem = f"DemoStream/{NAMESPACE}/orders: rule name-too-long: condition failed ({where})"

    (logged, *_) = [r for r in operator.records() if r["level"] == "error" and "rules rejected" in r["msg"]]
    assert logged["msg"].startswith(f"rules rejected: {problem}")
    assert "length(nameLimit)" in logged["msg"]
    assert (logged["file"], logged["line"]) == (str(rules / "stream.yaml"), line)
    (tried,) = [r for r in operator.records() if r["msg"] == "new rules tried on the cached objects"]
    assert tried["objects"] >= 1
    rejected = wait_for("the RulesRejected event", lambda: events(sim, "default", reason="RulesRejected"))
    assert rejected[0]["type"] == "Warning"
    assert rejected[0]["message"].startswith(f"New rules rejected, the previous rules stay active: {problem}")
    assert digest(operator) == before
    assert reloads(operator, "ok") == 0

    set_suspended(custom, "orders", True)
    wait_for("orders to be Suspended", lambda: phase(sim, "orders") == "Suspended")
    conditions = get_stream(custom, "orders")["status"]["conditions"]
    assert [c["type"] for c in conditions if c["type"] == "ReconcileError"] == []
    assert events(sim, NAMESPACE, reason="ReconcileError") == []
    assert operator.alive(), "the operator restarted"


JOB_DROP = '      cache: {drop: ["$.spec.template"]}  # the rules read Jobs\' metadata and status only\n'
BACKFILL_JOB_DROP = '      cache: {drop: ["$.spec.template"]}\n'
JOB_FAILED = "jobFailed: \"condition(job, 'Failed').status == 'True'\""
READS_TEMPLATE = "jobFailed: \"(!job || length(job.spec.template.spec.containers) > `0`) && condition(job, 'Failed').status == 'True'\""
"""Needs a Job's template, which the active rules drop from the cache: fails on every cached Job until a swap
watches Jobs whole (and not when there is no Job)."""


def test_edit_that_reads_what_the_cache_drops_is_not_refused(
    sim: KubeSim, operators: StartOperator, custom: Any, tmp_path: Path
) -> None:
    """New rules that read a field the active rules drop from the cache (and stop dropping it) cannot be tried on
    the trimmed objects: evaluations reading that kind are not held against them, the rules swap in, the Jobs are
    watched whole, and the stream keeps running without an error."""
    rules, operator = running_stream(sim, operators, custom, tmp_path)
    before = digest(operator)

    text = (rules / "stream.yaml").read_text()
    text = with_replaced(with_replaced(text, JOB_DROP, ""), BACKFILL_JOB_DROP, "")
    (rules / "stream.yaml").write_text(with_replaced(text, JOB_FAILED, READS_TEMPLATE))
    wait_for("a successful reload", lambda: reloads(operator, "ok") == 1)
    assert digest(operator) != before
    assert reloads(operator, "error") == 0
    (tried,) = [r for r in operator.records() if r["msg"] == "new rules tried on the cached objects"]
    assert tried["unchecked"] >= 1
    set_suspended(custom, "orders", True)
    wait_for("orders to be Suspended", lambda: phase(sim, "orders") == "Suspended")
    assert events(sim, NAMESPACE, reason="ReconcileError") == []


def test_configmap_symlink_swap_is_reloaded(
    sim: KubeSim, operators: StartOperator, custom: Any, kubectl: Kubectl | None, tmp_path: Path
) -> None:
    """Rules mounted from a ConfigMap (files that are symlinks into a `..data` symlink) are reloaded when the kubelet swaps `..data` to a new directory."""
    sources = {path.name: path.read_text() for path in sorted(copy_rules(tmp_path / "source").glob("*.yaml"))}
    mount = tmp_path / "mount"
    project_configmap(mount, sources, "2026_11_27_00_00_00.000000001")
    operator = operators(sim, rules=mount)
    operator.wait_ready()
    suspended_stream(sim, custom, "orders")

    project_configmap(
        mount, {**sources, "stream.yaml": edited(sources["stream.yaml"])}, "2026_11_27_00_01_00.000000002"
    )
    assert sorted(p.name for p in mount.iterdir()) == [
        "..2026_11_27_00_01_00.000000002",
        "..data",
        "backfill.yaml",
        "stream.yaml",
        "streamclass.yaml",
    ]
    wait_for("a successful reload", lambda: reloads(operator, "ok") == 1)

    resume(custom, kubectl, "orders")
    wait_for("orders to be Running", lambda: phase(sim, "orders") == "Running")
    assert (
        condition_message(get_stream(custom, "orders")) == "The stream runs under edited rules. (rule: start-streaming)"
    )
    (event,) = events(sim, NAMESPACE, reason="StreamResumed", name="orders")
    assert event["message"] == "Edited rules resumed orders"


def swap_symlink(link: Path, target: Path) -> None:
    """Point `link` at `target` atomically (a new symlink renamed over the old one), as git-sync does."""
    temporary = link.with_name(link.name + ".tmp")
    temporary.symlink_to(target.name)
    temporary.rename(link)


def test_rules_directory_swapped_behind_a_symlink_is_reloaded_each_time(
    sim: KubeSim, operators: StartOperator, custom: Any, kubectl: Kubectl | None, tmp_path: Path
) -> None:
    """A rules path that is a symlink to a checkout swapped for a new one (git-sync's layout, the old checkout deleted) is reloaded from each new checkout, not only the first."""
    root = tmp_path / "git"
    link = root / "rules"
    first = copy_rules(root / "rev-1")
    link.symlink_to(first.name)
    operator = operators(sim, rules=link)
    operator.wait_ready()
    suspended_stream(sim, custom, "orders")

    second = copy_rules(root / "rev-2")
    (second / "stream.yaml").write_text(with_replaced((second / "stream.yaml").read_text(), RESUMED, EDITED_RESUMED))
    swap_symlink(link, second)
    shutil.rmtree(first)
    wait_for("the first swap to be reloaded", lambda: reloads(operator, "ok") == 1)

    third = copy_rules(root / "rev-3")
    (third / "stream.yaml").write_text(edited((third / "stream.yaml").read_text()))
    swap_symlink(link, third)
    shutil.rmtree(second)
    wait_for("the second swap to be reloaded", lambda: reloads(operator, "ok") == 2)

    resume(custom, kubectl, "orders")
    wait_for("orders to be Running", lambda: phase(sim, "orders") == "Running")
    assert (
        condition_message(get_stream(custom, "orders")) == "The stream runs under edited rules. (rule: start-streaming)"
    )
    assert reloads(operator, "error") == 0


def test_rules_that_do_not_compile_at_start_up_exit_2(sim: KubeSim, operators: StartOperator, tmp_path: Path) -> None:
    """An operator started on rules that do not compile exits 2 before touching the cluster, logging every problem with its file and line."""
    rules = copy_rules(tmp_path / "rules")
    broken = with_replaced((rules / "stream.yaml").read_text(), RESUME_RULE, BROKEN_RESUME_RULE)
    line = broken.splitlines().index('          when: "object.spec.(("') + 1
    (rules / "stream.yaml").write_text(broken)
    before = len(sim.requests)
    operator = operators(sim, rules=rules)
    assert operator.wait(30) == 2
    (logged,) = [r for r in operator.records() if r["level"] == "error"]
    assert logged["msg"].startswith(f"rules rejected: {rules / 'stream.yaml'}:{line}:")
    assert (logged["file"], logged["line"]) == (str(rules / "stream.yaml"), line)
    assert len(sim.requests) == before
