"""CRDs at run time: serving, discovery, pruning, defaulting, 422 messages, Tables, deletion."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import kubernetes
import pytest
from kubernetes.client import ApiException
from simhelpers import widget

from kubesim.tlsdata import client_context


def custom(client: Any) -> Any:
    return kubernetes.client.CustomObjectsApi(client)


def get(sim: Any, path: str, accept: str = "application/json") -> tuple[int, dict[str, Any], str]:
    req = urllib.request.Request(f"{sim.url}{path}", headers={"Accept": accept, "Authorization": f"Bearer {sim.token}"})
    try:
        with urllib.request.urlopen(req, context=client_context()) as response:
            return response.status, json.loads(response.read()), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), ""


def test_crd_is_established_and_discovered(widgets: Any) -> None:
    """A created CRD is Established at once and appears in legacy and aggregated discovery."""
    crd = widgets.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, "widgets.example.com")
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert crd["status"]["storedVersions"] == ["v1"]
    _, resources, _ = get(widgets, "/apis/example.com/v1")
    names = {r["name"]: r for r in resources["resources"]}
    assert names["widgets"]["shortNames"] == ["wd"]
    assert names["widgets"]["namespaced"] is True
    assert "widgets/status" in names
    assert "widgets/scale" in names
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    _, aggregated, content_type = get(widgets, "/apis", accept)
    assert content_type == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    groups = {g["metadata"]["name"] for g in aggregated["items"]}
    assert {"example.com", "batch", "apiextensions.k8s.io"} <= groups


def test_pruning_and_defaulting(widgets: Any, api_client: Any) -> None:
    """Unknown fields are pruned (except under preserve-unknown-fields) and defaults applied, nested too."""
    body = widget(unknown=1, free={"anything": {"goes": True}}, items=[{"name": "a"}])
    created = custom(api_client).create_namespaced_custom_object("example.com", "v1", "default", "widgets", body)
    spec = created["spec"]
    assert "unknown" not in spec
    assert spec["free"] == {"anything": {"goes": True}}
    assert spec["size"] == 3
    assert spec["replicas"] == 1
    assert spec["items"] == [{"name": "a", "value": 0}]


def test_schema_violations_are_422(widgets: Any, api_client: Any) -> None:
    """Schema violations are 422 Invalid with every field path and the API server's wording."""
    body = widget("w1", "pink", size="big", name="ABCDEFGHIJ")
    with pytest.raises(ApiException) as exc:
        custom(api_client).create_namespaced_custom_object("example.com", "v1", "default", "widgets", body)
    status = json.loads(exc.value.body)
    assert exc.value.status == 422
    assert status["reason"] == "Invalid"
    assert status["message"] == (
        'Widget.example.com "w1" is invalid: ['
        'spec.color: Unsupported value: "pink": supported values: "red", "blue", "green", '
        "spec.name: Too long: may not be longer than 8, "
        "spec.name: Invalid value: \"ABCDEFGHIJ\": spec.name in body should match '^[a-z]+$', "
        'spec.size: Invalid value: "string": spec.size in body must be of type integer: "string"]'
    )
    fields = [c["field"] for c in status["details"]["causes"]]
    assert fields == ["spec.color", "spec.name", "spec.name", "spec.size"]


def test_required_and_minimum(widgets: Any, api_client: Any) -> None:
    """A missing required field and a value below minimum are reported."""
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w2"}, "spec": {"size": 0}}
    with pytest.raises(ApiException) as exc:
        custom(api_client).create_namespaced_custom_object("example.com", "v1", "default", "widgets", body)
    assert json.loads(exc.value.body)["message"] == (
        'Widget.example.com "w2" is invalid: [spec.color: Required value, '
        "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1]"
    )


def test_nullable(widgets: Any, api_client: Any) -> None:
    """A nullable field keeps null; a non-nullable null is dropped, then defaulted."""
    created = custom(api_client).create_namespaced_custom_object(
        "example.com", "v1", "default", "widgets", widget(note=None, size=None)
    )
    assert created["spec"]["note"] is None
    assert created["spec"]["size"] == 3


