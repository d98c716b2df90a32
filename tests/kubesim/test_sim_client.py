"""kubesim through the official Python client: CRUD, errors, concurrency, finalizers, secrets, validation."""

from __future__ import annotations

import json
from typing import Any

import kubernetes
import pytest
from kubernetes.client import ApiException
from simhelpers import job


def core(client: Any) -> Any:
    return kubernetes.client.CoreV1Api(client)


def batch(client: Any) -> Any:
    return kubernetes.client.BatchV1Api(client)


def error_of(exc: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.value.body)
    return body


def test_default_namespaces_exist(api_client: Any) -> None:
    """default, kube-system and kube-public exist at start, Active."""
    names = {ns.metadata.name: ns.status.phase for ns in core(api_client).list_namespace().items}
    assert {"default", "kube-system", "kube-public"} <= set(names)
    assert names["default"] == "Active"


def test_create_assigns_system_metadata(api_client: Any) -> None:
    """Create answers 201 with uid, creationTimestamp, resourceVersion; Jobs get generation 1."""
    created = batch(api_client).create_namespaced_job("default", job())
    meta = created.metadata
    assert meta.uid
    assert meta.creation_timestamp
    assert meta.resource_version
    assert meta.generation == 1
    assert created.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": meta.uid}


def test_resource_versions_increase_cluster_wide(api_client: Any) -> None:
    """Writes to different resources get strictly increasing resourceVersions."""
    api = core(api_client)
    first = api.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    second = api.create_namespaced_secret("default", {"metadata": {"name": "b"}})
    third = api.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})
    versions = [int(o.metadata.resource_version) for o in (first, second, third)]
    assert versions == sorted(versions)
    assert len(set(versions)) == 3


def test_not_found_status_body(api_client: Any) -> None:
    """A missing object is 404 NotFound with the API server's message and details."""
    with pytest.raises(ApiException) as exc:
        batch(api_client).read_namespaced_job("nope", "default")
    body = error_of(exc)
    assert exc.value.status == 404
    assert body["reason"] == "NotFound"
    assert body["message"] == 'jobs.batch "nope" not found'
    assert body["details"] == {"name": "nope", "group": "batch", "kind": "jobs"}


def test_already_exists(api_client: Any) -> None:
    """Creating a taken name is 409 AlreadyExists."""
    api = core(api_client)
    api.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    with pytest.raises(ApiException) as exc:
        api.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    assert error_of(exc)["reason"] == "AlreadyExists"
    assert error_of(exc)["message"] == 'configmaps "c" already exists'


def test_namespace_must_exist(api_client: Any) -> None:
    """Writing into a missing namespace is 404 `namespaces "x" not found`."""
    with pytest.raises(ApiException) as exc:
        core(api_client).create_namespaced_config_map("missing", {"metadata": {"name": "c"}})
    assert error_of(exc)["message"] == 'namespaces "missing" not found'


def test_stale_update_conflicts(api_client: Any) -> None:
    """PUT with a stale resourceVersion is 409 Conflict with the API server's wording."""
    api = core(api_client)
    cm = api.create_namespaced_config_map("default", {"metadata": {"name": "c"}, "data": {"a": "1"}})
    api.patch_namespaced_config_map("c", "default", {"data": {"a": "2"}})
    cm.data = {"a": "3"}
    with pytest.raises(ApiException) as exc:
        api.replace_namespaced_config_map("c", "default", cm)
    body = error_of(exc)
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Operation cannot be fulfilled on configmaps "c": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


def test_generate_name(api_client: Any) -> None:
    """generateName gets a five-character random suffix."""
    cm = core(api_client).create_namespaced_config_map("default", {"metadata": {"generateName": "gen-"}})
    assert cm.metadata.name.startswith("gen-")
    assert len(cm.metadata.name) == 9


def test_missing_name_is_invalid(api_client: Any) -> None:
    """Neither name nor generateName is 422 with the required-value cause."""
    with pytest.raises(ApiException) as exc:
        core(api_client).create_namespaced_config_map("default", {"metadata": {}})
    assert exc.value.status == 422
    assert error_of(exc)["message"] == (
        'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required'
    )


def test_invalid_name(api_client: Any) -> None:
    """A name that is not a DNS subdomain is 422 Invalid naming the field."""
    with pytest.raises(ApiException) as exc:
        core(api_client).create_namespaced_config_map("default", {"metadata": {"name": "Bad_Name"}})
    body = error_of(exc)
    assert body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    assert body["message"].startswith(
        'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123'
    )


