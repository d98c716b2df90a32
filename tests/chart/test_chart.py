"""The chart as a whole: metadata, lint, and every rendered object valid for Kubernetes."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
import yaml

from .conftest import SCENARIOS
from .rendering import (
    CHART_DIR,
    KUBE_VERSION,
    MIN_KUBE_VERSION,
    NAMESPACE,
    RELEASE,
    Rendered,
    Scenario,
    crds,
    manifest_yaml,
    package_version,
    render,
)

CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
# Kinds that kubernetes-validate has no schema for: prometheus-operator's CRD, checked field by field below.
NOT_BUILT_IN = {"ServiceMonitor"}


def chart_yaml() -> dict[str, Any]:
    meta: dict[str, Any] = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text(encoding="utf-8"))
    return meta


def test_app_version_is_the_package_version() -> None:
    """Chart.yaml's appVersion (the default image tag) is the version in pyproject.toml."""
    assert chart_yaml()["appVersion"] == package_version()


def test_chart_metadata() -> None:
    """Chart.yaml is a Helm v2-API application chart named arcane-operator that requires Kubernetes 1.31 or later."""
    meta = chart_yaml()
    assert (meta["apiVersion"], meta["name"], meta["type"]) == ("v2", "arcane-operator", "application")
    assert meta["kubeVersion"] == ">=1.31.0-0"
    assert MIN_KUBE_VERSION == "1.31.0"


@pytest.mark.usefixtures("helm")
@pytest.mark.parametrize("case", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_lint_is_clean(case: Scenario) -> None:
    """`helm lint --strict` for Kubernetes 1.32 finds no warning and no error with each ci/ scenario."""
    import helm_python

    report = helm_python.lint(CHART_DIR, dict(case.values), strict=True, kube_version=f"v{KUBE_VERSION}")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert (problems, report["errors"]) == ([], [])


def test_scenario_renders_the_expected_kinds(rendered: Rendered) -> None:
    """Every scenario renders the operator's core objects: Deployment, ServiceAccount or not, RBAC, metrics Service."""
    kinds = {obj["kind"] for obj in rendered.objects}
    assert {"Deployment", "ClusterRole", "ClusterRoleBinding", "Service"} <= kinds


def test_every_object_is_valid_for_kubernetes(rendered: Rendered) -> None:
    """Every rendered object validates strictly (no unknown field) against the Kubernetes 1.32 and 1.31 schemas."""
    for obj in rendered.objects:
        if obj["kind"] in NOT_BUILT_IN:
            continue
        for version in (KUBE_VERSION, MIN_KUBE_VERSION):
            kubernetes_validate.validate(obj, version, strict=True)


def test_crds_are_valid_for_kubernetes() -> None:
    """The chart's three CRDs validate strictly against the apiextensions.k8s.io/v1 schema of Kubernetes 1.32/1.31."""
    assert len(crds()) == 3
    for crd in crds():
        for version in (KUBE_VERSION, MIN_KUBE_VERSION):
            kubernetes_validate.validate(crd, version, strict=True)


def test_helm_lists_the_crds_directory(helm: None) -> None:
    """Helm sees the three CRD files in crds/ (what `helm install` applies, and `--skip-crds` skips)."""
    import helm_python

    with helm_python.Chart.load(CHART_DIR) as chart:
        names = sorted(yaml.safe_load(c["data"])["metadata"]["name"] for c in chart.crds)
    assert names == [
        "backfillrequests.streaming.sneaksanddata.com",
        "streamclasses.streaming.sneaksanddata.com",
        "streamingjobtemplates.streaming.sneaksanddata.com",
    ]


def test_no_crd_is_templated(rendered: Rendered) -> None:
    """CRDs come only from crds/, never from templates, so `helm uninstall` can never delete them (and the streams)."""
    assert rendered.of_kind("CustomResourceDefinition") == []


def test_objects_are_labelled_and_namespaced(rendered: Rendered) -> None:
    """Every object carries the release's standard labels; namespaced ones live in the release namespace."""
    for obj in rendered.objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/name"] == "arcane-operator"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        if obj["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in obj["metadata"]
        elif obj["kind"] != "RoleBinding":  # RoleBindings live in the watched namespaces
            assert obj["metadata"]["namespace"] == NAMESPACE


def test_object_names_are_unique(rendered: Rendered) -> None:
    """No two rendered objects share a kind, namespace and name (Helm would refuse to install them)."""
    keys = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in rendered.objects]
    assert len(keys) == len(set(keys))


