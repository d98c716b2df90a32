"""Our three CRDs: the reference's names, columns and fields, structural schemas, and the deliberate differences."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

from .crdschema import (
    simple_json_path,
    structural_problems,
    unknown_fields,
    validation_errors,
    version_schema,
)
from .rendering import CRD_DIR, REAL_FIXTURES, Obj, crd, crds

GROUP = "streaming.sneaksanddata.com"
KINDS = ("StreamClass", "StreamingJobTemplate", "BackfillRequest")
SHARED_CRDS = REAL_FIXTURES / "arcane-crd"

needs_real_fixtures = pytest.mark.skipif(
    not SHARED_CRDS.is_dir(), reason=f"the shared real fixtures are not in this checkout ({REAL_FIXTURES})"
)


@functools.cache
def fixture_documents(path: Path) -> list[Obj]:
    """The YAML documents of a real fixture file, parsed once (with libyaml: some files are 9,000 lines)."""
    text = path.read_text(encoding="utf-8")
    return [doc for doc in yaml.load_all(text, Loader=yaml.CSafeLoader) if doc]


def shared_crd(kind: str) -> Obj:
    """The shared arcane-crd v0.0.9 CRD of `kind` (read from ../shared, never copied into the project)."""
    for path in sorted(SHARED_CRDS.glob("*.yaml")):
        [loaded] = fixture_documents(path)
        if loaded["spec"]["names"]["kind"] == kind:
            return copy.deepcopy(loaded)
    raise LookupError(kind)


def real_objects(kind: str) -> list[tuple[str, Obj]]:
    """Every object of `kind` among the real fixtures (plugin charts and user examples), with its file name."""
    found = []
    for path in sorted(REAL_FIXTURES.glob("*/*.yaml")):
        for doc in fixture_documents(path):
            if doc.get("kind") == kind and doc.get("apiVersion") == f"{GROUP}/v1":
                found.append((f"{path.parent.name}/{path.name}", copy.deepcopy(doc)))
    return found


def declared_paths(schema: dict[str, Any], prefix: str = "") -> set[str]:
    """Every field path a schema declares (`.spec.secretRefs[]`)."""
    paths = set()
    for key, sub in schema.get("properties", {}).items():
        paths.add(f"{prefix}.{key}")
        paths |= declared_paths(sub, f"{prefix}.{key}")
    if isinstance(schema.get("items"), dict):
        paths |= declared_paths(schema["items"], f"{prefix}[]")
    return paths


def schema_of(kind: str) -> dict[str, Any]:
    return version_schema(crd(kind))


def load(text: str) -> Obj:
    loaded: Obj = yaml.safe_load(text)
    return loaded


GUIDE_TEMPLATE = load(
    """
apiVersion: streaming.sneaksanddata.com/v1
kind: StreamingJobTemplate
metadata: {name: standard-job, namespace: streams}
spec:
  backoffLimit: 3
  ttlSecondsAfterFinished: 60
  template:
    metadata:
      labels: {team: data-platform}
      annotations: {cluster-autoscaler.kubernetes.io/safe-to-evict: "false"}
    spec:
      restartPolicy: Never
      containers:
        - name: stream
          image: ghcr.io/example/stream:1.0
          resources: {limits: {cpu: "1", memory: 1Gi}}
"""
)

JOB_TEMPLATE = load(
    """
apiVersion: streaming.sneaksanddata.com/v1
kind: StreamingJobTemplate
metadata: {name: plugin-job, namespace: streams}
spec:
  apiVersion: batch/v1
  kind: Job
  metadata:
    labels: {app.kubernetes.io/name: plugin}
    annotations: {example.com/owner: data-platform}
  spec:
    backoffLimit: 3
    podFailurePolicy:
      rules: [{action: Ignore, onExitCodes: {operator: In, values: [2]}}]
    template:
      metadata:
        labels: {app.kubernetes.io/name: plugin}
      spec:
        restartPolicy: Never
        serviceAccountName: plugin
        containers:
          - name: arcane-stream
            image: ghcr.io/example/plugin:2.3.0
            env: [{name: APPLICATION_VERSION, value: v2.3.0}]
