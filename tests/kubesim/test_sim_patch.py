"""Every patch type, server-side apply, status subresource and generation rules (official client)."""

from __future__ import annotations

import json
from typing import Any

import kubernetes
import pytest
from kubernetes.client import ApiException
from simhelpers import job, widget

from kubesim import ApiError


def custom(client: Any) -> Any:
    return kubernetes.client.CustomObjectsApi(client)


def test_merge_patch_on_custom_resource(widgets: Any, api_client: Any) -> None:
    """A merge patch merges maps and deletes with null."""
    api = custom(api_client)
    api.create_namespaced_custom_object("example.com", "v1", "default", "widgets", widget(labels={"a": "1", "b": "2"}))
    patched = api.patch_namespaced_custom_object(
        "example.com", "v1", "default", "widgets", "w1", {"spec": {"labels": {"a": None, "c": "3"}}}
    )
    assert patched["spec"]["labels"] == {"b": "2", "c": "3"}


def test_json_patch_and_failing_test_op(widgets: Any, api_client: Any) -> None:
    """A JSON patch applies; a failing `test` op is 422 with the API server's message."""
    api = custom(api_client)
    api.create_namespaced_custom_object("example.com", "v1", "default", "widgets", widget())
    ops = [
        {"op": "test", "path": "/spec/color", "value": "red"},
        {"op": "replace", "path": "/spec/color", "value": "blue"},
    ]
    kind = "application/json-patch+json"
    patched = api.patch_namespaced_custom_object(
        "example.com", "v1", "default", "widgets", "w1", ops, _content_type=kind
    )
    assert patched["spec"]["color"] == "blue"
    with pytest.raises(ApiException) as exc:
        api.patch_namespaced_custom_object("example.com", "v1", "default", "widgets", "w1", ops, _content_type=kind)
    assert exc.value.status == 422
    assert json.loads(exc.value.body)["message"] == "the server rejected our request due to an error in our request"


def test_strategic_merge_patch_merges_containers_by_name(api_client: Any) -> None:
    """SMP on a built-in merges containers and env by name and honours $patch: delete."""
    api = kubernetes.client.CoreV1Api(api_client)
    pod = {
        "metadata": {"name": "p"},
        "spec": {
            "containers": [
                {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
                {"name": "b", "image": "b:1"},
            ]
        },
    }
    api.create_namespaced_pod("default", pod)
    patch = {
        "metadata": {"finalizers": ["example.com/f"]},
        "spec": {
            "containers": [
                {"name": "a", "env": [{"name": "Y", "$patch": "delete"}, {"name": "Z", "value": "3"}]},
                {"name": "c", "image": "c:1"},
            ]
        },
    }
    patched = api.patch_namespaced_pod("p", "default", patch)
    containers = {c.name: c for c in patched.spec.containers}
    assert sorted(containers) == ["a", "b", "c"]
    assert [(e.name, e.value) for e in containers["a"].env] == [("X", "1"), ("Z", "3")]
    assert containers["a"].image == "a:1"
    api.patch_namespaced_pod("p", "default", {"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/f"]}})


def raw_patch(kubesim: Any, path: str, content_type: str) -> tuple[int, dict[str, Any]]:
    """PATCH `path` with an empty object sent as `content_type`: (status, answer)."""
    import urllib.request

    from kubesim.tlsdata import client_context

    headers = {"Content-Type": content_type, "Authorization": f"Bearer {kubesim.token}"}
    req = urllib.request.Request(f"{kubesim.url}{path}?fieldManager=t", b"{}", headers, method="PATCH")
    try:
        with urllib.request.urlopen(req, context=client_context()) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


UNKNOWN_FORMAT = "the body of the request was in an unknown format - accepted media types include: "


def test_strategic_merge_patch_is_415_on_custom_resources(widgets: Any, kubesim: Any) -> None:
    """Custom resources refuse strategic merge patch with 415, listing what a 1.32 server accepts for them."""
    kubesim.apply(widget())
    path = "/apis/example.com/v1/namespaces/default/widgets/w1"
    status, answer = raw_patch(kubesim, path, "application/strategic-merge-patch+json")
    assert status == 415
    assert answer["reason"] == "UnsupportedMediaType"
    assert answer["message"] == UNKNOWN_FORMAT + (
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )
    with pytest.raises(ApiError) as exc:
        kubesim.patch("example.com/v1", "Widget", "default", "w1", {}, patch_type="strategic")
    assert exc.value.code == 415
    assert exc.value.message == answer["message"]