def test_long_release_names_keep_names_within_limits(helm: None) -> None:
    """A 53-character release name (Helm's maximum) still gives a metrics Service name of at most 63 characters."""
    long = render(release="a" * 53)
    service = long.one("Service")
    assert len(service["metadata"]["name"]) <= 63
    assert all(len(obj["metadata"]["name"]) <= 253 for obj in long.objects)


def test_service_monitor_scrapes_the_metrics_port(by_scenario: dict[str, Rendered]) -> None:
    """With serviceMonitor.enabled, a monitoring.coreos.com/v1 ServiceMonitor scrapes port `metrics` at /metrics."""
    monitor = by_scenario["monitoring"].one("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "15s", "scrapeTimeout": "5s"}
    ]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    service = by_scenario["monitoring"].one("Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert all(r.of_kind("ServiceMonitor") == [] for name, r in by_scenario.items() if name != "monitoring")


def test_metrics_service_selects_the_operator_pods(default: Rendered) -> None:
    """The metrics Service exposes port 9090 named `metrics`, targeting the pods' metrics port."""
    service = default.one("Service")
    assert service["metadata"]["name"] == "arcane-arcane-operator-metrics"
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]
    pod_labels = default.deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_pod_disruption_budget_is_optional(by_scenario: dict[str, Rendered]) -> None:
    """A PodDisruptionBudget (maxUnavailable 1, selecting the operator pods) exists only when enabled."""
    assert by_scenario["default"].of_kind("PodDisruptionBudget") == []
    pdb = by_scenario["leader-election"].one("PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"] == by_scenario["leader-election"].deployment["spec"]["selector"]


def test_notes_say_what_to_check_next(default: Rendered) -> None:
    """NOTES.txt gives the commands to check the pods, the CRDs, the logs and the StreamClasses."""
    for command in (
        f"kubectl get pods -n {NAMESPACE} -l app.kubernetes.io/instance={RELEASE}",
        "kubectl get crd | grep streaming",
        f"kubectl logs -n {NAMESPACE} deployment/arcane-arcane-operator",
        "kubectl get streamclasses",
        "--set-file rules.extra.<name>=./<name>.yaml",
    ):
        assert command in default.notes


def test_notes_follow_the_values(by_scenario: dict[str, Rendered]) -> None:
    """NOTES.txt points at the user's ConfigMap, the watched namespaces and the stream kinds granted by values."""
    assert "kubectl edit configmap platform-arcane-rules -n arcane" in by_scenario["existing-configmap"].notes
    assert "watches only these namespaces: streams-a, streams-b" in by_scenario["watch-namespaces"].notes
    assert "microsoft-sql-server-streams, microsoft-sql-server-beta-streams" in by_scenario["watch-namespaces"].notes


def test_manifest_stream_is_ready_for_kubectl_apply(default: Rendered) -> None:
    """The multi-document stream for `kubectl apply -f -` has the CRDs first, then the ServiceAccount and RBAC, then
    the Deployment, and every object of the rendering exactly once."""
    documents = list(yaml.safe_load_all(manifest_yaml(default)))
    kinds = [d["kind"] for d in documents]
    assert kinds[:3] == ["CustomResourceDefinition"] * 3
    assert kinds.index("ServiceAccount") < kinds.index("ClusterRoleBinding") < kinds.index("Deployment")
    assert documents[3:] == default.objects
