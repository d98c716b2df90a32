"""The operator's Deployment: how it runs `arcane run`, its probes, its rules mount, its pod security, its placement."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .podsecurity import restricted_violations
from .rendering import REPO_ROOT, Rendered, iter_pod_specs, operator_invocation, package_version


def flag_names(args: list[str]) -> list[str]:
    return [arg.split("=", 1)[0] for arg in args if arg.startswith("--")]


def flag_value(args: list[str], flag: str) -> str:
    values = [arg.split("=", 1)[1] for arg in args if arg.startswith(f"{flag}=")]
    assert len(values) == 1, f"{flag} appears {len(values)} times in {args}"
    return values[0]


def documented_flags() -> set[str]:
    """The flags of `arcane run`, from the command-line section of docs/architecture.md."""
    text = (REPO_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## The operator's command line", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`(--[a-z][a-z-]*)", section))


def cli_flags() -> tuple[set[str], set[str]]:
    """(flags taking a value, switches) of `arcane run`, read from its --help; skips when `arcane` is not installed."""
    arcane = Path(sys.executable).with_name("arcane")
    if not arcane.exists():
        pytest.skip(f"the arcane command is not installed next to {sys.executable}")
    usage = subprocess.run(
        [arcane, "run", "--help"], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split("options:", 1)[0]
    with_value = set(re.findall(r"(--[a-z][a-z-]*) [A-Z_{]", usage))
    switches = set(re.findall(r"\[(--[a-z][a-z-]*)\]", usage))
    return with_value, switches


def test_one_replica_recreated_by_default(default: Rendered) -> None:
    """By default one operator pod runs, replaced with `Recreate` so that two operators never run at once."""
    spec = default.deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    assert "--leader-elect" not in default.container["args"]


def test_leader_election_runs_standbys(by_scenario: dict[str, Rendered]) -> None:
    """With leaderElection.enabled, 2 replicas roll (a standby starts first) and elect a leader on a named Lease in
    the release namespace."""
    rendered = by_scenario["leader-election"]
    spec = rendered.deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    args = rendered.container["args"]
    assert "--leader-elect" in args
    assert flag_value(args, "--leader-election-namespace") == "arcane"
    assert flag_value(args, "--leader-election-id") == "arcane-operator-leader"


def test_args_are_the_documented_flags(rendered: Rendered) -> None:
    """Every flag the Deployment passes is one of `arcane run`'s flags in docs/architecture.md, and none repeats
    (except --namespace)."""
    names = flag_names(rendered.container["args"])
    assert set(names) <= documented_flags()
    repeated = {n for n in names if names.count(n) > 1}
    assert repeated <= {"--namespace"}


def test_args_parse_as_arcane_run_flags(by_scenario: dict[str, Rendered]) -> None:
    """Every flag of every scenario is one `arcane run --help` lists: `--flag=value` for flags taking a value, a bare
    `--flag` for switches."""
    with_value, switches = cli_flags()
    assert "--rules" in with_value
    assert "--leader-elect" in switches
    for name, rendered in by_scenario.items():
        for arg in rendered.container["args"]:
            flag, has_value, _ = arg.partition("=")
            assert flag in (with_value if has_value else switches), (name, arg)


def test_hot_reload_stays_on(rendered: Rendered) -> None:
    """No scenario passes `--no-reload`: rules edits reach the running operator."""
    assert "--no-reload" not in rendered.container["args"]


def test_operator_runs_with_the_chart_settings(default: Rendered) -> None:
    """The default args set the rules directory, the ports, JSON logs at info and the engine's default tuning."""
    args = default.container["args"]
    assert args == [
        "--rules=/etc/arcane/rules",
        "--health-port=8888",
        "--metrics-port=9090",
        "--log-level=info",
        "--log-format=json",
        "--workers=16",
        "--write-qps=50",
        "--write-burst=100",
    ]
    assert "command" not in default.container, "the image's ENTRYPOINT (arcane run) must stay"


def test_values_reach_the_command_line(by_scenario: dict[str, Rendered]) -> None:
    """Log settings, tuning, watched namespaces and extra flags from values appear as flags."""
    args = by_scenario["scheduling"].container["args"]
    assert flag_value(args, "--log-level") == "debug"
    assert flag_value(args, "--log-format") == "text"
    assert flag_value(args, "--workers") == "32"
    assert args[-1] == "--dry-run"
    namespaces = [a for a in by_scenario["watch-namespaces"].container["args"] if a.startswith("--namespace=")]
    assert namespaces == ["--namespace=streams-a", "--namespace=streams-b"]


def test_rules_configmap_is_mounted_as_a_directory(rendered: Rendered) -> None:
    """The rules ConfigMap is mounted read-only as a whole directory (no subPath anywhere, which never updates) at the
    path passed as --rules."""
    container = rendered.container
    assert all("subPath" not in m and "subPathExpr" not in m for m in container["volumeMounts"])
    invocation = operator_invocation(rendered)
    assert flag_value(container["args"], "--rules") == invocation.rules_mount_path == "/etc/arcane/rules"
    mount = next(m for m in container["volumeMounts"] if m["name"] == "rules")
    assert mount["readOnly"] is True
    volume = next(v for v in rendered.deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "rules")
    assert set(volume["configMap"]) == {"name"}, "no items: every key of the ConfigMap is a rule file"


