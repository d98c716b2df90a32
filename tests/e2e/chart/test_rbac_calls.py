"""The chart's RBAC against what the operator really did: every API call of this session's end-to-end runs (kubesim's
request log, the operator's User-Agent, calls.py) is allowed by the roles the chart renders for the values the
operator ran with, and every verb the chart grants on a resource was used by some call, apart from a short
allow-list whose every entry says why it is granted anyway.

Runs last (conftest.py moves it): it reads what the guide tests (chart defaults: cluster-wide, no leader election),
the Go integration scenarios and the chart's deployed-operator tests recorded. The runs the check needs to see every
grant used (default values, leader election, watched namespaces) are run here when the session has not run them,
so that this file also stands alone.

Stream kinds are granted by aggregation: the grants of the plugin ClusterRoles labelled for it (the ones the
cluster held during the run) count with the scope of the operator's binding to its aggregated role. kubesim stores
RBAC objects but does not enforce them, which is why the calls are checked here, with tests/chart/rbac.py's
`allows()`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pytest
from chart.rbac import Grant, Request, aggregation_selectors, allows, grants
from chart.rendering import NAMESPACE, Rendered

from .calls import AGGREGATION_LABEL, SESSION, Run
from .deploy import service_account
from .lifecycles import rendering, run

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("helm")]

# The values scenarios whose runs together use every grant (run here when the session has not).
NEEDED = ("default", "leader-election", "watch-namespaces")

# Stream kinds are many (one or more per plugin) and granted alike, so the "used" check reads them as one resource
# class: each of these stands for every stream kind (and its status) of the runs' aggregated roles.
STREAM_KIND = "<stream kind>"
STREAM_KIND_STATUS = "<stream kind>/status"

# Granted, yet no call of the end-to-end runs uses them, and why they stay. (group, resource, verb)
UNUSED_BUT_GRANTED = {
    # The operator reads from its watch caches (list + watch). It GETs an object only when a create answers
    # AlreadyExists (engine/core/execute.py `_create`: adopt our own or report a foreign one), a race no run
    # provokes; without `get` that path would fail with 403 instead of adopting.
    ("batch", "jobs", "get"): "read after a create conflict",
    ("batch", "cronjobs", "get"): "read after a create conflict",
    ("streaming.sneaksanddata.com", "backfillrequests", "get"): "read after a create conflict",
    # Kinds the operator only reads: `get` completes the read triple `kubectl auth can-i` users expect; it
    # writes nothing.
    ("streaming.sneaksanddata.com", "streamclasses", "get"): "read triple, read-only kind",
    ("streaming.sneaksanddata.com", "streamingjobtemplates", "get"): "read triple, read-only kind",
    ("apiextensions.k8s.io", "customresourcedefinitions", "get"): "read triple, read-only kind",
    ("*", STREAM_KIND, "get"): "docs/install.md's plugin role grants the read triple; streams are read from the cache",
    # Issue 7 asks for create/patch/delete on Jobs and CronJobs, but the shipped rules replace an outdated Job or
    # CronJob (delete, then create) and never patch one. Kept for rules a platform team adds (a ConfigMap edit,
    # reloaded live, must not need a chart upgrade); reported as a least-privilege candidate.
    ("batch", "jobs", "patch"): "issue 7's verb list; no shipped rule patches a Job",
    ("batch", "cronjobs", "patch"): "issue 7's verb list; no shipped rule patches a CronJob",
    # The operator writes core/v1 Events (engine/core/events.py). events.k8s.io/v1 serves the same objects; the
    # chart grants both so that an engine moving to the newer API needs no chart change. Events carry no secret.
    ("events.k8s.io", "events", "create"): "same Event objects through the newer API",
    ("events.k8s.io", "events", "patch"): "same Event objects through the newer API",
}


def granted(run: Run) -> set[Grant]:
    """What RBAC lets the operator do in this run: its rendering's roles, plus the aggregated plugin roles."""
    rendered = rendering(run.profile)
    account = service_account(rendered)
    found = grants(rendered, account, NAMESPACE)
    roles = {role["metadata"]["name"]: role for role in [*aggregatable(rendered), *run.aggregated_roles]}
    for labels, scope in aggregation_selectors(rendered, account, NAMESPACE):
        for role in roles.values():
            if labels.items() <= (role["metadata"].get("labels") or {}).items():
                found |= rule_grants(role, scope)
    return found


def aggregatable(rendered: Rendered) -> list[dict[str, object]]:
    """ClusterRoles of the rendering itself labelled for the aggregation (from the `streamKinds` values)."""
    return [r for r in rendered.of_kind("ClusterRole") if (r["metadata"].get("labels") or {}).get(AGGREGATION_LABEL)]


def rule_grants(role: dict[str, object], scope: str | None) -> set[Grant]:
    found = set()
    for rule in role.get("rules") or []:  # type: ignore[attr-defined]
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                for verb in rule["verbs"]:
                    found.add(Grant(scope, group, resource, verb))
    return found