def test_finalizers_hold_deletion(api_client: Any) -> None:
    """DELETE with a finalizer sets deletionTimestamp; removing the finalizer removes the object."""
    api = core(api_client)
    api.create_namespaced_config_map("default", {"metadata": {"name": "f", "finalizers": ["example.com/hold"]}})
    marked = api.delete_namespaced_config_map("f", "default")
    assert marked["metadata"]["deletionTimestamp"] if isinstance(marked, dict) else True
    current = api.read_namespaced_config_map("f", "default")
    assert current.metadata.deletion_timestamp is not None
    with pytest.raises(ApiException) as exc:
        api.patch_namespaced_config_map("f", "default", {"metadata": {"finalizers": ["example.com/hold", "x.io/more"]}})
    assert "no new finalizers can be added if the object is being deleted" in error_of(exc)["message"]
    api.patch_namespaced_config_map("f", "default", {"metadata": {"$patch": "merge", "finalizers": None}})
    with pytest.raises(ApiException) as gone:
        api.read_namespaced_config_map("f", "default")
    assert gone.value.status == 404


def test_delete_preconditions(api_client: Any) -> None:
    """A DELETE whose resourceVersion precondition is stale is 409."""
    api = core(api_client)
    cm = api.create_namespaced_config_map("default", {"metadata": {"name": "p"}})
    api.patch_namespaced_config_map("p", "default", {"data": {"a": "b"}})
    body = kubernetes.client.V1DeleteOptions(preconditions={"resourceVersion": cm.metadata.resource_version})
    with pytest.raises(ApiException) as exc:
        api.delete_namespaced_config_map("p", "default", body=body)
    assert "does not match the ResourceVersion in record" in error_of(exc)["message"]


def test_delete_answers_a_success_status(api_client: Any) -> None:
    """DELETE of a ConfigMap answers a Success Status with the uid, as the API server does."""
    api = core(api_client)
    cm = api.create_namespaced_config_map("default", {"metadata": {"name": "d"}})
    status = api.delete_namespaced_config_map("d", "default")
    assert status["status"] == "Success"
    assert status["details"] == {"name": "d", "kind": "configmaps", "uid": cm.metadata.uid}


def test_secret_string_data(api_client: Any) -> None:
    """stringData is merged into base64 data, never returned; the type defaults to Opaque."""
    secret = core(api_client).create_namespaced_secret(
        "default", {"metadata": {"name": "s"}, "data": {"x": "eQ=="}, "stringData": {"a": "hello"}}
    )
    assert secret.data == {"x": "eQ==", "a": "aGVsbG8="}
    assert secret.string_data is None
    assert secret.type == "Opaque"


def test_dry_run_does_not_store(api_client: Any) -> None:
    """dryRun=All answers the would-be object and stores nothing."""
    api = core(api_client)
    answered = api.create_namespaced_config_map("default", {"metadata": {"name": "dry"}}, dry_run="All")
    assert answered.metadata.name == "dry"
    with pytest.raises(ApiException):
        api.read_namespaced_config_map("dry", "default")


def test_job_validation_and_immutability(api_client: Any) -> None:
    """Jobs need restartPolicy OnFailure/Never, and their template is immutable."""
    api = batch(api_client)
    bad = job("bad")
    bad["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    with pytest.raises(ApiException) as exc:
        api.create_namespaced_job("default", bad)
    assert error_of(exc)["message"] == (
        'Job.batch "bad" is invalid: spec.template.spec.restartPolicy: Unsupported value: "Always": '
        'supported values: "OnFailure", "Never"'
    )
    api.create_namespaced_job("default", job("ok"))
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "other"}]}}}}
    with pytest.raises(ApiException) as immutable:
        api.patch_namespaced_job("ok", "default", patch)
    assert error_of(immutable)["message"] == (
        'Job.batch "ok" is invalid: spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable'
    )


def test_job_defaults(api_client: Any) -> None:
    """Jobs get the 1.32 defaults and the four template labels."""
    created = batch(api_client).create_namespaced_job("default", job())
    spec = created.spec
    assert (spec.completions, spec.parallelism, spec.backoff_limit) == (1, 1, 6)
    assert (spec.completion_mode, spec.suspend, spec.pod_replacement_policy) == (
        "NonIndexed",
        False,
        "TerminatingOrFailed",
    )
    labels = spec.template.metadata.labels
    assert labels["batch.kubernetes.io/job-name"] == "j1"
    assert labels["job-name"] == "j1"
    container = spec.template.spec.containers[0]
    assert container.image_pull_policy == "IfNotPresent"
    assert container.termination_message_path == "/dev/termination-log"


