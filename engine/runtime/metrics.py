"""Prometheus metrics of one operator instance, on its own registry (never the global one).

Where this sits: `Metrics` implements every observer hook the lower layers define (structurally, so they
never import prometheus_client): `ApiObserver` (KubeClient), `InformerObserver` (informers),
`QueueObserver` (work queue), `LeaderObserver` (leader election); the reactor calls `evaluated()`,
`action()`, `reloaded()` and `set_ruleset_digest()`. `render()` gives the exposition text that
engine.runtime.health serves on the metrics port.

Label sets are bounded by construction: kinds, verbs, status codes, reasons, rule names, outcomes.
Never object names or namespaces.

The counters, histograms and the queue depth are plain numbers by label values, handed to
prometheus_client as metric families when it collects (`_Instruments`): its own metric objects take a lock
per update and walk the buckets in Python, about 6 µs per API request's two updates, and the operator makes
some hundred updates per stream, all on its event loop's thread. The exposition is the same, series by
series (`_created` included).

What it does not do: no HTTP server, no global registration at import time.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from prometheus_client import CollectorRegistry, Gauge, Info, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

_FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_SLOW = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_CREATED = os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False").lower() not in ("true", "1", "t")
"""Whether `_created` series are exposed (prometheus_client's own switch, read the same way)."""

Labels = tuple[str, ...]
_go_string: Callable[[float], str] = floatToGoString
"""How prometheus_client writes a bucket bound (`le`): 0.005, 1.0, +Inf (the library leaves it untyped)."""


class _Counter:
    """A counter family: a float per label values, and when each series started."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str] = ()) -> None:
        self.name, self.documentation, self.labels = name, documentation, tuple(labels)
        self.values: dict[Labels, float] = {}
        self.created: dict[Labels, float] = {}
        if not self.labels:  # a series without labels exists (at 0) from the start, as in prometheus_client
            self.inc((), 0.0)

    def inc(self, key: Labels = (), amount: float = 1.0) -> None:
        values = self.values
        if key in values:
            values[key] += amount
        else:
            values[key] = amount
            self.created[key] = time.time()

    def family(self) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, value in list(self.values.items()):
            family.add_metric(key, value, created=self.created[key] if _CREATED else None)
        return family


class _Series:
    __slots__ = ("counts", "created", "sum")

    def __init__(self, size: int) -> None:
        self.counts = [0] * size
        self.sum = 0.0
        self.created = time.time()


class _Histogram:
    """A histogram family: per label values, a count per bucket (not cumulated until collected) and a sum."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str] = (), *, buckets: Sequence[float]) -> None:
        self.name, self.documentation, self.labels = name, documentation, tuple(labels)
        self.bounds = (*buckets, float("inf"))
        self.le = [_go_string(bound) for bound in self.bounds]
        self.series: dict[Labels, _Series] = {}
        if not self.labels:
            self.series[()] = _Series(len(self.bounds))

    def observe(self, value: float, key: Labels = ()) -> None:
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = _Series(len(self.bounds))
        series.counts[bisect_left(self.bounds, value)] += 1  # the first bucket whose bound is >= value
        series.sum += value

    def family(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, series in list(self.series.items()):
            total, buckets = 0, []
            for le, count in zip(self.le, series.counts, strict=True):
                total += count
                buckets.append((le, float(total)))
            family.add_metric(key, buckets, series.sum)
            if _CREATED:
                family.add_sample(f"{self.name}_created", dict(zip(self.labels, key, strict=True)), series.created)
        return family


class _Gauge:
    """A gauge without labels."""

    def __init__(self, name: str, documentation: str) -> None:
        self.name, self.documentation = name, documentation
        self.value = 0.0

    def family(self) -> Metric:
        return GaugeMetricFamily(self.name, self.documentation, value=self.value)


_T = TypeVar("_T", _Counter, _Histogram, _Gauge)


class _Instruments:
    """The collector of the instruments above, in the order they were made (registered once per registry)."""

    def __init__(self) -> None:
        self.made: list[_Counter | _Histogram | _Gauge] = []

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> _Counter:
        return self._add(_Counter(name, documentation, labels))

    def histogram(
        self, name: str, documentation: str, labels: Sequence[str] = (), *, buckets: Sequence[float]
    ) -> _Histogram:
        return self._add(_Histogram(name, documentation, labels, buckets=buckets))

    def gauge(self, name: str, documentation: str) -> _Gauge:
        return self._add(_Gauge(name, documentation))

    def _add(self, instrument: _T) -> _T:
        self.made.append(instrument)
        return instrument

    def collect(self) -> Iterator[Metric]:
        for instrument in self.made:
            yield instrument.family()


class Metrics:
    """The collectors, named `<prefix>_...`. One instance per operator (tests create many)."""

    def __init__(self, prefix: str = "engine") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r, p, made = self.registry, prefix, _Instruments()
        self._events = made.counter(f"{p}_events_received", "Watch events received.", ["kind", "type"])
        self._watch_restarts = made.counter(f"{p}_watch_restarts", "Watch restarts.", ["kind", "reason"])
        self._relists = made.counter(f"{p}_relists", "Full LISTs into an informer cache.", ["kind", "reason"])
        self._queue_depth = made.gauge(f"{p}_queue_depth", "Keys waiting to be evaluated.")
        self._queue_adds = made.counter(f"{p}_queue_adds", "Keys added to the work queue.", ["priority"])
        self._queue_retries = made.counter(f"{p}_queue_retries", "Rate-limited requeues.")
        self._queue_wait = made.histogram(f"{p}_queue_wait_seconds", "Time a key waited in the queue.", buckets=_SLOW)
        self._queue_work = made.histogram(
            f"{p}_queue_work_seconds", "Time from handing a key out to done.", buckets=_SLOW
        )
        self._evaluations = made.counter(f"{p}_evaluations", "Rule evaluations by outcome.", ["rule", "outcome"])
        self._evaluation_seconds = made.histogram(
            f"{p}_evaluation_seconds", "Evaluation latency per rule.", ["rule"], buckets=_FAST
        )
        self._actions = made.counter(f"{p}_actions", "Actions executed, by verb and result.", ["verb", "result"])
        self._api_requests = made.counter(f"{p}_api_requests", "Kubernetes API requests.", ["verb", "code"])
        self._api_seconds = made.histogram(
            f"{p}_api_request_seconds", "Kubernetes API latency.", ["verb"], buckets=_SLOW
        )
        self._reloads = made.counter(f"{p}_reloads", "Rule-set reloads by result.", ["result"])
        r.register(made)
        ProcessCollector(registry=r)  # process_resident_memory_bytes, process_cpu_seconds_total, ... (Linux)
        self._ruleset = Info(f"{p}_ruleset", "The active rule set.", registry=r)
        self._leader = Gauge(
            f"{p}_leader",
            "1 while this process acts: it holds the leader lease, or runs without leader election.",
            registry=r,
        )

    # --- engine.kube.client.ApiObserver -----------------------------------------------------------------

    def api_request(self, verb: str, code: int, seconds: float) -> None:
        self._api_requests.inc((verb, str(code) if code else "error"))
        self._api_seconds.observe(seconds, (verb,))

    # --- engine.kube.informer.InformerObserver ----------------------------------------------------------

    def event_received(self, kind: str, event_type: str) -> None:
        self._events.inc((kind, event_type))

    def watch_restarted(self, kind: str, reason: str) -> None:
        self._watch_restarts.inc((kind, reason))

    def relisted(self, kind: str, reason: str) -> None:
        self._relists.inc((kind, reason))

    # --- engine.runtime.queue.QueueObserver -------------------------------------------------------------

    def queue_added(self, priority: str) -> None:
        self._queue_adds.inc((priority,))

    def queue_depth(self, depth: int) -> None:
        self._queue_depth.value = float(depth)

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
        self._evaluations.inc((rule, outcome))
        self._evaluation_seconds.observe(seconds, (rule,))

    def action(self, verb: str, result: str) -> None:
        self._actions.inc((verb, result))

    def reloaded(self, result: str) -> None:
        self._reloads.inc((result,))

    def set_ruleset_digest(self, digest: str) -> None:
        self._ruleset.info({"digest": digest})

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
