"""kubectl against kubesim (and a real cluster when ARCANE_TEST_KUBECONFIG is set): output as a server gives it."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from simhelpers import WIDGET_CRD

from kubesim.testing import Kubectl

pytestmark = pytest.mark.kubectl
FIXTURES = Path(
    os.environ.get("ARCANE_REAL_FIXTURES", Path(__file__).resolve().parents[3] / "shared" / "real-fixtures")
)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def widget_yaml(namespace: str, color: str = "red") -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w1", "namespace": namespace},
            "spec": {"color": color},
        }
    )


def job_yaml(namespace: str, image: str = "busybox:1.36") -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "j1", "namespace": namespace},
            "spec": {
                "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": image}]}}
            },
        }
    )


@pytest.fixture
def namespace(target_kubectl: Kubectl) -> Any:
    """A fresh namespace on the target, deleted afterwards."""
    name = f"kubesim-test-{os.getpid()}-{int(time.time() * 1000) % 100000}"
    target_kubectl.run("create", "namespace", name)
    yield name
    target_kubectl.run("delete", "namespace", name, "--wait=false", check=False)


def test_apply_crd_then_cr_and_job(target_kubectl: Kubectl, namespace: str, tmp_path: Path) -> None:
    """Client-side apply creates, reports unchanged, then server-side apply works on the same objects."""
    k = target_kubectl
    assert (
        k.run("apply", "-f", write(tmp_path, "crd.yaml", WIDGET_CRD))
        .stdout.strip()
        .endswith(("created", "unchanged", "configured"))
    )
    widget = write(tmp_path, "w.yaml", widget_yaml(namespace))
    job = write(tmp_path, "j.yaml", job_yaml(namespace))
    assert k.run("apply", "-f", widget).stdout.strip() == "widget.example.com/w1 created"
    assert k.run("apply", "-f", widget).stdout.strip() == "widget.example.com/w1 unchanged"
    assert k.run("apply", "-f", job).stdout.strip() == "job.batch/j1 created"
    assert k.run("apply", "--server-side", "-f", widget).stdout.strip() == "widget.example.com/w1 serverside-applied"
    assert k.run("apply", "--server-side", "-f", job).stdout.strip() == "job.batch/j1 serverside-applied"
    write(tmp_path, "w2.yaml", widget_yaml(namespace, "blue"))
    assert (
        k.run("apply", "-f", str(tmp_path / "w2.yaml"), "--server-side").stdout.strip().endswith("serverside-applied")
    )


def test_get_prints_printer_columns(target_kubectl: Kubectl, namespace: str, tmp_path: Path) -> None:
    """`kubectl get <plural>` prints the CRD's printer columns; -o wide adds priority-1 columns."""
    k = target_kubectl
    k.run("apply", "-f", write(tmp_path, "crd.yaml", WIDGET_CRD))
    k.run("apply", "-f", write(tmp_path, "w.yaml", widget_yaml(namespace)))
    lines = k.run("get", "widgets", "-n", namespace).stdout.splitlines()
    assert re.split(r"\s+", lines[0].strip()) == ["NAME", "COLOR", "SIZE", "AGE"]
    assert re.split(r"\s+", lines[1].strip())[:3] == ["w1", "red", "3"]
    wide = k.run("get", "wd", "-n", namespace, "-o", "wide").stdout.splitlines()[0]
    assert re.split(r"\s+", wide.strip()) == ["NAME", "COLOR", "SIZE", "PHASE", "AGE"]


def test_get_jobs_and_crds_columns(target_kubectl: Kubectl, namespace: str, tmp_path: Path) -> None:
    """Jobs print STATUS/COMPLETIONS/DURATION/AGE; CRDs print NAME/CREATED AT."""
    k = target_kubectl
    k.run("apply", "-f", write(tmp_path, "crd.yaml", WIDGET_CRD))
    k.run("apply", "-f", write(tmp_path, "j.yaml", job_yaml(namespace)))
    header = k.run("get", "jobs", "-n", namespace).stdout.splitlines()[0]
    assert re.split(r"\s+", header.strip()) == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    crds = k.run("get", "crd", "widgets.example.com").stdout.splitlines()
    assert re.split(r"\s{2,}", crds[0].strip()) == ["NAME", "CREATED AT"]
    assert re.match(r"widgets\.example\.com\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", crds[1])


