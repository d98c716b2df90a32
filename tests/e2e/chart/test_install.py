"""Every ci/ values scenario of the chart, rendered with Helm and applied to kubesim with kubectl as `helm install`
would apply it (deploy.py): the objects are accepted, `kubectl get crd | grep streaming` lists the three CRDs (the
install guide's check), and the rules ConfigMap survives the API server byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest
from chart.rendering import NAMESPACE, Scenario, render_scenario, scenarios

from e2e.harness import RULES

from .deploy import NOT_SERVED, installed, served, service_account

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("helm")]

SCENARIOS = scenarios()
CRDS = [
    "backfillrequests.streaming.sneaksanddata.com",
    "streamclasses.streaming.sneaksanddata.com",
    "streamingjobtemplates.streaming.sneaksanddata.com",
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_rendered_chart_applies(scenario: Scenario, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The scenario's CRDs and every rendered object kubesim serves are accepted by `kubectl apply` and read back whole, and its rules ConfigMap is stored byte for byte (the shipped rules/ unless the values say otherwise)."""
    rendered = render_scenario(scenario)
    assert {obj["kind"] for obj in rendered.objects} - {obj["kind"] for obj in served(rendered)} <= set(NOT_SERVED)
    with installed(scenario.name, rendered, tmp_path, source=request.node.nodeid) as release:
        user = release.user
        listed = [line for line in user("kubectl get crd").splitlines() if "streaming" in line]
        assert [line.split()[0] for line in listed] == CRDS
        shown = [
            line.split("/", 1) for line in user(f"kubectl get -f {tmp_path / f'{scenario.name}.yaml'} -o name").split()
        ]
        expected = [(obj["kind"].lower(), obj["metadata"]["name"]) for obj in served(rendered)]
        assert sorted((kind.split(".", 1)[0], name) for kind, name in shown) == sorted(expected)
        for configmap in rendered.of_kind("ConfigMap"):
            assert release.configmap(configmap["metadata"]["name"]) == configmap["data"]
        invocation = release.invocation
        if invocation.rules_files is not None and not scenario.values.get("rules"):
            stored = release.configmap(invocation.rules_configmap)
            shipped = {p.name: p.read_bytes() for p in sorted(RULES.glob("*.yaml"))}
            assert {k: v.encode("utf-8") for k, v in stored.items()} == shipped, "rules/ differ from the ConfigMap"
        user(f"kubectl get serviceaccount {service_account(rendered)} -n {NAMESPACE}")  # the pod's account exists