"""
)


def test_names_scope_and_versions() -> None:
    """Each CRD has the reference's group, kind, plural, singular, short name and scope, and one served, stored v1
    with a status subresource."""
    expected = {
        "StreamClass": ("streamclasses", "streamclass", ["sc"], "Cluster"),
        "StreamingJobTemplate": ("streamingjobtemplates", "streamingjobtemplate", ["sjt"], "Namespaced"),
        "BackfillRequest": ("backfillrequests", "backfillrequest", ["bfr"], "Namespaced"),
    }
    assert sorted(c["spec"]["names"]["kind"] for c in crds()) == sorted(KINDS)
    for kind, (plural, singular, short, scope) in expected.items():
        spec = crd(kind)["spec"]
        assert crd(kind)["metadata"]["name"] == f"{plural}.{GROUP}"
        assert spec["group"] == GROUP
        assert spec["names"] == {
            "kind": kind,
            "listKind": f"{kind}List",
            "plural": plural,
            "singular": singular,
            "shortNames": short,
        }
        assert spec["scope"] == scope
        [version] = spec["versions"]
        assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
        assert version["subresources"] == {"status": {}}


def test_printer_columns() -> None:
    """`kubectl get` shows the reference's columns for each kind (and, for BackfillRequests, their phase and age)."""
    columns = {
        kind: [
            (c["name"], c["type"], c["jsonPath"]) for c in crd(kind)["spec"]["versions"][0]["additionalPrinterColumns"]
        ]
        for kind in KINDS
    }
    assert columns == {
        "StreamClass": [
            ("ApiGroupRef", "string", ".spec.apiGroupRef"),
            ("ApiVersion", "string", ".spec.apiVersion"),
            ("KindRef", "string", ".spec.kindRef"),
            ("PluralName", "string", ".spec.pluralName"),
            ("Phase", "string", ".status.phase"),
        ],
        "StreamingJobTemplate": [
            ("MemoryLimit", "string", ".spec.spec.template.spec.containers[0].resources.limits.memory"),
            ("CpuLimit", "string", ".spec.spec.template.spec.containers[0].resources.limits.cpu"),
            ("Image", "string", ".spec.spec.template.spec.containers[0].image"),
        ],
        "BackfillRequest": [
            ("StreamClass", "string", ".spec.streamClass"),
            ("StreamId", "string", ".spec.streamId"),
            ("Completed", "string", ".spec.completed"),
            ("Phase", "string", ".status.phase"),  # ours: what the operator made of the request
            ("Age", "date", ".metadata.creationTimestamp"),
        ],
    }


def test_selectable_fields_are_declared_scalars() -> None:
    """BackfillRequests can be selected by spec.completed and spec.streamId, declared scalar fields (an API server
    requirement); the other kinds declare none."""
    bfr = crd("BackfillRequest")["spec"]["versions"][0]
    assert bfr["selectableFields"] == [{"jsonPath": ".spec.completed"}, {"jsonPath": ".spec.streamId"}]
    for field in bfr["selectableFields"]:
        node = version_schema(crd("BackfillRequest"))
        for part in field["jsonPath"].lstrip(".").split("."):
            node = node["properties"][part]
        assert node["type"] in {"string", "boolean", "integer"}
    assert all("selectableFields" not in crd(k)["spec"]["versions"][0] for k in ("StreamClass", "StreamingJobTemplate"))


@pytest.mark.parametrize("kind", KINDS)
def test_schemas_are_structural(kind: str) -> None:
    """Each schema is structural (a type on every field, nothing structural inside oneOf, list-map keys required), as
    the API server demands."""
    assert structural_problems(schema_of(kind)) == []


