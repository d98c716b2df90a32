"""A small in-test Kubernetes API server (aiohttp on 127.0.0.1) with fault knobs.

It is the one boundary the kube and runtime tests fake: list (limit/continue, label selectors), watch (from
a resourceVersion, history window, bookmarks, timeoutSeconds), get/create/replace/patch/delete with
resourceVersion and uid preconditions, discovery documents, bearer-token auth, and scripted faults
(`Fault`): an HTTP status with Retry-After, an immediate close, a stall, a connection reset, an ERROR event,
a delay. Every request is recorded in `requests`.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
from aiohttp import web

from engine.kube.timing import ManualClock
from engine.model import GVK, ResourceType

JOBS = ResourceType(GVK("batch", "v1", "Job"), "jobs", True)
CONFIGMAPS = ResourceType(GVK("", "v1", "ConfigMap"), "configmaps", True)
WIDGETS = ResourceType(GVK("example.com", "v1", "Widget"), "widgets", True)
NAMESPACES = ResourceType(GVK("", "v1", "Namespace"), "namespaces", False)
LEASES = ResourceType(GVK("coordination.k8s.io", "v1", "Lease"), "leases", True)


async def eventually(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    """Wait (real time, polling) until `condition()` holds; fail with a clear message otherwise."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"condition not met within {timeout} s") from None


async def drive(clock: ManualClock, tasks: list[asyncio.Task[Any]], timeout: float = 5.0) -> None:
    """Run `tasks` in virtual time: whenever every unfinished task is blocked in `clock.sleep()` (so no
    request is in flight), jump the clock to the next deadline. Time never moves under an open request."""

    def quiet() -> bool:
        return clock.sleepers == sum(1 for t in tasks if not t.done())

    async with asyncio.timeout(timeout):
        while not all(t.done() for t in tasks):
            await eventually(quiet, timeout)
            deadline = clock.next_deadline
            if deadline is not None and not all(t.done() for t in tasks):
                await clock.advance(max(0.0, deadline - clock.monotonic()))
    for task in tasks:
        task.result()


@dataclass
class Fault:
    """A scripted answer for the next `times` requests that match `method`, `watch` and `path`."""

    method: str = "GET"
    watch: bool | None = None
    path: str = ""
    status: int = 0
    """Answer with this status and `body` (a Status object when None)."""
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    action: str = ""
    """`close`: 200 and end at once; `stall`: 200 and say nothing; `reset`: drop the connection;
    `gone`: 200 then an ERROR event with a 410 Status; `delay`: wait `delay` seconds, then answer normally."""
    delay: float = 0.0
    times: int = 1

    def matches(self, method: str, path: str, watch: bool) -> bool:
        return (
            self.method == method
            and (self.watch is None or self.watch == watch)
            and (not self.path or self.path in path)
        )


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    authorization: str
    body: Any
    at: float = 0.0
    """When it arrived, on the clock given to `FakeApi` (virtual time in tests that use one)."""
    status: int = 0


def status_body(code: int, reason: str, message: str, retry_after: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code}
    body.update(reason=reason, message=message)
    if retry_after is not None:
        body["details"] = {"retryAfterSeconds": retry_after}
    return body


def _selected(obj: dict[str, Any], selector: str) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


class _Watcher:
    def __init__(self, rt: ResourceType, namespace: str, selector: str) -> None:
        self.rt, self.namespace, self.selector = rt, namespace, selector
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def wants(self, rt: ResourceType, obj: dict[str, Any]) -> bool:
        ns = obj.get("metadata", {}).get("namespace", "")
        return rt == self.rt and (not self.namespace or ns == self.namespace) and _selected(obj, self.selector)