def test_patch_describe_secret_delete(target_kubectl: Kubectl, namespace: str, tmp_path: Path) -> None:
    """patch --type merge, describe with events, create secret (protobuf on 1.32), delete."""
    k = target_kubectl
    k.run("apply", "-f", write(tmp_path, "crd.yaml", WIDGET_CRD))
    k.run("apply", "-f", write(tmp_path, "w.yaml", widget_yaml(namespace)))
    out = k.run("patch", "widget", "w1", "-n", namespace, "--type", "merge", "-p", '{"spec":{"color":"blue"}}').stdout
    assert out.strip() == "widget.example.com/w1 patched"
    k.run("apply", "-f", write(tmp_path, "j.yaml", job_yaml(namespace)))
    deadline = time.monotonic() + 20
    described = ""
    while time.monotonic() < deadline:
        described = k.run("describe", "job", "j1", "-n", namespace).stdout
        if "SuccessfulCreate" in described:
            break
        time.sleep(0.2)
    assert re.search(r"Normal\s+SuccessfulCreate\s+\S+\s+job-controller\s+Created pod: j1-", described)
    out = k.run("create", "secret", "generic", "s1", "-n", namespace, "--from-literal=user=admin").stdout
    assert out.strip() == "secret/s1 created"
    data = yaml.safe_load(k.run("get", "secret", "s1", "-n", namespace, "-o", "yaml").stdout)
    assert data["data"] == {"user": "YWRtaW4="}
    assert data["type"] == "Opaque"
    assert k.run("delete", "widget", "w1", "-n", namespace).stdout.strip() == 'widget.example.com "w1" deleted'


def test_get_watch_streams_a_change(target_kubectl: Kubectl, namespace: str, tmp_path: Path) -> None:
    """`kubectl get -w` prints the table, then a row per change."""
    k = target_kubectl
    k.run("create", "configmap", "cm1", "-n", namespace, "--from-literal=a=1")
    process = k.popen("get", "configmaps", "cm1", "-n", namespace, "-w", "--request-timeout=15s")
    try:
        time.sleep(1.5)
        k.run("patch", "configmap", "cm1", "-n", namespace, "--type", "merge", "-p", '{"data":{"b":"2"}}')
        time.sleep(1.0)
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=10)
    rows = [line for line in out.splitlines() if line.strip()]
    assert re.split(r"\s+", rows[0].strip()) == ["NAME", "DATA", "AGE"]
    assert [re.split(r"\s+", r.strip())[:2] for r in rows[1:]] == [["cm1", "1"], ["cm1", "2"]]


def test_unknown_field_is_rejected_with_kubectl_wording(kubectl: Kubectl, tmp_path: Path) -> None:
    """kubectl apply of an unknown field fails with the server's strict decoding error."""
    bad = job_yaml("default").replace("restartPolicy", "restartPolicyy")
    result = kubectl.run("apply", "-f", write(tmp_path, "bad.yaml", bad), check=False)
    assert result.returncode == 1
    assert 'strict decoding error: unknown field "spec.template.spec.restartPolicyy"' in result.stderr


def test_big_crd_is_too_long_for_client_side_apply(kubectl: Kubectl) -> None:
    """Client-side apply of a CRD over 256 KiB fails on the last-applied annotation, as on a real server."""
    path = FIXTURES / "arcane-crd" / "crd-streamingjobtemplates.yaml"
    if not path.exists():
        pytest.skip(f"real fixtures not found at {FIXTURES}")
    result = kubectl.run("apply", "-f", str(path), check=False)
    assert result.returncode == 1
    assert "metadata.annotations: Too long: must have at most 262144 bytes" in result.stderr


@pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"real fixtures not found at {FIXTURES}")
@pytest.mark.parametrize("folder", ["arcane-crd", "mssql"])
def test_real_fixtures_apply_cleanly(kubectl: Kubectl, folder: str) -> None:
    """The real CRDs (server-side: one is too big for client-side apply's annotation, as on a real server), then
    the real plugin manifests, apply cleanly with kubectl."""
    files = sorted((FIXTURES / folder).glob("*.yaml"))
    crds = [f for f in files if f.name.startswith("crd-")]
    if folder == "mssql":
        crds = sorted((FIXTURES / "arcane-crd").glob("crd-*.yaml")) + crds
    kubectl.run("create", "namespace", "arcane", check=False)
    for path in crds:
        kubectl.run("apply", "--server-side", "-f", str(path))
    for path in files:
        if path not in crds:
            # --validate=warn: the StreamingJobTemplate carries fields its CRD prunes (see the next test).
            result = kubectl.run("apply", "--validate=warn", "-f", str(path), check=False)
            assert result.returncode == 0, f"{path.name}: {result.stderr}"
            for line in result.stderr.splitlines():
                assert line.startswith("Warning: unknown field"), f"{path.name}: {line}"


@pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"real fixtures not found at {FIXTURES}")
def test_strict_validation_reports_fields_the_crd_prunes(kubectl: Kubectl) -> None:
    """Strict apply of the mssql StreamingJobTemplate names the two fields its CRD schema would prune."""
    kubectl.run("create", "namespace", "arcane")
    kubectl.run("apply", "--server-side", "-f", str(FIXTURES / "arcane-crd" / "crd-streamingjobtemplates.yaml"))
    result = kubectl.run("apply", "-f", str(FIXTURES / "mssql" / "streamingjobtemplate.yaml"), check=False)
    assert result.returncode == 1
    assert (
        'strict decoding error: unknown field "spec.metadata.labels", unknown field "spec.spec.template.metadata.labels"'
        in result.stderr
    )
