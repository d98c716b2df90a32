"""The operator as the chart deploys it: rendered with Helm, applied with kubectl, started with the Deployment's
command, environment and mounted rules ConfigMap (deploy.py), then put through a stream's life (lifecycles.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from chart.rendering import render_scenario, scenarios

from e2e.conftest import OPERATORS

from .deploy import installed
from .lifecycles import run

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("helm")]


def run_here(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    run(name, tmp_path, source=request.node.nodeid, started=request.node.stash.setdefault(OPERATORS, []))


def test_default_values(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """With the default values the operator runs the shipped rules from its mounted ConfigMap and takes a stream through backfill, suspend and resume (twice: events are counted), a requested backfill, a switch to the CronJob backend and deletion."""
    run_here("default", tmp_path, request)


def test_leader_election_values(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """With leader election two replicas start, one leads through the chart's Lease, and when it stops the standby takes over and manages the stream."""
    run_here("leader-election", tmp_path, request)


def test_watch_namespaces_values(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """With watchNamespaces (and an existing ServiceAccount) a stream in a watched namespace runs and one elsewhere is never touched."""
    run_here("watch-namespaces", tmp_path, request)


def test_existing_configmap_values(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """With rules.existingConfigMap the operator runs the rules of the ConfigMap the user created as docs/install.md says."""
    run_here("existing-configmap", tmp_path, request)


def test_extra_rules_replace_a_shipped_file(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """With rules.extra.stream the team's stream.yaml replaces the shipped one and its condition text reaches the stream."""
    run_here("extra-rules", tmp_path, request)


def test_ci_extra_rules_scenario_starts(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The operator installed with ci/extra-rules-values.yaml starts and gets ready (chart-testing's `ct install` installs every ci values file)."""
    rendered = render_scenario(next(s for s in scenarios() if s.name == "extra-rules"))
    started = request.node.stash.setdefault(OPERATORS, [])
    with installed("extra-rules", rendered, tmp_path, source=request.node.nodeid, started=started) as release:
        operator = release.start()
        operator.wait_ready()
