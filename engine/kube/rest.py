"""REST conventions of the Kubernetes API the client speaks: paths, verbs, watch parameters, Status errors.

Where this sits: under engine.kube.client (which sends requests) and its callers (informers, mapper, leader
election), which share these names. Pure functions and records: no I/O.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import orjson

from engine.errors import ApiError
from engine.model import ResourceType

REASON_CONNECTION = "ConnectionError"
REASON_TIMEOUT = "Timeout"
REASON_INACTIVITY = "InactivityTimeout"


class Verb(enum.StrEnum):
    """API verbs, as metric labels."""

    GET = "get"
    LIST = "list"
    WATCH = "watch"
    CREATE = "create"
    UPDATE = "update"
    PATCH = "patch"
    DELETE = "delete"


WRITES = frozenset({Verb.CREATE, Verb.UPDATE, Verb.PATCH, Verb.DELETE})


class ApiObserver(Protocol):
    """Told about every HTTP attempt: verb, status code (0 when no answer), seconds to the response."""

    def api_request(self, verb: str, code: int, seconds: float) -> None: ...


@dataclass(frozen=True, slots=True)
class WatchOptions:
    """One watch request: where to resume, how long the server keeps it, what it filters, how long silence lasts."""

    resource_version: str
    timeout_seconds: int = 300
    label_selector: str = ""
    field_selector: str = ""
    inactivity_timeout: float = 90.0
    bookmarks: bool = True


_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*").fullmatch
"""What `quote(text, safe="")` leaves as it is: every Kubernetes name and namespace, so quoting is skipped."""


def _segment(text: str) -> str:
    return text if _PLAIN(text) else quote(text, safe="")


def resource_path(rt: ResourceType, namespace: str | None = None, name: str = "", subresource: str = "") -> str:
    """The REST path of a collection, an object or its subresource. `namespace` None or "" means all."""
    gvk = rt.gvk
    path = f"/apis/{gvk.group}/{gvk.version}" if gvk.group else f"/api/{gvk.version}"
    if rt.namespaced and namespace:
        path += f"/namespaces/{_segment(namespace)}"
    path += f"/{rt.plural}"
    if name:
        path += f"/{_segment(name)}"
        if subresource:
            path += f"/{subresource}"
    return path


def error_from_response(status: int, headers: Mapping[str, str], data: bytes) -> ApiError:
    """An `ApiError` from an HTTP error answer (a `Status` body when the server sent one)."""
    try:
        body = orjson.loads(data) if data else {}
    except orjson.JSONDecodeError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    details = body.get("details") or {}
    retry_after = _seconds(headers.get("Retry-After"))
    if retry_after is None:
        retry_after = _seconds(details.get("retryAfterSeconds"))
    message = str(body.get("message") or data[:200].decode("utf-8", "replace"))
    return ApiError(status, str(body.get("reason") or ""), message, retry_after)


def error_from_status(obj: Mapping[str, Any]) -> ApiError:
    """An `ApiError` from the `Status` object of a watch ERROR event."""
    details = obj.get("details") or {}
    return ApiError(
        int(obj.get("code") or 500),
        str(obj.get("reason") or ""),
        str(obj.get("message") or ""),
        _seconds(details.get("retryAfterSeconds")),
    )


def _seconds(value: object) -> float | None:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None


def watch_params(options: WatchOptions) -> dict[str, str]:
    params = {"watch": "true", "resourceVersion": options.resource_version}
    if options.bookmarks:
        params["allowWatchBookmarks"] = "true"
    if options.timeout_seconds:
        params["timeoutSeconds"] = str(options.timeout_seconds)
    if options.label_selector:
        params["labelSelector"] = options.label_selector
    if options.field_selector:
        params["fieldSelector"] = options.field_selector
    return params


def encode_default(value: object) -> object:
    """orjson encodes dicts and lists; objects may also hold other mappings and sequences (frozen views)."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def retryable_status(status: int) -> bool:
    return status == 429 or status in (500, 502, 503, 504)