def test_printer_columns_as_table(widgets: Any) -> None:
    """Tables carry the CRD's printer columns with server-rendered ages and priorities."""
    widgets.apply(widget())
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    status, table, content_type = get(widgets, "/apis/example.com/v1/namespaces/default/widgets", accept)
    assert status == 200
    assert content_type == "application/json;as=Table;v=v1;g=meta.k8s.io"
    columns = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert columns == [("Name", 0), ("Color", 0), ("Size", 0), ("Phase", 1), ("Age", 0)]
    cells = table["rows"][0]["cells"]
    assert cells[:4] == ["w1", "red", 3, None]
    assert cells[4].endswith("s")
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


def test_selectable_fields(widgets: Any, api_client: Any) -> None:
    """CRD selectableFields work as field selectors."""
    widgets.apply_many([widget("a", "red"), widget("b", "blue")])
    found = custom(api_client).list_namespaced_custom_object(
        "example.com", "v1", "default", "widgets", field_selector="spec.color=blue"
    )
    assert [i["metadata"]["name"] for i in found["items"]] == ["b"]


def test_deleting_a_crd_deletes_its_resources_and_discovery(widgets: Any, api_client: Any) -> None:
    """Deleting a CRD removes its custom resources and its discovery entries."""
    widgets.apply(widget())
    kubernetes.client.ApiextensionsV1Api(api_client).delete_custom_resource_definition("widgets.example.com")
    widgets.settle()
    assert widgets.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, "widgets.example.com") is None
    status, _, _ = get(widgets, "/apis/example.com/v1")
    assert status == 404
    status, _, _ = get(widgets, "/apis/example.com/v1/namespaces/default/widgets")
    assert status == 404


def test_openapi_v3_has_patch_ops_for_kubectl(widgets: Any) -> None:
    """Per-GV OpenAPI v3 documents carry the GVK and fieldValidation on PATCH, and the CR schema."""
    _, root, _ = get(widgets, "/openapi/v3")
    url = root["paths"]["apis/example.com/v1"]["serverRelativeURL"]
    _, doc, _ = get(widgets, url)
    patch = doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "example.com", "version": "v1", "kind": "Widget"}
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    schema = doc["components"]["schemas"]["com.example.v1.Widget"]
    assert schema["properties"]["spec"]["properties"]["color"]["enum"] == ["red", "blue", "green"]


def test_openapi_v3_patch_types_and_type_meta_docs(widgets: Any) -> None:
    """A CR's PATCH lists no strategic merge (so kubectl's client-side apply sends a merge patch), a built-in's
    does; the CR schema describes apiVersion, kind and metadata as kube-apiserver does."""
    _, root, _ = get(widgets, "/openapi/v3")
    _, doc, _ = get(widgets, root["paths"]["apis/example.com/v1"]["serverRelativeURL"])
    item = "/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"
    custom_types = ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"]
    for path in (item, item + "/status", item + "/scale"):
        assert list(doc["paths"][path]["patch"]["requestBody"]["content"]) == custom_types
    _, batch, _ = get(widgets, root["paths"]["apis/batch/v1"]["serverRelativeURL"])
    job_patch = batch["paths"]["/apis/batch/v1/namespaces/{namespace}/jobs/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" in job_patch["requestBody"]["content"]
    props = doc["components"]["schemas"]["com.example.v1.Widget"]["properties"]
    conventions = "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
    assert props["apiVersion"]["description"].startswith("APIVersion defines the versioned schema of this ")
    assert props["apiVersion"]["description"].endswith(f"More info: {conventions}#resources")
    assert props["kind"]["description"].startswith("Kind is a string value representing the REST resource ")
    assert props["kind"]["description"].endswith(f"More info: {conventions}#types-kinds")
    assert props["metadata"]["description"] == f"Standard object's metadata. More info: {conventions}#metadata"