@needs_real_fixtures
@pytest.mark.parametrize("kind", KINDS)
def test_same_fields_as_the_reference(kind: str) -> None:
    """StreamClass and BackfillRequest declare exactly the reference's fields; StreamingJobTemplate declares the
    Job-shape fields the operator reads, plus the JobSpec shape."""
    ours, theirs = declared_paths(schema_of(kind)), declared_paths(version_schema(shared_crd(kind)))
    if kind != "StreamingJobTemplate":
        assert ours == theirs
        return
    job_shape = {p for p in ours if not p.startswith(".spec.template")}
    assert job_shape <= theirs | {".spec.metadata.labels", ".spec.metadata.annotations"} | {
        ".spec.spec.template.metadata.labels",
        ".spec.spec.template.metadata.annotations",
    }
    assert {p.replace(".spec.template", ".spec.spec.template", 1) for p in ours - job_shape} <= job_shape


@needs_real_fixtures
@pytest.mark.parametrize("kind", KINDS)
def test_real_objects_are_accepted_and_kept_whole(kind: str) -> None:
    """Every real plugin object and user example of the kind is valid under our CRD and loses no field to pruning,
    so our CRDs can replace the shared ones in a running cluster."""
    objects = real_objects(kind)
    assert objects, f"no real {kind} found"
    for name, obj in objects:
        assert (name, validation_errors(obj, schema_of(kind)), unknown_fields(obj, schema_of(kind))) == (name, [], [])


@needs_real_fixtures
def test_shared_crd_prunes_template_labels_ours_keeps_them() -> None:
    """The shared CRD prunes the labels of a plugin's template (bare `metadata: {type: object}`), so they never reach
    the Job, and `kubectl apply` / Helm 4 (strict field validation) reject them; ours keeps them."""
    template = dict(real_objects("StreamingJobTemplate"))["mssql/streamingjobtemplate.yaml"]
    shared = version_schema(shared_crd("StreamingJobTemplate"))
    assert unknown_fields(template, shared) == [".spec.metadata.labels", ".spec.spec.template.metadata.labels"]
    assert unknown_fields(template, schema_of("StreamingJobTemplate")) == []


@needs_real_fixtures
def test_shared_crd_drops_a_guide_shaped_template() -> None:
    """The shared CRD has no `spec.template`: a template written as the guide shows (a JobSpec) loses its pod."""
    assert ".spec.template" in unknown_fields(GUIDE_TEMPLATE, version_schema(shared_crd("StreamingJobTemplate")))


@pytest.mark.parametrize("template", [GUIDE_TEMPLATE, JOB_TEMPLATE], ids=["jobspec-shape", "job-shape"])
def test_both_template_shapes_are_accepted_whole(template: Obj) -> None:
    """A template holding a JobSpec (the guide) or a whole Job (plugin charts) is valid and keeps every field,
    labels and annotations included."""
    schema = schema_of("StreamingJobTemplate")
    assert validation_errors(template, schema) == []
    assert unknown_fields(template, schema) == []


def test_template_must_hold_exactly_one_shape() -> None:
    """A template with neither spec.spec nor spec.template, or with both, is refused, with a message naming both."""
    schema = schema_of("StreamingJobTemplate")
    neither = copy.deepcopy(GUIDE_TEMPLATE)
    del neither["spec"]["template"]
    both = copy.deepcopy(JOB_TEMPLATE)
    both["spec"]["template"] = GUIDE_TEMPLATE["spec"]["template"]
    assert validation_errors(neither, schema) == [
        ".spec: {'backoffLimit': 3, 'ttlSecondsAfterFinished': 60} is not valid under any of the given schemas"
    ]
    [error] = validation_errors(both, schema)
    assert error.startswith(".spec: ")
    assert error.endswith("is valid under each of {'required': ['template']}, {'required': ['spec']}")
    [rule] = schema["properties"]["spec"]["x-kubernetes-validations"]
    assert rule == {
        "rule": "has(self.spec) != has(self.template)",
        "message": "set exactly one of spec.spec (a whole Job: apiVersion, kind, metadata, spec) and spec.template "
        "(a JobSpec)",
    }


