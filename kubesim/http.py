"""The HTTP API of one simulator: authentication, faults, the request log, and routing.

`kubesim.wire` parses each request; `handle` decomposes it (`kubesim.routes`), checks the bearer token, applies the
fault decisions, and hands resource requests to `kubesim.handlers`; discovery, OpenAPI, /version and
health checks are answered here; `/kubesim/...` is the admin endpoint (faults, request log, clock),
which needs no token. Every request ends up in the request log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any

from kubesim import errors
from kubesim.discovery import AGGREGATED_TYPES, version_info, wants_aggregated
from kubesim.errors import ApiError
from kubesim.faults import Decision
from kubesim.handlers import ResourceHandler, respond
from kubesim.meta import loads
from kubesim.reqlog import RequestRecord
from kubesim.routes import RequestInfo, parse
from kubesim.runtime import Runtime
from kubesim.wire import Answer, Request, Response, StreamResponse

log = logging.getLogger("kubesim")
_ANONYMOUS = ("/version", "/healthz", "/livez", "/readyz")
_NOT_FOUND = "the server could not find the requested resource"


def _not_found() -> ApiError:
    return ApiError(404, errors.Reason.NOT_FOUND, _NOT_FOUND, {})


class HttpApi:
    """The request handler of one simulator."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.resources = ResourceHandler(runtime)

    def handle(self, request: Request) -> Answer:
        """Serve and log one request: an answer now, or a coroutine when it must wait (watch, latency, admin)."""
        started = time.monotonic()
        query = request.query
        info = parse(request.method, request.path, query.get("watch", "").lower() in ("true", "1"))
        record = RequestRecord(
            time.time(),
            request.method,
            info.verb,
            request.path,
            dict(query) if query else {},
            info.group,
            info.version,
            info.resource,
            info.subresource,
            info.namespace,
            info.name,
            user_agent=request.headers.get("User-Agent", ""),
        )
        try:
            if request.path.startswith("/kubesim/"):
                return self._later(request, self.admin(request), record, started)
            self.authenticate(request, record)
            decision = self.runtime.faults.decide(info)
            if decision.labels:
                record.fault = ",".join(decision.labels)
            if decision.latency or (info.verb == "watch" and info.is_resource):
                return self._waited(request, info, decision, record, started)
            if decision.error is not None:
                raise decision.error
            response = self.dispatch(request, info)
        except Exception as error:
            response = self._failure(request, error)
        return self._done(response, record, started)

    def _done(self, response: Response, record: RequestRecord, started: float) -> Response:
        record.status = response.status
        record.duration = time.monotonic() - started
        self.runtime.requests.append(record)
        return response

    @staticmethod
    def _failure(request: Request, error: Exception) -> Response:
        if not isinstance(error, ApiError):
            log.error("kubesim failed to serve %s %s", request.method, request.path, exc_info=error)
            error = ApiError(500, errors.Reason.INTERNAL_ERROR, f"Internal error occurred: {error!r}", {})
        response = respond(error.status(), error.code)
        for key, value in error.headers.items():
            response.headers[key] = value
        return response

    async def _later(
        self, request: Request, answer: Awaitable[Response], record: RequestRecord, started: float
    ) -> Response:
        try:
            response = await answer
        except Exception as error:
            response = self._failure(request, error)
        return self._done(response, record, started)

    async def _waited(
        self, request: Request, info: RequestInfo, decision: Decision, record: RequestRecord, started: float
    ) -> Response | StreamResponse:
        """Requests that wait: injected latency, then the request; watches (logged when they open)."""
        try:
            if decision.latency:
                await asyncio.sleep(decision.latency)
            if decision.error is not None:
                raise decision.error
            if info.verb == "watch" and info.is_resource:
                self.resources.resolve(info)
                record.status = 200
                self.runtime.requests.append(record)
                try:
                    if decision.close:
                        stream = StreamResponse(status=200, headers={"Content-Type": "application/json"})
                        await stream.prepare(request)
                        await stream.write_eof()
                    else:
                        stream = await self.resources.watch(request, info, decision.stall)
                finally:
                    record.duration = time.monotonic() - started
                return stream
            response = self.dispatch(request, info)
        except ConnectionResetError:
            raise  # the client left: there is no one to answer
        except Exception as error:
            response = self._failure(request, error)
            if record.status:  # a watch, logged when it opened, refused before streaming (bad resourceVersion)
                record.status = response.status
                return response
        return self._done(response, record, started)

    def authenticate(self, request: Request, record: RequestRecord) -> None:
        """401 for a wrong token (or any token while tokens are rejected); anonymous only for /version and health."""
        header = request.headers.get("Authorization", "")
        runtime = self.runtime
        if not header:
            # client-go sends no credentials over plain HTTP, so a plain-HTTP simulator admits anonymous requests.
            if request.path in _ANONYMOUS or runtime.extra.get("anonymous"):
                return
            raise errors.unauthorized()
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != runtime.token or runtime.rejecting_tokens:
            record.fault = (
                "token-rejected"
                if runtime.rejecting_tokens or token.strip() in runtime.extra.get("old_tokens", ())
                else ""
            )
            raise errors.unauthorized()

    def dispatch(self, request: Request, info: RequestInfo) -> Response:
        """Route a non-watch request."""
        runtime = self.runtime
        path = request.path.rstrip("/") or "/"
        if info.is_resource:
            return self.resources.handle(request, info)
        if request.method not in ("GET", "HEAD"):
            raise errors.method_not_allowed()
        accept = request.headers.get("Accept", "")
        if path == "/version":
            return respond(version_info(runtime.settings.minor))
        if path in _ANONYMOUS:
            return Response(b"ok", content_type="text/plain; charset=utf-8")
        if path in ("/api", "/apis"):
            which = wants_aggregated(accept)
            if which is not None:
                doc = runtime.discovery.aggregated(path == "/api", which)
                return respond(doc, content_type=AGGREGATED_TYPES[which])
            if path == "/api":
                runtime.discovery.server_address = request.host
                return respond(runtime.discovery.api_versions())
            return respond(runtime.discovery.api_groups())
        parts = info.parts
        if parts and parts[0] == "apis" and len(parts) == 2:
            group_doc = runtime.discovery.api_group(parts[1])
            if group_doc is None:
                raise _not_found()
            return respond(group_doc)
        if parts and parts[0] in ("api", "apis") and len(parts) in (2, 3):
            resource_list = runtime.discovery.resource_list(info.group, info.version)
            if resource_list is None:
                raise _not_found()
            return respond(resource_list)
        if path == "/openapi/v3":
            return respond(runtime.openapi.root())
        if path.startswith("/openapi/v3/"):
            rest = path[len("/openapi/v3/") :].split("/")
            encoded: tuple[bytes, str] | None = None
            if rest[0] == "api" and len(rest) == 2:
                encoded = runtime.openapi.document("", rest[1])
            elif rest[0] == "apis" and len(rest) == 3:
                encoded = runtime.openapi.document(rest[1], rest[2])
            if encoded is None:
                raise _not_found()
            return Response(
                encoded[0],
                headers={
                    "Content-Type": "application/json",
                    "Etag": f'"{encoded[1]}"',
                    "Cache-Control": "public, immutable",
                },
            )
        raise _not_found()

    async def admin(self, request: Request) -> Response:
        """`/kubesim/faults`, `/kubesim/requests`, `/kubesim/advance`: the control plane of the simulator."""
        runtime = self.runtime
        path = request.path.rstrip("/")
        if path == "/kubesim/requests":
            if request.method == "DELETE":
                runtime.requests.clear()
                return respond({"cleared": True})
            records = runtime.requests.filter(verb=request.query.get("verb"), resource=request.query.get("resource"))
            return respond({"items": [r.as_dict() for r in records]})
        if path == "/kubesim/faults":
            faults = runtime.faults
            if request.method == "GET":
                return respond(
                    {
                        "rules": [vars(rule) for rule in faults.rules],
                        "log": [vars(event) for event in faults.log],
                    }
                )
            if request.method == "DELETE":
                faults.clear()
                return respond({"cleared": True})
            body: Any = loads(await request.read() or b"{}")
            return respond({"result": await self._fault_action(body)})
        if path == "/kubesim/advance" and request.method == "POST":
            body = loads(await request.read() or b"{}")
            await runtime.advance(float(body.get("seconds", 0)))
            return respond({"now": runtime.clock.now()})
        raise _not_found()

    async def _fault_action(self, body: dict[str, Any]) -> Any:
        faults = self.runtime.faults
        action = body.pop("action", "")
        # Actions that reach back into the loop run their loop-side part directly (we are on the loop).
        match action:
            case "fail_next":
                faults.fail_next(**body)
                return None
            case "fail_always":
                faults.fail_always(**body)
                return None
            case "add_latency":
                faults.add_latency(**body)
                return None
            case "stall_watches":
                faults.stall_watches(**body)
                return None
            case "close_watches_on_open":
                faults.close_watches_on_open(**body)
                return None
            case "drop_watches":
                return faults.drop_watches(**body)
            case "compact":
                return faults.compact()
            case "restart":
                faults.restart(**body)
                return None
            case "reject_tokens":
                faults.reject_tokens()
                return None
            case "rotate_token":
                return faults.rotate_token(**body)
            case "clear":
                faults.clear()
                return None
        raise errors.bad_request(f"unknown fault action {action!r}")
