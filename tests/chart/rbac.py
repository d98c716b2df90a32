"""The permissions a rendering grants the operator's ServiceAccount, flattened so tests can reason about them.

Where it sits: the RBAC tests read the effective grants from here; the kubesim acceptance tests (later) will
check each request of the operator's request log with `allows` and report the grants no request used.

What it does not do: evaluate aggregation (the cluster fills aggregated ClusterRoles; here they are returned as
their label selectors), or non-resource URLs (the chart grants none).
"""

from __future__ import annotations

from dataclasses import dataclass

from .rendering import Obj, Rendered


@dataclass(frozen=True, order=True)
class Grant:
    """One verb on one resource, cluster-wide (namespace None) or in one namespace, maybe for one name only."""

    namespace: str | None
    api_group: str
    resource: str  # "jobs", or "streamclasses/status" for a subresource
    verb: str
    resource_name: str | None = None


@dataclass(frozen=True)
class Request:
    """One API request as RBAC sees it (what kubesim's request log records)."""

    verb: str  # get, list, watch, create, update, patch, delete
    api_group: str
    resource: str
    namespace: str | None = None
    name: str | None = None


def _bound_roles(rendered: Rendered, account: str, account_namespace: str) -> list[tuple[Obj, str | None]]:
    """(role, namespace or None for cluster-wide) for every binding of the account."""
    roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in rendered.objects}
    bound = []
    for binding in rendered.of_kind("ClusterRoleBinding") + rendered.of_kind("RoleBinding"):
        subjects = binding.get("subjects", [])
        if not any(
            s["kind"] == "ServiceAccount" and s["name"] == account and s["namespace"] == account_namespace
            for s in subjects
        ):
            continue
        scope = binding["metadata"].get("namespace")
        ref = binding["roleRef"]
        role_namespace = scope if ref["kind"] == "Role" else None
        role = roles.get((ref["kind"], role_namespace, ref["name"]))
        if role is None:
            raise LookupError(f"{binding['kind']} {binding['metadata']['name']} refers to a missing {ref}")
        bound.append((role, scope))
    return bound


def grants(rendered: Rendered, account: str, account_namespace: str) -> set[Grant]:
    """Every grant the rendering gives the ServiceAccount through its own rules (aggregated roles excluded)."""
    found: set[Grant] = set()
    for role, scope in _bound_roles(rendered, account, account_namespace):
        for rule in role.get("rules") or []:
            names = rule.get("resourceNames") or [None]
            for group in rule.get("apiGroups", []):
                for resource in rule.get("resources", []):
                    for verb in rule["verbs"]:
                        for name in names:
                            found.add(Grant(scope, group, resource, verb, name))
    return found


def aggregation_selectors(
    rendered: Rendered, account: str, account_namespace: str
) -> list[tuple[dict[str, str], str | None]]:
    """(matchLabels, scope) of every aggregated ClusterRole bound to the ServiceAccount."""
    selectors = []
    for role, scope in _bound_roles(rendered, account, account_namespace):
        for selector in (role.get("aggregationRule") or {}).get("clusterRoleSelectors", []):
            selectors.append((selector["matchLabels"], scope))
    return selectors


def allows(granted: set[Grant], request: Request) -> bool:
    """Whether RBAC lets the request through given these grants (no wildcards: the chart never uses them)."""
    for grant in granted:
        if (grant.api_group, grant.resource, grant.verb) != (request.api_group, request.resource, request.verb):
            continue
        if grant.namespace is not None and grant.namespace != request.namespace:
            continue
        if grant.resource_name is not None and grant.resource_name != request.name:
            continue
        return True
    return False
