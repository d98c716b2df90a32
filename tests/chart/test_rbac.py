"""The chart's RBAC: exactly what the operator's rules use, no Secrets, no wildcards, stream kinds by aggregation."""

from __future__ import annotations

from .rbac import Grant, Request, aggregation_selectors, allows, grants
from .rendering import NAMESPACE, Obj, Rendered

ARCANE = "streaming.sneaksanddata.com"
AGGREGATION_LABEL = "streaming.sneaksanddata.com/aggregate-to-arcane-operator"

# (apiGroup, resource) -> verbs. Cluster-wide in every scenario.
CLUSTER_WIDE = {
    (ARCANE, "streamclasses"): {"get", "list", "watch"},
    (ARCANE, "streamclasses/status"): {"patch"},
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"},
    ("", "events"): {"create", "patch"},
    ("events.k8s.io", "events"): {"create", "patch"},
}
# Cluster-wide, or in each watched namespace when watchNamespaces is set.
WORKLOADS = {
    (ARCANE, "streamingjobtemplates"): {"get", "list", "watch"},
    (ARCANE, "backfillrequests"): {"get", "list", "watch", "create", "patch"},
    (ARCANE, "backfillrequests/status"): {"patch"},
    ("batch", "jobs"): {"get", "list", "watch", "create", "patch", "delete"},
    ("batch", "cronjobs"): {"get", "list", "watch", "create", "patch", "delete"},
}


def operator_account(rendered: Rendered) -> str:
    name: str = rendered.deployment["spec"]["template"]["spec"]["serviceAccountName"]
    return name


def operator_grants(rendered: Rendered) -> set[Grant]:
    return grants(rendered, operator_account(rendered), NAMESPACE)


def expand(table: dict[tuple[str, str], set[str]], namespace: str | None) -> set[Grant]:
    return {Grant(namespace, group, resource, verb) for (group, resource), verbs in table.items() for verb in verbs}


def roles(rendered: Rendered) -> list[Obj]:
    return rendered.of_kind("ClusterRole") + rendered.of_kind("Role")


def test_default_grants_are_exactly_what_the_rules_use(default: Rendered) -> None:
    """By default the operator gets exactly the table above, cluster-wide, and nothing else (no Lease)."""
    assert operator_grants(default) == expand(CLUSTER_WIDE, None) | expand(WORKLOADS, None)


def test_watched_namespaces_scope_the_workload_grants(by_scenario: dict[str, Rendered]) -> None:
    """With watchNamespaces, Jobs, CronJobs, templates and BackfillRequests are granted only in those namespaces."""
    rendered = by_scenario["watch-namespaces"]
    expected = expand(CLUSTER_WIDE, None) | expand(WORKLOADS, "streams-a") | expand(WORKLOADS, "streams-b")
    assert operator_grants(rendered) == expected
    assert not allows(operator_grants(rendered), Request("create", "batch", "jobs", namespace="kube-system"))
    assert allows(operator_grants(rendered), Request("create", "batch", "jobs", namespace="streams-b"))


def test_leases_only_with_leader_election(by_scenario: dict[str, Rendered]) -> None:
    """Leader election adds Lease create in the release namespace, and get/update on its own Lease only."""
    for name, rendered in by_scenario.items():
        lease_grants = {g for g in operator_grants(rendered) if g.resource == "leases"}
        if name != "leader-election":
            assert lease_grants == set(), name
    rendered = by_scenario["leader-election"]
    lease = "arcane-operator-leader"
    assert {g for g in operator_grants(rendered) if g.resource == "leases"} == {
        Grant(NAMESPACE, "coordination.k8s.io", "leases", "create"),
        Grant(NAMESPACE, "coordination.k8s.io", "leases", "get", lease),
        Grant(NAMESPACE, "coordination.k8s.io", "leases", "update", lease),
    }
    assert operator_grants(rendered) - {g for g in operator_grants(rendered) if g.resource == "leases"} == (
        expand(CLUSTER_WIDE, None) | expand(WORKLOADS, None)
    )
    assert [r["kind"] for r in roles(rendered) if "leader" in r["metadata"]["name"]] == ["Role"]


def test_no_access_to_secrets(rendered: Rendered) -> None:
    """No role of any scenario mentions Secrets: Jobs reference them by name, the operator never reads them."""
    for role in roles(rendered):
        for rule in role.get("rules") or []:
            assert not [r for r in rule.get("resources", []) if r.split("/")[0] == "secrets"], role["metadata"]["name"]


def test_no_wildcards(rendered: Rendered) -> None:
    """No rule uses `*` for verbs, resources or API groups (a wildcard also grants every future resource type)."""
    for role in roles(rendered):
        for rule in role.get("rules") or []:
            for key in ("verbs", "resources", "apiGroups", "resourceNames"):
                assert not [v for v in rule.get(key, []) if "*" in v], (role["metadata"]["name"], key)
            assert "nonResourceURLs" not in rule


