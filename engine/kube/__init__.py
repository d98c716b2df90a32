"""The real cluster: connection settings, the raw-JSON HTTP client, discovery, list+watch informers, caches.

HTTP is engine.kube.http's own small HTTP/1.1 client (the engine does not import aiohttp), and only engine.kube.config imports the official `kubernetes` package (for kubeconfig and in-cluster
loading). See docs/architecture.md.
"""

from engine.kube.cache import CacheRegistry, EventKind, ObjectCache, drop_paths, strip
from engine.kube.client import ClientOptions, KubeClient
from engine.kube.cluster import HttpCluster
from engine.kube.config import ConfigError, Credentials, KubeSettings, load_settings
from engine.kube.informer import (
    Handler,
    Informer,
    InformerKey,
    InformerObserver,
    InformerOptions,
    InformerState,
    RelistReason,
    RestartReason,
)
from engine.kube.mapper import KindNotFoundError, RESTMapper
from engine.kube.registry import InformerSet
from engine.kube.rest import ApiObserver, Verb, WatchOptions, resource_path
from engine.kube.timing import (
    SYSTEM_CLOCK,
    Backoff,
    BackoffPolicy,
    Clock,
    ManualClock,
    SystemClock,
    TokenBucket,
)

__all__ = [
    "SYSTEM_CLOCK",
    "ApiObserver",
    "Backoff",
    "BackoffPolicy",
    "CacheRegistry",
    "ClientOptions",
    "Clock",
    "ConfigError",
    "Credentials",
    "EventKind",
    "Handler",
    "HttpCluster",
    "Informer",
    "InformerKey",
    "InformerObserver",
    "InformerOptions",
    "InformerSet",
    "InformerState",
    "KindNotFoundError",
    "KubeClient",
    "KubeSettings",
    "ManualClock",
    "ObjectCache",
    "RESTMapper",
    "RelistReason",
    "RestartReason",
    "SystemClock",
    "TokenBucket",
    "Verb",
    "WatchOptions",
    "drop_paths",
    "load_settings",
    "resource_path",
    "strip",
]