def test_template_pod_needs_named_containers() -> None:
    """As in a Job, the pod spec of a template needs containers, each with a name."""
    schema = schema_of("StreamingJobTemplate")
    nameless = copy.deepcopy(GUIDE_TEMPLATE)
    del nameless["spec"]["template"]["spec"]["containers"][0]["name"]
    assert validation_errors(nameless, schema) == [".spec.template.spec.containers.0: 'name' is a required property"]
    empty = copy.deepcopy(JOB_TEMPLATE)
    del empty["spec"]["spec"]["template"]["spec"]["containers"]
    assert validation_errors(empty, schema) == [".spec.spec.template.spec: 'containers' is a required property"]


def test_template_columns_show_the_job_shape() -> None:
    """For a Job-shaped template, `kubectl get sjt` shows the image and limits of the first container."""
    columns = crd("StreamingJobTemplate")["spec"]["versions"][0]["additionalPrinterColumns"]
    shown = {c["name"]: simple_json_path(JOB_TEMPLATE, c["jsonPath"]) for c in columns}
    assert shown == {"MemoryLimit": None, "CpuLimit": None, "Image": "ghcr.io/example/plugin:2.3.0"}


def test_backfill_payload_is_kept_whole() -> None:
    """A BackfillRequest's payload keeps any nesting (it becomes STREAMCONTEXT__OVERRIDE), and may be null."""
    request = load(
        """
apiVersion: streaming.sneaksanddata.com/v1
kind: BackfillRequest
metadata: {name: orders-from-june, namespace: streams}
spec:
  streamClass: sql-server
  streamId: orders
  payload: {streamMode: {backfill: {behavior: Merge, since: "2026-06-01", tables: [a, {b: [1, 2]}]}}}
"""
    )
    schema = schema_of("BackfillRequest")
    assert (validation_errors(request, schema), unknown_fields(request, schema)) == ([], [])
    request["spec"]["payload"] = None
    assert validation_errors(request, schema) == []
    assert schema["properties"]["spec"]["properties"]["completed"]["default"] is False
    del request["spec"]["streamId"]
    assert validation_errors(request, schema) == [".spec: 'streamId' is a required property"]


def test_stream_class_status_holds_phase_and_conditions() -> None:
    """A StreamClass status with a phase and a standard condition is valid; a condition without reason is refused
    (the rules must write all five condition fields)."""
    condition = {
        "type": "Ready",
        "status": "False",
        "reason": "CrdNotFound",
        "message": "rule streamclass/crd-missing: CRD widgets.example.com does not exist",
        "lastTransitionTime": "2026-11-27T10:00:00Z",
    }
    status: dict[str, Any] = {"phase": "Failed", "conditions": [condition]}
    klass = load(
        """
apiVersion: streaming.sneaksanddata.com/v1
kind: StreamClass
metadata: {name: widgets}
spec: {apiGroupRef: example.com, apiVersion: v1, kindRef: Widget, pluralName: widgets, secretRefs: [secretRef]}
"""
    )
    klass["status"] = status
    schema = schema_of("StreamClass")
    assert (validation_errors(klass, schema), unknown_fields(klass, schema)) == ([], [])
    del condition["reason"]
    assert validation_errors(klass, schema) == [".status.conditions.0: 'reason' is a required property"]
    status["phase"] = "Running"
    assert ".status.phase: 'Running' is not one of ['Pending', 'Ready', 'Failed', 'Stopped']" in validation_errors(
        klass, schema
    )


def test_crd_files_are_ours() -> None:
    """Each CRD file is named after its CRD and carries our header comment, never the shared chart's generator
    annotation (the shared files are references, not sources)."""
    for path in sorted(CRD_DIR.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# "), path.name
        assert "controller-gen" not in text, path.name
        assert path.name == f"{yaml.safe_load(text)['metadata']['name']}.yaml"