@pytest.mark.parametrize(
    ("path", "accepted"),
    [
        (
            "/api/v1/namespaces/default/configmaps/c1",
            "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, "
            "application/apply-patch+yaml",
        ),
        (
            "/apis/example.com/v1/namespaces/default/widgets/w1",
            "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        ),
    ],
)
def test_apply_via_cbor_is_415_listing_only_what_is_accepted(widgets: Any, path: str, accepted: str) -> None:
    """Apply via CBOR is 415 (an alpha gate on 1.32), and the message does not claim CBOR is accepted."""
    widgets.apply(widget())
    widgets.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1"}})
    status, answer = raw_patch(widgets, path, "application/apply-patch+cbor")
    assert (status, answer["message"]) == (415, UNKNOWN_FORMAT + accepted)
    status, answer = raw_patch(widgets, path, "text/plain")
    assert (status, answer["message"]) == (415, UNKNOWN_FORMAT + accepted)


def apply_patch(kubesim: Any, body: dict[str, Any], manager: str, force: bool = False) -> tuple[int, dict[str, Any]]:
    import urllib.request

    from kubesim.tlsdata import client_context

    url = f"{kubesim.url}/apis/example.com/v1/namespaces/default/widgets/{body['metadata']['name']}?fieldManager={manager}"
    if force:
        url += "&force=true"
    headers = {"Content-Type": "application/apply-patch+yaml", "Authorization": f"Bearer {kubesim.token}"}
    req = urllib.request.Request(url, json.dumps(body).encode(), headers, method="PATCH")
    try:
        with urllib.request.urlopen(req, context=client_context()) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_server_side_apply(widgets: Any, kubesim: Any) -> None:
    """SSA creates with 201, updates with 200, conflicts across managers unless forced, removes dropped fields."""
    status, created = apply_patch(kubesim, widget(size=4, note="abc"), "alice")
    assert status == 201
    assert created["metadata"]["managedFields"][0]["manager"] == "alice"
    assert created["metadata"]["managedFields"][0]["operation"] == "Apply"
    status, body = apply_patch(kubesim, widget(size=5), "bob")
    assert status == 409
    assert body["message"] == 'Apply failed with 1 conflict: conflict with "alice" using example.com/v1: .spec.size'
    assert body["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "alice" using example.com/v1',
            "field": ".spec.size",
        }
    ]
    status, body = apply_patch(kubesim, widget(size=5), "bob", force=True)
    assert status == 200
    assert body["spec"]["size"] == 5
    status, body = apply_patch(kubesim, widget(), "alice")
    assert status == 200
    assert "note" not in body["spec"]
    assert body["spec"]["size"] == 5


def test_status_subresource_separation(widgets: Any, api_client: Any) -> None:
    """The main endpoint ignores status; /status changes only status; neither bumps generation wrongly."""
    api = custom(api_client)
    created = api.create_namespaced_custom_object(
        "example.com", "v1", "default", "widgets", {**widget(), "status": {"phase": "ignored"}}
    )
    assert "status" not in created
    assert created["metadata"]["generation"] == 1
    with_status = api.patch_namespaced_custom_object_status(
        "example.com", "v1", "default", "widgets", "w1", {"status": {"phase": "Ready"}, "spec": {"color": "blue"}}
    )
    assert with_status["status"] == {"phase": "Ready"}
    assert with_status["spec"]["color"] == "red"
    assert with_status["metadata"]["generation"] == 1
    main = api.patch_namespaced_custom_object(
        "example.com", "v1", "default", "widgets", "w1", {"status": {"phase": "Nope"}, "spec": {"color": "green"}}
    )
    assert main["status"] == {"phase": "Ready"}
    assert main["metadata"]["generation"] == 2
    labelled = api.patch_namespaced_custom_object(
        "example.com", "v1", "default", "widgets", "w1", {"metadata": {"labels": {"x": "y"}}}
    )
    assert labelled["metadata"]["generation"] == 2


def test_job_generation_counts_spec_changes_only(api_client: Any) -> None:
    """A Job's generation rises on spec changes, not on metadata or status changes."""
    api = kubernetes.client.BatchV1Api(api_client)
    api.create_namespaced_job("default", job(suspend=True))
    assert api.patch_namespaced_job("j1", "default", {"metadata": {"labels": {"a": "b"}}}).metadata.generation == 1
    assert api.patch_namespaced_job("j1", "default", {"spec": {"suspend": False}}).metadata.generation == 2


def test_scale_subresource(widgets: Any, api_client: Any) -> None:
    """The scale subresource reads and writes spec.replicas."""
    api = custom(api_client)
    api.create_namespaced_custom_object("example.com", "v1", "default", "widgets", widget(replicas=2))
    scale = api.get_namespaced_custom_object_scale("example.com", "v1", "default", "widgets", "w1")
    assert scale["spec"]["replicas"] == 2
    assert scale["kind"] == "Scale"
    api.patch_namespaced_custom_object_scale("example.com", "v1", "default", "widgets", "w1", {"spec": {"replicas": 5}})
    assert api.get_namespaced_custom_object("example.com", "v1", "default", "widgets", "w1")["spec"]["replicas"] == 5