def test_rules_changes_do_not_restart_the_pod(rendered: Rendered) -> None:
    """The pod template carries no checksum of the rules: the operator reloads them live instead of restarting."""
    annotations = rendered.deployment["spec"]["template"]["metadata"].get("annotations", {})
    assert not [key for key in annotations if "checksum" in key]


def test_probes_hit_the_health_port(default: Rendered) -> None:
    """Startup, liveness and readiness probes GET /startup, /healthz and /readyz on port 8888 (named `health`)."""
    container = default.container
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"health": 8888, "metrics": 9090}
    probes = {
        kind: (container[kind]["httpGet"]["path"], container[kind]["httpGet"]["port"])
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes == {
        "startupProbe": ("/startup", "health"),
        "livenessProbe": ("/healthz", "health"),
        "readinessProbe": ("/readyz", "health"),
    }
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] == 120


def test_pod_identity_comes_from_the_downward_api(rendered: Rendered) -> None:
    """POD_NAME and POD_NAMESPACE come from the downward API (leader identity, events, the default Lease namespace)."""
    invocation = operator_invocation(rendered, pod_name="arcane-operator-abc12")
    assert invocation.env["POD_NAME"] == "arcane-operator-abc12"
    assert invocation.env["POD_NAMESPACE"] == "arcane"


def test_extra_env_follows_the_pod_identity(by_scenario: dict[str, Rendered]) -> None:
    """extraEnv entries are appended after POD_NAME and POD_NAMESPACE."""
    env = by_scenario["scheduling"].container["env"]
    assert [e["name"] for e in env] == ["POD_NAME", "POD_NAMESPACE", "TZ"]


def test_every_pod_meets_the_restricted_profile(rendered: Rendered) -> None:
    """Every pod the chart creates is admitted by the restricted Pod Security profile, in every scenario."""
    for name, pod in iter_pod_specs(rendered):
        assert (name, restricted_violations(pod)) == (name, [])


def test_root_filesystem_is_read_only_with_a_writable_tmp(rendered: Rendered) -> None:
    """The container's root filesystem is read-only; /tmp is a size-limited emptyDir."""
    container = rendered.container
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    volume = next(v for v in rendered.deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == tmp["name"])
    assert volume["emptyDir"] == {"sizeLimit": "64Mi"}


def test_default_pod_runs_as_a_numeric_non_root_user(default: Rendered) -> None:
    """By default the pod runs as uid/gid 10001 (the image's USER), non-root, seccomp RuntimeDefault, no capability."""
    pod = default.deployment["spec"]["template"]["spec"]
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = default.container["securityContext"]
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert container["allowPrivilegeEscalation"] is False


def test_platform_assigned_uid_keeps_the_profile(by_scenario: dict[str, Rendered]) -> None:
    """Removing the fixed uid (OpenShift) keeps runAsNonRoot, so the image's numeric USER decides."""
    rendered = by_scenario["platform-uid"]
    pod = rendered.deployment["spec"]["template"]["spec"]
    assert "runAsUser" not in pod["securityContext"]
    assert "runAsUser" not in rendered.container["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_service_account_token_is_mounted(rendered: Rendered) -> None:
    """The operator pod runs as the chart's ServiceAccount (or the named one) with its API token mounted."""
    pod = rendered.deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is True
    accounts = rendered.of_kind("ServiceAccount")
    expected = accounts[0]["metadata"]["name"] if accounts else "arcane-operator-sa"
    assert pod["serviceAccountName"] == expected


def test_image_defaults_to_the_app_version(by_scenario: dict[str, Rendered]) -> None:
    """The image tag defaults to the package version; a digest, when given, pins the image instead."""
    assert by_scenario["default"].container["image"] == f"arcane-operator:{package_version()}"
    assert by_scenario["scheduling"].container["image"] == (
        "registry.example.com/platform/arcane-operator@sha256:"
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    )
    pod = by_scenario["scheduling"].deployment["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}]


def test_resources_have_requests_and_a_memory_limit(default: Rendered) -> None:
    """By default the container requests CPU and memory and is limited in memory only (no CPU throttling)."""
    assert default.container["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"memory": "512Mi"},
    }


def test_placement_values_reach_the_pod(by_scenario: dict[str, Rendered]) -> None:
    """Resources, nodeSelector, tolerations, affinity, priorityClassName, pod labels and annotations come from values."""
    rendered = by_scenario["scheduling"]
    template = rendered.deployment["spec"]["template"]
    pod = template["spec"]
    assert rendered.container["resources"]["limits"] == {"memory": "1Gi"}
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux", "node-role.example.com/platform": "true"}
    assert pod["tolerations"][0]["key"] == "dedicated"
    assert pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["terminationGracePeriodSeconds"] == 60
    assert template["metadata"]["labels"]["example.com/cost-center"] == "data"
    assert template["metadata"]["annotations"]["example.com/team"] == "data-platform"
    default_pod = by_scenario["default"].deployment["spec"]["template"]["spec"]
    assert not {"nodeSelector", "tolerations", "affinity", "priorityClassName"} & set(default_pod)


def test_selector_labels_are_stable(rendered: Rendered) -> None:
    """The Deployment selects its pods by name, instance and component only (labels that never change on upgrade)."""
    assert rendered.deployment["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "arcane-operator",
        "app.kubernetes.io/instance": "arcane",
        "app.kubernetes.io/component": "operator",
    }
