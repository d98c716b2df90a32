"""The operator's API calls, collected from kubesim's request log over the end-to-end runs of a session.

Where it sits: every test of tests/e2e/guide and tests/e2e/chart that runs the operator against a simulator
records, when its simulator stops, the requests made with the operator's User-Agent (`arcane-operator`, the
`component` of engine/runtime/main.py) into `SESSION`, tagged with the chart values scenario whose RBAC applies
to that run ("default" for operators started by the e2e harness: cluster-wide, no leader election), and with the
plugin ClusterRoles labelled for aggregation that the cluster held. test_rbac_calls.py, run last, checks them
against the chart's rendered roles.

What it does not do: judge anything; kubesim does not enforce RBAC, so the calls are recorded as served.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kubesim import KubeSim

USER_AGENT = "arcane-operator"
AGGREGATION_LABEL = "streaming.sneaksanddata.com/aggregate-to-arcane-operator"


@dataclass(frozen=True, order=True)
class ApiCall:
    """One request as RBAC sees it: verb, API group, resource[/subresource] (empty for a non-resource URL such as
    discovery, then `path` says which), namespace (None: cluster-scoped or all namespaces) and name."""

    verb: str
    group: str
    resource: str
    namespace: str | None
    name: str | None
    path: str = ""

    def __str__(self) -> str:
        if not self.resource:
            return f"{self.verb} {self.path}"
        where = f" in {self.namespace}" if self.namespace else " cluster-wide"
        named = f" {self.name}" if self.name else ""
        group = self.group or "core"
        return f"{self.verb} {group}/{self.resource}{named}{where}"


@dataclass
class Run:
    """The calls of one operator run (one simulator), and what RBAC would have applied to them."""

    source: str
    profile: str
    calls: Counter[ApiCall]
    aggregated_roles: list[dict[str, Any]] = field(default_factory=list)


def operator_calls(sim: KubeSim) -> Counter[ApiCall]:
    """Every request the simulator served to the operator (its User-Agent), counted."""
    found: Counter[ApiCall] = Counter()
    for record in sim.requests.records():
        if record.user_agent.split("/", 1)[0] != USER_AGENT:
            continue
        resource = f"{record.resource}/{record.subresource}" if record.subresource else record.resource
        found[
            ApiCall(
                verb=record.verb,
                group=record.group,
                resource=resource,
                namespace=record.namespace or None,
                name=record.name or None,
                path="" if record.resource else record.path,
            )
        ] += 1
    return found


def aggregated_roles(sim: KubeSim) -> list[dict[str, Any]]:
    """The ClusterRoles in the cluster that plugin charts labelled for the operator's aggregated role."""
    roles = sim.list("rbac.authorization.k8s.io/v1", "ClusterRole")
    return [r for r in roles if ((r.get("metadata") or {}).get("labels") or {}).get(AGGREGATION_LABEL) == "true"]


class CallLog:
    """The runs of a session (thread-safe: a module-scoped cluster may stop while a test records)."""

    def __init__(self) -> None:
        self._runs: list[Run] = []
        self._lock = threading.Lock()

    def record(self, sim: KubeSim, *, source: str, profile: str = "default") -> Run:
        """Keep the operator's calls to `sim` (call before or after it stops: the log stays in memory)."""
        run = Run(source, profile, operator_calls(sim), aggregated_roles(sim))
        with self._lock:
            self._runs.append(run)
        return run

    def runs(self, profile: str | None = None) -> list[Run]:
        with self._lock:
            return [r for r in self._runs if profile is None or r.profile == profile]

    def profiles(self) -> set[str]:
        return {r.profile for r in self.runs()}


SESSION = CallLog()