def test_label_selector_grammar(api_client: Any) -> None:
    """Label selectors support set-based terms; bad syntax is 400."""
    api = core(api_client)
    for name, labels in (("a", {"app": "x", "tier": "web"}), ("b", {"app": "y"}), ("c", {})):
        api.create_namespaced_config_map("default", {"metadata": {"name": name, "labels": labels}})

    def names(selector: str) -> list[str]:
        return [i.metadata.name for i in api.list_namespaced_config_map("default", label_selector=selector).items]

    assert names("app in (x,y),!tier") == ["b"]
    assert names("app!=x") == ["b", "c"]
    assert names("tier") == ["a"]
    assert names("app notin (x)") == ["b", "c"]
    with pytest.raises(ApiException) as exc:
        names("app in x")
    assert exc.value.status == 400
    assert error_of(exc)["message"] == "unable to parse requirement: found 'x', expected: '('"


def test_field_selectors(api_client: Any) -> None:
    """metadata.name and per-kind fields select; unsupported fields are 400."""
    api = core(api_client)
    api.create_namespaced_secret(
        "default", {"metadata": {"name": "s1"}, "type": "kubernetes.io/basic-auth", "data": {"username": "eA=="}}
    )
    api.create_namespaced_secret("default", {"metadata": {"name": "s2"}})
    found = api.list_namespaced_secret("default", field_selector="type=kubernetes.io/basic-auth").items
    assert [s.metadata.name for s in found] == ["s1"]
    assert [
        s.metadata.name for s in api.list_namespaced_secret("default", field_selector="metadata.name=s2").items
    ] == ["s2"]
    with pytest.raises(ApiException) as exc:
        api.list_namespaced_secret("default", field_selector="spec.nope=1")
    assert error_of(exc)["message"] == "field label not supported: spec.nope"


def test_pagination(api_client: Any) -> None:
    """limit/continue pages in name order with one list resourceVersion."""
    api = core(api_client)
    for i in range(7):
        api.create_namespaced_config_map("default", {"metadata": {"name": f"cm{i}"}})
    seen: list[str] = []
    token = None
    versions = set()
    while True:
        page = api.list_namespaced_config_map("default", limit=3, _continue=token)
        seen += [i.metadata.name for i in page.items]
        versions.add(page.metadata.resource_version)
        token = page.metadata._continue
        if not token:
            break
    assert seen == [f"cm{i}" for i in range(7)]  # each once, in name order, none lost or repeated at a page's edge
    assert "kube-root-ca.crt" not in seen
    assert len(versions) == 1


def test_field_validation_strict_and_warn(kubesim: Any) -> None:
    """Strict rejects unknown fields with the API server's text; Warn answers a Warning header."""
    import urllib.request

    from kubesim.tlsdata import client_context

    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "dta": {}}).encode()

    def post(validation: str) -> tuple[int, dict[str, Any], list[str]]:
        url = f"{kubesim.url}/api/v1/namespaces/default/configmaps?fieldValidation={validation}"
        req = urllib.request.Request(
            url, body, {"Content-Type": "application/json", "Authorization": f"Bearer {kubesim.token}"}
        )
        try:
            with urllib.request.urlopen(req, context=client_context()) as response:
                return response.status, json.loads(response.read()), response.headers.get_all("Warning") or []
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read()), []

    status, answer, _ = post("Strict")
    assert status == 400
    assert answer["message"] == 'strict decoding error: unknown field "dta"'
    status, answer, warnings = post("Warn")
    assert status == 201
    assert "dta" not in answer
    assert warnings == ['299 - "unknown field \\"dta\\""']


def test_self_subject_access_review_is_allowed(api_client: Any) -> None:
    """SelfSubjectAccessReview answers allowed (RBAC is stored, not enforced)."""
    api = kubernetes.client.AuthorizationV1Api(api_client)
    review = api.create_self_subject_access_review(
        {"spec": {"resourceAttributes": {"verb": "create", "resource": "jobs", "group": "batch"}}}
    )
    assert review.status.allowed is True


def test_events_both_apis_share_storage(api_client: Any) -> None:
    """An events.k8s.io/v1 Event is listed by core/v1 with involvedObject field selectors."""
    events = kubernetes.client.EventsV1Api(api_client)
    events.create_namespaced_event(
        "default",
        {
            "metadata": {"name": "e1"},
            "eventTime": "2024-01-01T00:00:00.000000Z",
            "reportingController": "me",
            "reportingInstance": "me-1",
            "action": "Do",
            "reason": "Did",
            "note": "hello",
            "type": "Normal",
            "regarding": {"kind": "Job", "name": "j9", "namespace": "default"},
        },
    )
    found = core(api_client).list_namespaced_event("default", field_selector="involvedObject.name=j9").items
    assert [(e.reason, e.message, e.involved_object.kind) for e in found] == [("Did", "hello", "Job")]
