"""Prometheus metrics of one operator instance, on its own registry (never the global one).

Where this sits: `Metrics` implements every observer hook the lower layers define (structurally, so they
never import prometheus_client): `ApiObserver` (KubeClient), `InformerObserver` (informers),
`QueueObserver` (work queue), `LeaderObserver` (leader election); the reactor calls `evaluated()`,
`action()`, `reloaded()` and `set_ruleset_digest()`. `render()` gives the exposition text that
engine.runtime.health serves on the metrics port.

Label sets are bounded by construction: kinds, verbs, status codes, reasons, rule names, outcomes.
Never object names or namespaces.

What it does not do: no HTTP server, no global registration at import time.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_SLOW = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class Metrics:
    """The collectors, named `<prefix>_...`. One instance per operator (tests create many)."""

    def __init__(self, prefix: str = "engine") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r, p = self.registry, prefix
        self._events = Counter(f"{p}_events_received", "Watch events received.", ["kind", "type"], registry=r)
        self._watch_restarts = Counter(f"{p}_watch_restarts", "Watch restarts.", ["kind", "reason"], registry=r)
        self._relists = Counter(f"{p}_relists", "Full LISTs into an informer cache.", ["kind", "reason"], registry=r)
        self._queue_depth = Gauge(f"{p}_queue_depth", "Keys waiting to be evaluated.", registry=r)
        self._queue_adds = Counter(f"{p}_queue_adds", "Keys added to the work queue.", ["priority"], registry=r)
        self._queue_retries = Counter(f"{p}_queue_retries", "Rate-limited requeues.", registry=r)
        self._queue_wait = Histogram(
            f"{p}_queue_wait_seconds", "Time a key waited in the queue.", buckets=_SLOW, registry=r
        )
        self._queue_work = Histogram(
            f"{p}_queue_work_seconds", "Time from handing a key out to done.", buckets=_SLOW, registry=r
        )
        self._evaluations = Counter(f"{p}_evaluations", "Rule evaluations by outcome.", ["rule", "outcome"], registry=r)
        self._evaluation_seconds = Histogram(
            f"{p}_evaluation_seconds", "Evaluation latency per rule.", ["rule"], buckets=_FAST, registry=r
        )
        self._actions = Counter(f"{p}_actions", "Actions executed, by verb and result.", ["verb", "result"], registry=r)
        self._api_requests = Counter(f"{p}_api_requests", "Kubernetes API requests.", ["verb", "code"], registry=r)
        self._api_seconds = Histogram(
            f"{p}_api_request_seconds", "Kubernetes API latency.", ["verb"], buckets=_SLOW, registry=r
        )
        self._reloads = Counter(f"{p}_reloads", "Rule-set reloads by result.", ["result"], registry=r)
        self._ruleset = Info(f"{p}_ruleset", "The active rule set.", registry=r)
        self._leader = Gauge(f"{p}_leader", "1 while this process holds the leader lease.", registry=r)
        self._children: dict[tuple[object, tuple[str, ...]], Any] = {}

    def _child(self, metric: Counter | Histogram, *values: str) -> Any:
        """`metric.labels(*values)`, kept: prometheus_client checks and locks on every `labels()` call, which
        cost a few per cent of the operator's CPU when called per event."""
        key = (metric, values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    # --- engine.kube.client.ApiObserver -----------------------------------------------------------------

    def api_request(self, verb: str, code: int, seconds: float) -> None:
        self._child(self._api_requests, verb, str(code) if code else "error").inc()
        self._child(self._api_seconds, verb).observe(seconds)

    # --- engine.kube.informer.InformerObserver ----------------------------------------------------------

    def event_received(self, kind: str, event_type: str) -> None:
        self._child(self._events, kind, event_type).inc()

    def watch_restarted(self, kind: str, reason: str) -> None:
        self._child(self._watch_restarts, kind, reason).inc()

    def relisted(self, kind: str, reason: str) -> None:
        self._child(self._relists, kind, reason).inc()

    # --- engine.runtime.queue.QueueObserver -------------------------------------------------------------

    def queue_added(self, priority: str) -> None:
        self._child(self._queue_adds, priority).inc()

    def queue_depth(self, depth: int) -> None:
        self._queue_depth.set(depth)

    def queue_retried(self) -> None:
        self._queue_retries.inc()

    def queue_waited(self, seconds: float) -> None:
        self._queue_wait.observe(seconds)

    def queue_worked(self, seconds: float) -> None:
        self._queue_work.observe(seconds)

    # --- engine.runtime.leader.LeaderObserver -----------------------------------------------------------

    def leader_changed(self, leading: bool) -> None:
        self._leader.set(1 if leading else 0)

    # --- called by the reactor --------------------------------------------------------------------------

    def evaluated(self, rule: str, outcome: str, seconds: float) -> None:
        self._child(self._evaluations, rule, outcome).inc()
        self._child(self._evaluation_seconds, rule).observe(seconds)

    def action(self, verb: str, result: str) -> None:
        self._child(self._actions, verb, result).inc()

    def reloaded(self, result: str) -> None:
        self._child(self._reloads, result).inc()

    def set_ruleset_digest(self, digest: str) -> None:
        self._ruleset.info({"digest": digest})

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
