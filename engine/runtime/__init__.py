"""The operator process around the evaluator: work queue, leader election, probes, metrics, logs.

The reactor (rules → informers → queue → evaluate → execute) and hot reload live here too and wire these
pieces; each piece takes its collaborators as constructor arguments and exposes async start/run/stop.
"""

from engine.runtime.health import Check, EndpointOptions, HealthServer
from engine.runtime.leader import LeaderElector, LeaderObserver, LeaderOptions, default_identity
from engine.runtime.logs import LogFormat, configure_logging, redact, redact_text
from engine.runtime.metrics import Metrics
from engine.runtime.queue import Priority, QueueObserver, QueueOptions, WorkQueue

__all__ = [
    "Check",
    "EndpointOptions",
    "HealthServer",
    "LeaderElector",
    "LeaderObserver",
    "LeaderOptions",
    "LogFormat",
    "Metrics",
    "Priority",
    "QueueObserver",
    "QueueOptions",
    "WorkQueue",
    "configure_logging",
    "default_identity",
    "redact",
    "redact_text",
]