# Discovery and version, which every authenticated user may read (the default `system:discovery` ClusterRole).
DISCOVERY = re.compile(r"^/(api|apis)(/[^/]+){0,2}/?$|^/version/?$|^/openapi/.*$")


def denied(runs: Iterable[Run]) -> list[str]:
    """Every call RBAC would refuse, with the run it comes from."""
    refused = []
    for one in runs:
        allowed = granted(one)
        for call, count in sorted(one.calls.items()):
            if not call.resource:
                if not (call.verb == "get" and DISCOVERY.match(call.path)):
                    refused.append(f"{one.source} [{one.profile}]: {call} (non-resource URL) x{count}")
                continue
            request = Request(call.verb, call.group, call.resource, call.namespace, call.name)
            if not allows(allowed, request):
                refused.append(f"{one.source} [{one.profile}]: {call} x{count}")
    return refused


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Run]:
    """Every run of the session, after running the scenarios this check needs that the session did not run."""
    for name in NEEDED:
        if name not in SESSION.profiles():
            run(name, tmp_path_factory.mktemp(f"rbac-{name}"), source=f"test_rbac_calls ({name} values)")
    return SESSION.runs()


def stream_kinds(runs: Iterable[Run]) -> set[tuple[str, str]]:
    """(group, plural) of every stream kind granted through aggregation in the runs."""
    kinds = set()
    for one in runs:
        for grant in granted(one) - grants(rendering(one.profile), service_account(rendering(one.profile)), NAMESPACE):
            kinds.add((grant.api_group, grant.resource.removesuffix("/status")))
    return kinds


def as_class(group: str, resource: str, verb: str, kinds: set[tuple[str, str]]) -> tuple[str, str, str]:
    """(group, resource, verb), with every stream kind read as the stream-kind class."""
    plural, _, sub = resource.partition("/")
    if (group, plural) in kinds:
        return ("*", STREAM_KIND_STATUS if sub == "status" else STREAM_KIND, verb)
    return (group, resource, verb)


def used(runs: list[Run], kinds: set[tuple[str, str]]) -> set[tuple[str, str, str]]:
    """Every (group, resource, verb) some call used, stream kinds as one class."""
    return {as_class(c.group, c.resource, c.verb, kinds) for one in runs for c in one.calls if c.resource}


def test_every_operator_call_is_allowed(runs: list[Run]) -> None:
    """Every API call the operator made in this session's end-to-end runs is allowed by the chart's RBAC for the values it ran with (no Secrets, discovery only as every user may)."""
    print(f"{len(runs)} runs, {sum(sum(r.calls.values()) for r in runs)} calls, profiles {sorted(SESSION.profiles())}")
    assert [r for r in runs if r.calls], "no operator call was recorded"
    assert denied(runs) == []
    assert not [c for r in runs for c in r.calls if c.resource == "secrets"], "the operator touched Secrets"


def test_every_grant_is_used(runs: list[Run]) -> None:
    """Every verb the chart grants on a resource (stream kinds as one class), in any scenario run, was used by some call, except the justified allow-list, whose entries are all granted and all unused."""
    kinds = stream_kinds(runs)
    calls = used(runs, kinds)
    all_grants = {as_class(g.api_group, g.resource, g.verb, kinds) for one in runs for g in granted(one)}
    print("granted and used:", *sorted(all_grants & calls), sep="\n  ")
    print("granted, unused, allow-listed:", *sorted(all_grants & set(UNUSED_BUT_GRANTED)), sep="\n  ")
    unused = sorted(all_grants - calls - set(UNUSED_BUT_GRANTED))
    assert unused == [], f"granted but never used by the operator: {unused}"
    stale = sorted(key for key in UNUSED_BUT_GRANTED if key in calls or key not in all_grants)
    assert stale == [], f"allow-list entries now used, or no longer granted: {stale}"


def test_runs_use_every_write_of_the_rules(runs: list[Run]) -> None:
    """The runs made every kind of write the shipped rules make (a check that the collection itself works)."""
    kinds = stream_kinds(runs)
    seen = used(runs, kinds)
    for verb, group, resource in sorted((v, g, r) for g, r, v in seen):
        print(f"{verb:7} {group or 'core'}/{resource}")
    for expected in [
        ("batch", "jobs", "create"),
        ("batch", "jobs", "delete"),
        ("batch", "cronjobs", "create"),
        ("batch", "cronjobs", "delete"),
        ("streaming.sneaksanddata.com", "backfillrequests", "create"),
        ("streaming.sneaksanddata.com", "backfillrequests", "patch"),
        ("streaming.sneaksanddata.com", "backfillrequests/status", "patch"),
        ("streaming.sneaksanddata.com", "streamclasses/status", "patch"),
        ("*", STREAM_KIND_STATUS, "patch"),
        ("", "events", "create"),
        ("", "events", "patch"),
        ("coordination.k8s.io", "leases", "create"),
        ("coordination.k8s.io", "leases", "update"),
    ]:
        assert expected in seen, expected