class FakeApi:
    def __init__(
        self, resources: list[ResourceType], *, token: str | None = None, clock: Callable[[], float] | None = None
    ) -> None:
        self.clock = clock
        self.resources = {(rt.gvk.group, rt.gvk.version, rt.plural): rt for rt in resources}
        self.token = token
        self.objects: dict[ResourceType, dict[tuple[str, str], dict[str, Any]]] = {rt: {} for rt in resources}
        self.history: list[tuple[int, ResourceType, str, dict[str, Any]]] = []
        self.history_floor = 0
        self.rv = 100
        self.faults: list[Fault] = []
        self.requests: list[Recorded] = []
        self.watchers: set[_Watcher] = set()
        self._uids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        if not self.port:
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for watcher in list(self.watchers):
            watcher.queue.put_nowait(None)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def restart(self, down_for: float) -> None:
        """Drop every connection, refuse connections for `down_for` seconds, then serve again on the same port."""
        await self.stop()
        await asyncio.sleep(down_for)
        await self.start()

    # --- state changes (each is one watch event) --------------------------------------------------------

    def _record(self, rt: ResourceType, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.history.append((self.rv, rt, kind, copy.deepcopy(obj)))
        for watcher in self.watchers:
            if watcher.wants(rt, obj):
                watcher.queue.put_nowait({"type": kind, "object": copy.deepcopy(obj)})
        return obj

    def add(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        obj.setdefault("apiVersion", rt.gvk.api_version)
        obj.setdefault("kind", rt.gvk.kind)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{next(self._uids)}")
        meta.setdefault("namespace", "default" if rt.namespaced else "")
        self.objects[rt][(meta["namespace"], meta["name"])] = obj
        return self._record(rt, "ADDED", obj)

    def modify(self, rt: ResourceType, namespace: str, name: str, **changes: Any) -> dict[str, Any]:
        obj = self.objects[rt][(namespace, name)]
        obj.update(copy.deepcopy(changes))
        return self._record(rt, "MODIFIED", obj)

    def remove(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        obj = self.objects[rt].pop((namespace, name))
        return self._record(rt, "DELETED", obj)

    def change_unseen(self, rt: ResourceType, add: Sequence[dict[str, Any]] = (), remove: Sequence[str] = ()) -> None:
        """Change state with no watch event and compact the history, as if it all happened while nobody
        watched long ago: a watch from any resourceVersion seen before gets 410."""
        watchers, self.watchers = self.watchers, set()
        for obj in add:
            self.add(rt, obj)
        for name in remove:
            self.remove(rt, "ns", name)
        self.watchers = watchers
        self.compact()

    def compact(self) -> None:
        """Forget the watch history: a watch from any older resourceVersion gets 410."""
        self.history.clear()
        self.history_floor = self.rv

    def bookmark(self) -> None:
        for watcher in self.watchers:
            watcher.queue.put_nowait({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": str(self.rv)}}})

    def close_watches(self) -> None:
        for watcher in self.watchers:
            watcher.queue.put_nowait(None)

    def count(self, method: str, *, watch: bool | None = None, path: str = "") -> int:
        return sum(
            1
            for r in self.requests
            if r.method == method and (watch is None or (r.query.get("watch") == "true") == watch) and path in r.path
        )

    # --- HTTP -------------------------------------------------------------------------------------------

    def _route(self, path: str) -> tuple[ResourceType | None, str, str, str, tuple[str, str] | None]:
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None, "", "", "", None
        if not rest:
            return None, "", "", "", (group, version)
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        rt = self.resources.get((group, version, rest[0]))
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        return rt, namespace, name, sub, None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        query = dict(request.query)
        record = Recorded(
            request.method,
            request.path,
            query,
            request.headers.get("Authorization", ""),
            json.loads(body) if body else None,
            self.clock() if self.clock else asyncio.get_running_loop().time(),
        )
        self.requests.append(record)
        watch = query.get("watch") == "true"
        if self.token is not None and record.authorization != f"Bearer {self.token}":
            record.status = 401
            return web.json_response(status_body(401, "Unauthorized", "Unauthorized"), status=401)
        for fault in self.faults:
            if fault.matches(request.method, request.path, watch):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                answer = await self._fault(request, fault)
                if answer is not None:
                    record.status = answer.status
                    return answer
                break
        rt, namespace, name, _, discovery = self._route(request.path)
        if discovery is not None:
            return self._discovery(*discovery)
        if rt is None:
            return web.json_response(status_body(404, "NotFound", "the server could not find the resource"), status=404)
        if watch:
            return await self._watch(request, rt, namespace, query)
        answer = self._crud(
            method=request.method,
            rt=rt,
            namespace=namespace,
            name=name,
            query=query,
            body=record.body,
            ctype=request.content_type,
        )
        record.status = answer.status
        return answer

    async def _fault(self, request: web.Request, fault: Fault) -> web.StreamResponse | None:
        if fault.action == "delay":
            await asyncio.sleep(fault.delay)
            return None
        if fault.action == "reset":
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        if fault.status:
            body = fault.body or status_body(fault.status, "Injected", f"injected {fault.status}")
            return web.json_response(body, status=fault.status, headers=fault.headers)
        answer = web.StreamResponse()
        await answer.prepare(request)
        if fault.action == "stall":
            await asyncio.sleep(3600)
        if fault.action == "gone":
            event = {"type": "ERROR", "object": status_body(410, "Expired", "too old resource version")}
            await answer.write(json.dumps(event).encode() + b"\n")
        return answer

    def _discovery(self, group: str, version: str) -> web.Response:
        resources = [
            {"name": rt.plural, "kind": rt.gvk.kind, "namespaced": rt.namespaced, "verbs": ["get", "list"]}
            for (g, v, _), rt in self.resources.items()
            if (g, v) == (group, version)
        ]
        if not resources:
            return web.json_response(status_body(404, "NotFound", "no such group-version"), status=404)
        resources += [
            {"name": f"{r['name']}/status", "kind": r["kind"], "namespaced": r["namespaced"]} for r in resources
        ]
        gv = f"{group}/{version}" if group else version
        return web.json_response({"kind": "APIResourceList", "groupVersion": gv, "resources": resources})

    def _list_items(self, rt: ResourceType, namespace: str, selector: str) -> list[dict[str, Any]]:
        items = [
            obj
            for (ns, _), obj in sorted(self.objects[rt].items())
            if (not namespace or ns == namespace) and _selected(obj, selector)
        ]
        return copy.deepcopy(items)

    async def _watch(
        self, request: web.Request, rt: ResourceType, namespace: str, query: dict[str, str]
    ) -> web.StreamResponse:
        answer = web.StreamResponse()
        await answer.prepare(request)
        since = int(query.get("resourceVersion") or 0)
        if since and since < self.history_floor:
            event = {"type": "ERROR", "object": status_body(410, "Expired", "too old resource version")}
            await answer.write(json.dumps(event).encode() + b"\n")
            return answer
        watcher = _Watcher(rt, namespace, query.get("labelSelector", ""))
        for rv, hrt, kind, obj in self.history:
            if rv > since and watcher.wants(hrt, obj):
                watcher.queue.put_nowait({"type": kind, "object": copy.deepcopy(obj)})
        self.watchers.add(watcher)
        try:
            async with asyncio.timeout(float(query.get("timeoutSeconds") or 3600)):
                while (event := await watcher.queue.get()) is not None:
                    await answer.write(json.dumps(event).encode() + b"\n")
        except TimeoutError:
            pass
        finally:
            self.watchers.discard(watcher)
        return answer

    def _crud(
        self,
        *,
        method: str,
        rt: ResourceType,
        namespace: str,
        name: str,
        query: dict[str, str],
        body: Any,
        ctype: str,
    ) -> web.Response:
        store = self.objects[rt]
        if method == "GET" and not name:
            items = self._list_items(rt, namespace, query.get("labelSelector", ""))
            offset = int(query.get("continue") or 0)
            limit = int(query.get("limit") or 0) or len(items) or 1
            page = items[offset : offset + limit]
            meta: dict[str, Any] = {"resourceVersion": str(self.rv)}
            if offset + limit < len(items):
                meta["continue"] = str(offset + limit)
            for item in page:
                if rt.gvk.group == "":
                    item.pop("apiVersion", None)
                    item.pop("kind", None)
            return web.json_response({"kind": f"{rt.gvk.kind}List", "metadata": meta, "items": page})
        if method == "POST":
            meta = body.setdefault("metadata", {})
            if not meta.get("name"):
                meta["name"] = meta.get("generateName", "x-") + str(next(self._uids))
            if (namespace, meta["name"]) in store:
                return web.json_response(
                    status_body(409, "AlreadyExists", f"{meta['name']} already exists"), status=409
                )
            meta["namespace"] = namespace
            return web.json_response(self.add(rt, body), status=201)
        obj = store.get((namespace, name))
        if obj is None:
            return web.json_response(status_body(404, "NotFound", f"{rt.plural} {name!r} not found"), status=404)
        if method == "GET":
            return web.json_response(obj)
        if method == "DELETE":
            pre = (body or {}).get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != obj["metadata"]["uid"]:
                return web.json_response(status_body(409, "Conflict", "Precondition failed: UID"), status=409)
            return web.json_response(self.remove(rt, namespace, name))
        if method == "PUT":
            if body["metadata"].get("resourceVersion") != obj["metadata"]["resourceVersion"]:
                return web.json_response(status_body(409, "Conflict", "the object has been modified"), status=409)
            body["metadata"]["uid"] = obj["metadata"]["uid"]
            store[(namespace, name)] = body
            return web.json_response(self._record(rt, "MODIFIED", body))
        if method == "PATCH":
            if ctype == "application/json-patch+json":
                patched = jsonpatch.apply_patch(obj, body)
            else:
                patched = _merge(copy.deepcopy(obj), body)
            store[(namespace, name)] = patched
            return web.json_response(self._record(rt, "MODIFIED", patched))
        return web.json_response(status_body(405, "MethodNotAllowed", method), status=405)


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = _merge(target.get(key), value)
    return target