def test_no_escalation_verbs(rendered: Rendered) -> None:
    """No rule grants escalate, bind, impersonate, update of whole objects, or exec into pods."""
    for role in roles(rendered):
        for rule in role.get("rules") or []:
            assert not {"escalate", "bind", "impersonate", "deletecollection"} & set(rule["verbs"])
            assert not {"pods", "pods/exec", "serviceaccounts/token"} & set(rule.get("resources", []))
            if "update" in rule["verbs"]:
                assert rule.get("resourceNames"), "update only on a named object (the Lease)"


def test_stream_kinds_only_through_aggregation(rendered: Rendered) -> None:
    """The only custom resources the operator is granted directly are Arcane's three; stream kinds come from an
    aggregated ClusterRole selecting the aggregation label."""
    arcane = {g.resource.split("/")[0] for g in operator_grants(rendered) if g.api_group == ARCANE}
    assert arcane == {"streamclasses", "streamingjobtemplates", "backfillrequests"}
    selectors = aggregation_selectors(rendered, operator_account(rendered), NAMESPACE)
    assert {tuple(labels.items()) for labels, _ in selectors} == {((AGGREGATION_LABEL, "true"),)}
    aggregated = next(r for r in rendered.of_kind("ClusterRole") if "aggregationRule" in r)
    assert "rules" not in aggregated, "the aggregation controller owns the rules"
    assert AGGREGATION_LABEL not in aggregated["metadata"]["labels"]


def test_stream_kinds_from_values_feed_the_aggregation(by_scenario: dict[str, Rendered]) -> None:
    """streamKinds renders a ClusterRole with the aggregation label: get/list/watch on the kinds, patch on status."""
    rendered = by_scenario["watch-namespaces"]
    role = rendered.one("ClusterRole", "arcane-arcane-operator-stream-kinds-from-values")
    assert role["metadata"]["labels"][AGGREGATION_LABEL] == "true"
    plurals = ["microsoft-sql-server-streams", "microsoft-sql-server-beta-streams"]
    assert role["rules"] == [
        {"apiGroups": [ARCANE], "resources": plurals, "verbs": ["get", "list", "watch"]},
        {"apiGroups": [ARCANE], "resources": [f"{p}/status" for p in plurals], "verbs": ["patch"]},
    ]
    assert not [r for r in by_scenario["default"].of_kind("ClusterRole") if r["metadata"]["name"].endswith("values")]


def test_aggregated_grants_follow_the_watched_namespaces(by_scenario: dict[str, Rendered]) -> None:
    """The aggregated stream-kinds role is bound cluster-wide by default, and per watched namespace otherwise."""
    default = by_scenario["default"]
    assert aggregation_selectors(default, operator_account(default), NAMESPACE)[0][1] is None
    scoped = by_scenario["watch-namespaces"]
    scopes = [scope for _, scope in aggregation_selectors(scoped, operator_account(scoped), NAMESPACE)]
    assert scopes == ["streams-a", "streams-b"]


def test_every_role_is_bound_to_the_operator_only(rendered: Rendered) -> None:
    """Each role the chart renders is bound, and every binding's only subject is the operator's ServiceAccount."""
    bindings = rendered.of_kind("ClusterRoleBinding") + rendered.of_kind("RoleBinding")
    bound = {b["roleRef"]["name"] for b in bindings}
    labelled_for_aggregation = {
        r["metadata"]["name"] for r in rendered.of_kind("ClusterRole") if AGGREGATION_LABEL in r["metadata"]["labels"]
    }
    assert {r["metadata"]["name"] for r in roles(rendered)} - labelled_for_aggregation == bound
    for binding in bindings:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": operator_account(rendered), "namespace": NAMESPACE}
        ]


def test_allows_matches_rbac_semantics(by_scenario: dict[str, Rendered]) -> None:
    """The request checker used against kubesim's request log honours scope and resourceNames."""
    granted = operator_grants(by_scenario["leader-election"])
    assert allows(granted, Request("watch", ARCANE, "streamclasses"))
    assert allows(granted, Request("patch", ARCANE, "streamclasses/status", name="sql"))
    assert not allows(granted, Request("update", ARCANE, "streamclasses/status", name="sql"))
    assert allows(granted, Request("update", "coordination.k8s.io", "leases", NAMESPACE, "arcane-operator-leader"))
    assert not allows(granted, Request("update", "coordination.k8s.io", "leases", NAMESPACE, "someone-else"))
    assert not allows(granted, Request("create", "coordination.k8s.io", "leases", "default"))
    assert not allows(granted, Request("get", "", "secrets", "default", "db-password"))
