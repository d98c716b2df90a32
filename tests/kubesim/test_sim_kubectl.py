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


def test_apply_of_a_changed_custom_resource_configures_it(
    target_kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    """Client-side apply of an edited CR sends a JSON merge patch (CRDs advertise no strategic merge)."""
    k = target_kubectl
    k.run("apply", "-f", write(tmp_path, "crd.yaml", WIDGET_CRD))
    path = write(tmp_path, "w.yaml", widget_yaml(namespace))
    assert k.run("apply", "-f", path).stdout.strip() == "widget.example.com/w1 created"
    write(tmp_path, "w.yaml", widget_yaml(namespace, "blue"))
    assert k.run("apply", "-f", path).stdout.strip() == "widget.example.com/w1 configured"
    assert k.run("get", "widget", "w1", "-n", namespace, "-o", "jsonpath={.spec.color}").stdout == "blue"
    assert k.run("apply", "-f", path).stdout.strip() == "widget.example.com/w1 unchanged"


def test_get_events_k8s_io_prints_object_and_note(target_kubectl: Kubectl, namespace: str, tmp_path: Path) -> None:
    """`kubectl get events.events.k8s.io` fills OBJECT from `regarding` and MESSAGE from `note`."""
    k = target_kubectl
    k.run("apply", "-f", write(tmp_path, "j.yaml", job_yaml(namespace)))
    deadline = time.monotonic() + 20
    rows: list[str] = []
    while time.monotonic() < deadline:
        rows = k.run("get", "events.events.k8s.io", "-n", namespace).stdout.splitlines()
        if any("SuccessfulCreate" in row for row in rows):
            break
        time.sleep(0.2)
    assert re.split(r"\s{2,}", rows[0].strip()) == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert any(re.search(r"Normal\s+SuccessfulCreate\s+job/j1\s+Created pod: j1-", row) for row in rows), rows


def test_explain_custom_resource_describes_type_meta(target_kubectl: Kubectl, tmp_path: Path) -> None:
    """`kubectl explain` of a CRD kind prints the standard apiVersion, kind and metadata descriptions."""
    k = target_kubectl
    k.run("apply", "-f", write(tmp_path, "crd.yaml", WIDGET_CRD))
    out = k.run("explain", "widget").stdout
    assert "APIVersion defines the versioned schema of this representation of an object." in out
    assert "Kind is a string value representing the REST resource this object" in out
    assert "Standard object's metadata. More info:" in out
    assert out.count("<no description>") == 2  # spec and status: the CRD describes neither


ORDERS_CRONJOB = """
apiVersion: batch/v1
kind: CronJob
metadata: {name: orders}
spec:
  schedule: "0 * * * *"
  concurrencyPolicy: Forbid
  jobTemplate:
    metadata: {labels: {app: orders}}
    spec:
      backoffLimit: 0
      ttlSecondsAfterFinished: 1
      template:
        metadata: {labels: {app: orders}}
        spec:
          securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
          containers:
          - name: stream
            image: busybox:1.36
            imagePullPolicy: IfNotPresent
            args: [run]
            securityContext:
              allowPrivilegeEscalation: false
              capabilities: {drop: [ALL]}
              readOnlyRootFilesystem: true
            env:
            - {name: A, value: "1"}
            - name: B
              valueFrom: {fieldRef: {fieldPath: "metadata.labels['job-name']"}}
            - name: C
              valueFrom: {secretKeyRef: {name: s, key: k, optional: false}}
            envFrom:
            - secretRef: {name: orders-config}
            resources: {limits: {cpu: 500m, memory: 1Gi}, requests: {cpu: 100m}}
            volumeMounts: [{name: tmp, mountPath: /tmp}, {name: cfg, mountPath: /cfg, readOnly: true}]
          volumes:
          - {name: tmp, emptyDir: {}}
          - {name: cfg, configMap: {name: cm, defaultMode: 420}}
          restartPolicy: Never
          serviceAccountName: default
          tolerations: [{key: k, operator: Exists, effect: NoSchedule}]
      podFailurePolicy:
        rules:
        - {action: Ignore, onExitCodes: {operator: In, values: [2, 3]}}
        - {action: Ignore, onPodConditions: [{type: DisruptionTarget}]}
"""


def test_create_job_from_cronjob_copies_the_template(target_kubectl: Kubectl, namespace: str, tmp_path: Path) -> None:
    """`kubectl create job --from=cronjob/` (a protobuf body on 1.32) creates the CronJob's Job template."""
    k = target_kubectl
    k.run("apply", "-n", namespace, "-f", write(tmp_path, "cj.yaml", ORDERS_CRONJOB))
    assert k.run("create", "job", "orders-now", "-n", namespace, "--from=cronjob/orders").stdout.strip() == (
        "job.batch/orders-now created"
    )
    cronjob = yaml.safe_load(k.run("get", "cronjob", "orders", "-n", namespace, "-o", "yaml").stdout)
    job = yaml.safe_load(k.run("get", "job", "orders-now", "-n", namespace, "-o", "yaml").stdout)
    expected, got = cronjob["spec"]["jobTemplate"]["spec"], job["spec"]
    got.pop("selector")
    for key in ("batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name", "controller-uid", "job-name"):
        got["template"]["metadata"]["labels"].pop(key)
    assert got == expected
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert job["metadata"]["ownerReferences"][0]["name"] == "orders"


def test_create_typed_objects_and_auth_can_i_list(target_kubectl: Kubectl, namespace: str) -> None:
    """The typed `kubectl create` commands and `auth can-i --list` (protobuf bodies on 1.32) succeed."""
    k = target_kubectl
    n = ("-n", namespace)
    out = k.run("create", "job", "j2", *n, "--image=busybox:1.36", "--", "echo", "hi").stdout
    assert out.strip() == "job.batch/j2 created"
    container = yaml.safe_load(k.run("get", "job", "j2", *n, "-o", "yaml").stdout)["spec"]["template"]["spec"]
    assert container["containers"][0]["command"] == ["echo", "hi"]
    out = k.run("create", "cronjob", "cj2", *n, "--image=busybox:1.36", "--schedule=*/5 * * * *").stdout
    assert out.strip() == "cronjob.batch/cj2 created"
    out = k.run("create", "role", "r1", *n, "--verb=get,list", "--resource=pods,jobs.batch").stdout
    assert out.strip() == "role.rbac.authorization.k8s.io/r1 created"
    role = yaml.safe_load(k.run("get", "role", "r1", *n, "-o", "yaml").stdout)
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list"]},
    ]
    out = k.run("create", "rolebinding", "rb1", *n, "--role=r1", "--serviceaccount=ns:sa1").stdout
    assert out.strip() == "rolebinding.rbac.authorization.k8s.io/rb1 created"
    binding = yaml.safe_load(k.run("get", "rolebinding", "rb1", *n, "-o", "yaml").stdout)
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "sa1", "namespace": "ns"}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r1"}
    header = k.run("auth", "can-i", "--list", *n).stdout.splitlines()[0]
    assert re.split(r"\s{2,}", header.strip()) == ["Resources", "Non-Resource URLs", "Resource Names", "Verbs"]


def test_job_template_field_kubesim_cannot_decode_is_named(kubectl: Kubectl, tmp_path: Path) -> None:
    """A protobuf Job with a field outside kubesim's tables (affinity) is a 415 naming it; the documented
    workaround (client-side dry run piped to apply, which sends JSON) creates the Job."""
    cronjob = yaml.safe_load(ORDERS_CRONJOB)
    cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "Exists"}]}]
            }
        }
    }
    kubectl.run("apply", "-f", write(tmp_path, "cj.yaml", yaml.safe_dump(cronjob)))
    result = kubectl.run("create", "job", "now", "--from=cronjob/orders", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: failed to create job: kubesim cannot decode protobuf field 18 of PodSpec in a Job; "
        "send application/json"
    )
    manifest = kubectl.run("create", "job", "now", "--from=cronjob/orders", "-o", "yaml", "--dry-run=client").stdout
    assert kubectl.run("apply", "-f", "-", stdin=manifest).stdout.strip() == "job.batch/now created"
