"""Fault injection: the failures a real API server and network produce, on demand and recorded.

Request faults (HTTP errors with Retry-After, latency, watch streams that stall or close at once,
401s after a token rotation) are rules matched against each request by verb and resource; each fault
applied is written into the request log's `fault` field. Actions (drop every watch, compact the event
history, restart the server) happen at once, on the simulator's loop. Thread-safe: tests call this from
their own thread while the simulator serves. The HTTP layer applies the decisions; this module decides.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubesim.errors import ApiError, Reason
from kubesim.routes import RequestInfo

_ERRORS: dict[int, tuple[Reason, str]] = {
    429: (Reason.TOO_MANY_REQUESTS, "Too many requests, please try again later."),
    500: (Reason.INTERNAL_ERROR, "Internal error occurred: kubesim injected fault"),
    503: (Reason.SERVICE_UNAVAILABLE, "the server is currently unable to handle the request"),
    504: (
        Reason.TIMEOUT,
        "the server was unable to return a response in the time allotted, but may still be processing the request",
    ),
    409: (
        Reason.CONFLICT,
        "the object has been modified; please apply your changes to the latest version and try again",
    ),
    403: (Reason.FORBIDDEN, "forbidden: kubesim injected fault"),
}


class FaultKind(enum.StrEnum):
    """The request-level fault rules."""

    ERROR = "error"
    LATENCY = "latency"
    STALL_WATCH = "stall-watch"
    CLOSE_WATCH = "close-watch"


@dataclass
class Rule:
    """One request-level fault; `remaining` None means until cleared."""

    kind: FaultKind
    verb: str | None = None
    resource: str | None = None
    remaining: int | None = None
    status: int = 503
    retry_after: int | None = None
    seconds: float = 0.0

    def matches(self, info: RequestInfo) -> bool:
        """Whether the rule applies to a request."""
        if self.verb is not None and info.verb != self.verb:
            return False
        return self.resource is None or info.resource == self.resource


@dataclass
class Decision:
    """What to do to one request."""

    error: ApiError | None = None
    latency: float = 0.0
    stall: bool = False
    close: bool = False
    labels: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FaultEvent:
    """An action taken (drop, compact, restart, token rotation), for assertions."""

    timestamp: float
    action: str
    detail: str = ""


class Faults:
    """Fault injection for one simulator (`sim.faults`)."""

    def __init__(self, call: Callable[[Callable[[], Any]], Any]) -> None:
        self._call = call  # runs a function on the simulator's loop and returns its result
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self.log: list[FaultEvent] = []
        self.stalled: set[str | None] = set()  # resources whose watches are stalled (None: all)
        # Set by the simulator: actions it performs on its loop.
        self.on_drop: Callable[[str | None], int] = lambda resource: 0
        self.on_compact: Callable[[], int] = lambda: 0
        self.on_restart: Callable[[float], None] = lambda seconds: None
        self.on_rotate: Callable[[str | None], str] = lambda token: ""
        self.on_reject: Callable[[], None] = lambda: None

    def _event(self, action: str, detail: str = "") -> None:
        with self._lock:
            self.log.append(FaultEvent(time.time(), action, detail))

    def _add(self, rule: Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    # ------------------------------------------------------------ request rules

    def fail_next(
        self,
        count: int = 1,
        status: int = 503,
        *,
        verb: str | None = None,
        resource: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `count` matching requests with `status` (429/500/503/504/409/403), plus Retry-After."""
        if status not in _ERRORS:
            raise ValueError(f"status must be one of {sorted(_ERRORS)}")
        if status == 429 and retry_after is None:
            retry_after = 1
        self._add(Rule(FaultKind.ERROR, verb, resource, count, status, retry_after))

    def fail_always(
        self, status: int = 503, *, verb: str | None = None, resource: str | None = None, retry_after: int | None = None
    ) -> None:
        """Answer every matching request with `status` until `clear()`."""
        self.fail_next(1, status, verb=verb, resource=resource, retry_after=retry_after)
        with self._lock:
            self._rules[-1].remaining = None

    def add_latency(
        self, seconds: float, *, verb: str | None = None, resource: str | None = None, count: int | None = None
    ) -> None:
        """Delay matching requests by `seconds` (all of them until `clear()`, or the next `count`)."""
        self._add(Rule(FaultKind.LATENCY, verb, resource, count, seconds=seconds))

    def stall_watches(self, *, resource: str | None = None) -> None:
        """Make open and new watches of `resource` (all when None) silent: no events, no bookmarks."""
        with self._lock:
            self.stalled.add(resource)
        self._event("stall-watches", resource or "*")

    def close_watches_on_open(self, *, resource: str | None = None, count: int | None = None) -> None:
        """Answer new watches with an empty 200 stream that ends at once (all until `clear()`, or `count`)."""
        self._add(Rule(FaultKind.CLOSE_WATCH, "watch", resource, count))

    def clear(self) -> None:
        """Remove every rule and stall (a token rotation stays)."""
        with self._lock:
            self._rules.clear()
            self.stalled.clear()
        self._event("clear")

    @property
    def rules(self) -> list[Rule]:
        """The active rules."""
        with self._lock:
            return list(self._rules)

    def decide(self, info: RequestInfo) -> Decision:
        """Consume the rules matching one request (the simulator calls this)."""
        decision = Decision()
        with self._lock:
            for rule in list(self._rules):
                if not rule.matches(info):
                    continue
                if rule.kind is FaultKind.CLOSE_WATCH and info.verb != "watch":
                    continue
                if rule.kind is FaultKind.ERROR:
                    if decision.error is not None:
                        continue
                    decision.error = _error(rule)
                    decision.labels.append(f"error:{rule.status}")
                elif rule.kind is FaultKind.LATENCY:
                    decision.latency += rule.seconds
                    decision.labels.append(f"latency:{rule.seconds:g}")
                elif rule.kind is FaultKind.CLOSE_WATCH:
                    decision.close = True
                    decision.labels.append("close-watch")
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
            if info.verb == "watch" and (None in self.stalled or info.resource in self.stalled):
                decision.stall = True
                decision.labels.append("stall-watch")
        return decision

    def is_stalled(self, resource: str) -> bool:
        """Whether watches of a resource are stalled now."""
        with self._lock:
            return None in self.stalled or resource in self.stalled

    # ------------------------------------------------------------ actions

    def drop_watches(self, *, resource: str | None = None) -> int:
        """End every open watch (of `resource`, or all) now; returns how many were closed."""
        dropped = int(self._call(lambda: self.on_drop(resource)))
        self._event("drop-watches", f"{resource or '*'}: {dropped}")
        return dropped

    def compact(self) -> str:
        """Forget the event history: a watch from any resourceVersion before now gets 410 Expired."""
        rv = str(self._call(self.on_compact))
        self._event("compact", rv)
        return rv

    def restart(self, down_for: float = 0.0) -> None:
        """Close every connection and refuse new ones for `down_for` seconds; the store (and RVs) survive."""
        self._event("restart", f"{down_for:g}s")
        self._call(lambda: self.on_restart(down_for))

    def reject_tokens(self) -> None:
        """Answer 401 to every token (the accepted one included) until `rotate_token()`."""
        self._call(self.on_reject)
        self._event("reject-tokens")

    def rotate_token(self, token: str | None = None) -> str:
        """Accept only a new bearer token (generated when None), rewrite the kubeconfig; returns it."""
        new = str(self._call(lambda: self.on_rotate(token)))
        self._event("rotate-token")
        return new


def _error(rule: Rule) -> ApiError:
    reason, message = _ERRORS[rule.status]
    details: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if rule.retry_after is not None:
        details["retryAfterSeconds"] = rule.retry_after
        headers["Retry-After"] = str(rule.retry_after)
    if rule.status == 500:
        details["causes"] = [{"reason": "UnexpectedServerResponse", "message": "kubesim injected fault"}]
    return ApiError(rule.status, reason, message, details, headers)
