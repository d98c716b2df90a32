"""The kopf peer: Arcane's stream lifecycle written the way kopf's documentation recommends.

Run as `KUBECONFIG=FILE PEER_STATS_PORT=N kopf run --standalone --all-namespaces bench/peers/kopf_operator.py`
(bench.operators does). It is the operator a Python team would otherwise write, and it is written to be
fast, so that the comparison means something:

- **level-based reconciliation**, as kopf's "Reconciliation" page prescribes: in-memory **indexes**
  (`@kopf.index`) of the children (Jobs by stream, BackfillRequests by stream) and of the templates
  instead of API reads, and low-level `@kopf.on.event` handlers for the streams and their children that
  reconcile the stream; no change-detecting handlers, hence no diff-base or progress annotations to write;
- **async handlers** (kopf's "Async/Await": they run on kopf's loop, no thread hops) and one aiohttp
  session with raw JSON for the API calls kopf leaves to the operator (kopf is not a client library);
- children built from the StreamingJobTemplate and attached with **`kopf.adopt`** (owner reference,
  namespace, the owner's labels); a request's own status through the handler's **`patch.status`**; Events
  through `kopf.info`/`kopf.warn`;
- settings tuned for many objects as the configuration page suggests: chunked initial lists, server-side
  watch timeouts; no peering (`--standalone`).

The lifecycle is the one rules/stream.yaml encodes for the demo plugin (layout v1, changeCapture): a new
stream requests its initial backfill (a BackfillRequest it owns) and goes Pending; Pending with an active
request starts the backfill Job (Backfilling); a completed backfill completes the request (Pending);
Pending without a request starts the streaming Job (Running); a Running stream's Job is recreated when
deleted and replaced when the spec hash changes; suspend deletes the Jobs (Suspended); resume goes back to
Pending; a BackfillRequest stops the streaming Job and backfills; a failed Job fails the stream. Simpler
than ours: the configuration hash is an md5 of the sorted spec JSON, no layouts v0/v2, no CronJob backend,
no stale-request marking, no StreamClass status.

kopf reconciles a stream from several per-object workers (its own events and its children's), so each
stream has an asyncio lock, and the peer remembers its own recent writes until the indexes show them
(a phase it wrote, a Job it created or deleted, a request it created or completed): reconciling on an
index that has not seen our last write would repeat it (a second request, a stream Running before its
backfill). kopf offers no such read-your-writes guard; this is what a careful kopf author adds.

A small stats endpoint (`GET /stats` on PEER_STATS_PORT) tells the harness whether handlers run (kopf
delays every handler until every index is filled) and how many distinct streams were reconciled.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import json
import logging
import os
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import kopf
from aiohttp import web

STREAMS = (
    os.environ.get("PEER_STREAM_GROUP", "demo.arcane.dev"),
    os.environ.get("PEER_STREAM_VERSION", "v1"),
    os.environ.get("PEER_STREAM_PLURAL", "demostreams"),
)
STREAM_KIND = os.environ.get("PEER_STREAM_KIND", "DemoStream")
STREAM_CLASS = os.environ.get("PEER_STREAM_CLASS", "demo")
ARCANE = "streaming.sneaksanddata.com"
REQUESTS = (ARCANE, "v1", "backfillrequests")
TEMPLATES = (ARCANE, "v1", "streamingjobtemplates")
JOBS = ("batch", "v1", "jobs")
CLASSES = (ARCANE, "v1", "streamclasses")
STREAM_ID = "arcane/stream-id"
REMEMBER = 30.0
"""Seconds a write of ours is trusted over an index that does not show it yet."""

View = dict[str, Any]
log = logging.getLogger("arcane.peer")


# --- the API client kopf leaves to us ------------------------------------------------------------------


class Client:
    """Raw JSON over one aiohttp session, with the credentials kopf's kubeconfig login finds."""

    def __init__(self, info: Any) -> None:
        context: ssl.SSLContext | bool = True
        if str(info.server).startswith("https"):
            cadata = base64.b64decode(info.ca_data).decode() if info.ca_data else None
            context = ssl.create_default_context(cafile=info.ca_path, cadata=cadata)
        headers = {"Accept": "application/json", "User-Agent": "arcane-kopf-peer"}
        if info.token:
            headers["Authorization"] = f"Bearer {info.token}"
        self.session = aiohttp.ClientSession(
            str(info.server), headers=headers, connector=aiohttp.TCPConnector(ssl=context, limit=64)
        )

    async def call(
        self, method: str, path: str, *, body: Any = None, params: dict[str, str] | None = None, patch: bool = False
    ) -> tuple[int, View]:
        headers = {"Content-Type": "application/merge-patch+json" if patch else "application/json"}
        data = json.dumps(body) if body is not None else None
        async with self.session.request(method, path, data=data, params=params, headers=headers) as response:
            raw = await response.read()
            return response.status, (json.loads(raw) if raw else {})


def _path(resource: tuple[str, str, str], namespace: str, name: str = "", sub: str = "") -> str:
    group, version, plural = resource
    base = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    return "/".join(p for p in (f"{base}/namespaces/{namespace}/{plural}", name, sub) if p)


class ApiError(Exception):
    pass


def _check(status: int, body: View, what: str, ok: tuple[int, ...]) -> View:
    if status not in ok:
        raise ApiError(f"{what}: HTTP {status}: {str(body.get('message', body))[:200]}")
    return body


# --- state the peer keeps --------------------------------------------------------------------------------


@dataclass
class Remembered:
    """Our own recent writes for one stream, until the indexes show them."""

    phase: str | None = None
    phase_rv: int = 0
    jobs_created: dict[str, tuple[float, View]] = field(default_factory=dict)
    jobs_deleted: dict[str, float] = field(default_factory=dict)
    requests_created: dict[str, tuple[float, View]] = field(default_factory=dict)
    requests_completed: dict[str, float] = field(default_factory=dict)


@dataclass
class State:
    client: Client | None = None
    locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)
    remembered: dict[tuple[str, str], Remembered] = field(default_factory=dict)
    reconciled: set[tuple[str, str]] = field(default_factory=set)
    reconciles: int = 0
    errors: int = 0
    inflight: int = 0
    ready: bool = False
    stats: web.AppRunner | None = None


STATE = State()


# --- startup: settings, client, stats ----------------------------------------------------------------------


@kopf.on.startup()
async def configure(*, settings: kopf.OperatorSettings, logger: Any, **_: Any) -> None:
    settings.watching.chunk_size = 500
    settings.watching.server_timeout = 600
    settings.watching.client_timeout = 660
    settings.posting.level = logging.INFO
    info = kopf.login_with_kubeconfig(settings=settings)
    if info is None:
        raise kopf.PermanentError("no kubeconfig: set KUBECONFIG")
    STATE.client = Client(info)
    port = os.environ.get("PEER_STATS_PORT")
    if port:
        app = web.Application()
        app.router.add_get("/stats", _stats)
        STATE.stats = web.AppRunner(app, access_log=None)
        await STATE.stats.setup()
        await web.TCPSite(STATE.stats, "127.0.0.1", int(port)).start()


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    if STATE.client is not None:
        await STATE.client.session.close()
    if STATE.stats is not None:
        await STATE.stats.cleanup()


async def _stats(_request: web.Request) -> web.Response:
    return web.json_response(
        {
            "ready": STATE.ready,
            "streams": len(STATE.reconciled),
            "reconciles": STATE.reconciles,
            "errors": STATE.errors,
            "inflight": STATE.inflight,
        }
    )


# --- indexes --------------------------------------------------------------------------------------------


def _rv(meta: Any) -> int:
    try:
        return int(meta.get("resourceVersion") or 0)
    except ValueError:
        return 0


def _stream_view(body: Any) -> View:
    meta = body.get("metadata") or {}
    return {
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "uid": meta.get("uid"),
        "labels": dict(meta.get("labels") or {}),
        "created": meta.get("creationTimestamp") or "",
        "rv": _rv(meta),
        "spec": copy.deepcopy(dict(body.get("spec") or {})),
        "phase": (body.get("status") or {}).get("phase"),
    }


@kopf.index(*STREAMS)
async def streams(*, namespace: str | None, name: str, body: kopf.Body, **_: Any) -> Any:
    return {(namespace, name): _stream_view(body)}


@kopf.index("batch", "v1", "jobs", labels={STREAM_ID: kopf.PRESENT})
async def jobs(
    *,
    namespace: str | None,
    name: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    status: kopf.Status,
    meta: kopf.Meta,
    **_: Any,
) -> Any:
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or ()}
    view = {
        "name": name,
        "hash": annotations.get("configuration-hash"),
        "complete": conditions.get("Complete") == "True",
        "failed": conditions.get("Failed") == "True",
        "deleting": bool(meta.get("deletionTimestamp")),
    }
    return {(namespace, labels[STREAM_ID]): view}


@kopf.index(*REQUESTS)
async def requests(*, namespace: str | None, name: str, spec: kopf.Spec, meta: kopf.Meta, **_: Any) -> Any:
    view = {
        "name": name,
        "class": spec.get("streamClass"),
        "completed": spec.get("completed") is True,
        "created": meta.get("creationTimestamp") or "",
        "owners": [ref.get("uid") for ref in meta.get("ownerReferences") or ()],
        "deleting": bool(meta.get("deletionTimestamp")),
    }
    return {(namespace, spec.get("streamId")): view}


@kopf.index(*TEMPLATES)
async def templates(*, namespace: str | None, name: str, body: kopf.Body, **_: Any) -> Any:
    return {(namespace, name): copy.deepcopy(dict(body.get("spec") or {}))}


@kopf.index(*CLASSES)
async def streamclasses(*, name: str, **_: Any) -> Any:
    return {name: True}


# --- handlers ------------------------------------------------------------------------------------------


@kopf.on.event(*TEMPLATES)
async def template_seen(**_: Any) -> None:
    STATE.ready = True  # kopf runs no handler before every index is filled


@kopf.on.event(*STREAMS)
async def stream_event(
    *, event: kopf.RawEvent, body: kopf.Body, namespace: str | None, name: str, **kwargs: Any
) -> None:
    namespace = namespace or ""
    STATE.ready = True
    if event.get("type") == "DELETED":
        STATE.remembered.pop((namespace, name), None)
        STATE.locks.pop((namespace, name), None)
        return
    await reconcile(namespace, name, _stream_view(body), kwargs)


@kopf.on.event("batch", "v1", "jobs", labels={STREAM_ID: kopf.PRESENT})
async def job_event(*, namespace: str | None, labels: Mapping[str, str], **kwargs: Any) -> None:
    await reconcile_from_index(namespace or "", str(labels[STREAM_ID]), kwargs)


@kopf.on.event(*REQUESTS)
async def request_event(
    *,
    event: kopf.RawEvent,
    body: kopf.Body,
    namespace: str | None,
    spec: kopf.Spec,
    status: kopf.Status,
    patch: kopf.Patch,
    **kwargs: Any,
) -> None:
    if event.get("type") != "DELETED" and not body.get("metadata", {}).get("deletionTimestamp"):
        if spec.get("completed") is True:
            phase, ok, reason, message = (
                "Ready",
                "True",
                "Completed",
                f"The backfill of stream {spec.get('streamId')} has completed",
            )
        elif spec.get("streamClass") not in kwargs["streamclasses"]:
            phase, ok, reason, message = (
                "Failed",
                "False",
                "StreamClassNotFound",
                f"StreamClass {spec.get('streamClass')} does not exist",
            )
        else:
            phase, ok, reason, message = (
                "Pending",
                "False",
                "Waiting",
                f"Waiting for stream {spec.get('streamId')} to run its backfill",
            )
        if status.get("phase") != phase:
            condition = {
                "type": "Completed",
                "status": ok,
                "reason": reason,
                "message": message,
                "lastTransitionTime": _now(),
            }
            patch.status["phase"] = phase
            patch.status["conditions"] = [condition]
            if phase == "Ready":
                kopf.info(body, reason="BackfillRequestCompleted", message=message)
    stream = spec.get("streamId")
    if stream:
        await reconcile_from_index(namespace or "", str(stream), kwargs)


async def reconcile_from_index(namespace: str, name: str, indexes: dict[str, Any]) -> None:
    found = indexes["streams"].get((namespace, name))
    if found:
        view = max(found, key=lambda v: v["rv"])
        await reconcile(namespace, name, view, indexes)


# --- the state machine -----------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _owner(view: View) -> dict[str, Any]:
    meta = {"name": view["name"], "namespace": view["namespace"], "uid": view["uid"], "labels": view["labels"]}
    return {"apiVersion": f"{STREAMS[0]}/{STREAMS[1]}", "kind": STREAM_KIND, "metadata": meta}


@dataclass
class Situation:
    """What one reconcile sees: the indexes overlaid with our own recent writes."""

    phase: str
    jobs: dict[str, View]
    request: View | None


def _situation(view: View, indexes: dict[str, Any], memory: Remembered) -> Situation:
    key = (view["namespace"], view["name"])
    now = time.monotonic()
    phase = view["phase"] or "New"
    if memory.phase is not None:
        if memory.phase_rv > view["rv"]:
            phase = memory.phase
        else:
            memory.phase = None
    listed = {j["name"]: j for j in indexes["jobs"].get(key, ())}
    for name, (at, created) in list(memory.jobs_created.items()):
        if name in listed or now - at > REMEMBER:
            del memory.jobs_created[name]
        else:
            listed[name] = created
    for name, at in list(memory.jobs_deleted.items()):
        if name not in listed or now - at > REMEMBER:
            del memory.jobs_deleted[name]
        else:
            listed[name] = {**listed[name], "deleting": True}
    requests = {r["name"]: r for r in indexes["requests"].get(key, ())}
    for name, (at, created) in list(memory.requests_created.items()):
        if name in requests or now - at > REMEMBER:
            del memory.requests_created[name]
        else:
            requests[name] = created
    for name, at in list(memory.requests_completed.items()):
        if (name in requests and requests[name]["completed"]) or now - at > REMEMBER:
            del memory.requests_completed[name]
        elif name in requests:
            requests[name] = {**requests[name], "completed": True}
    active = [
        r
        for r in requests.values()
        if r["class"] == STREAM_CLASS
        and not r["completed"]
        and not r["deleting"]
        and (view["uid"] in r["owners"] or r["created"] >= view["created"])
    ]
    active.sort(key=lambda r: (r["created"], r["name"]))
    return Situation(phase, listed, active[0] if active else None)


async def reconcile(namespace: str, name: str, view: View, indexes: dict[str, Any]) -> None:
    key = (namespace, name)
    lock = STATE.locks.setdefault(key, asyncio.Lock())
    STATE.inflight += 1
    try:
        async with lock:
            memory = STATE.remembered.setdefault(key, Remembered())
            await _step(view, _situation(view, indexes, memory), memory, indexes)
        STATE.reconciled.add(key)
        STATE.reconciles += 1
    except (ApiError, aiohttp.ClientError, TimeoutError) as error:
        STATE.errors += 1
        log.warning("reconciling %s/%s failed, retrying in 1 s: %s", namespace, name, error)
        asyncio.get_running_loop().call_later(
            1.0, lambda: asyncio.ensure_future(reconcile_from_index(namespace, name, indexes))
        )
    finally:
        STATE.inflight -= 1


async def _step(view: View, now: Situation, memory: Remembered, indexes: dict[str, Any]) -> None:
    name = view["name"]
    spec = view["spec"]
    suspended = (spec.get("execution") or {}).get("suspended") is True
    job = now.jobs.get(name)
    backfill = now.jobs.get(f"{name}-backfill")
    live_job = job if job and not job["deleting"] else None
    live_backfill = backfill if backfill and not backfill["deleting"] else None
    spec_hash = _md5(_canonical(spec))
    request = now.request
    phase = now.phase

    async def enter(target: str, reason: str | None = None, message: str = "", *, hashed: str = spec_hash) -> None:
        await _phase(view, memory, Phase(target, hashed, reason, message, warning=target == "Failed"))

    async def delete(*jobs: View | None) -> None:
        for doomed in jobs:
            if doomed is not None:
                await _delete_job(view, memory, doomed["name"])

    async def create(order: JobOrder) -> None:
        await _create_job(view, memory, indexes, order)

    def backfill_order() -> JobOrder:
        assert request is not None
        return JobOrder(f"{name}-backfill", "backfill", _backfill_hash(spec_hash, request, name), request)

    if phase == "New":
        if suspended:
            await enter(
                "Suspended", "StreamSuspended", f"The new stream {name} was added in the suspended state, nothing to do"
            )
            return
        await _create_request(view, memory)
        await enter("Pending", "StreamCreated", f"Backfill was requested for the new stream definition: {name}")
        return
    if job and job["failed"] and phase != "Failed":
        await delete(job)
        await enter("Failed", "StreamingJobFailed", f"The streaming job {name} has failed")
        return
    if phase == "Pending":
        if suspended:
            await delete(live_job, live_backfill)
            await enter("Suspended", "StreamSuspended", f"The stream {name} was suspended")
        elif request is not None:
            if live_job:
                await delete(live_job)
            elif not job and not backfill:
                await create(backfill_order())
            await enter("Backfilling", hashed=backfill_order().config_hash)
        else:
            await delete(live_backfill)
            if live_job and live_job["hash"] != spec_hash:
                await delete(live_job)
            elif not job:
                await create(JobOrder(name, "streaming", spec_hash))
            await enter("Running")
    elif phase == "Running":
        if suspended:
            await delete(live_job)
            await enter("Suspended", "StreamSuspended", f"The streaming job for stream {name} has been suspended")
        elif request is not None:
            await delete(live_job)
            message = f"A backfill requested for stream {name}, stopping the streaming job to start backfilling"
            await enter("Pending", "BackfillRequested", message)
        elif live_job and live_job["hash"] != spec_hash:
            await delete(live_job)  # recreated on the event of its deletion
        elif not job:
            await create(JobOrder(name, "streaming", spec_hash))
    elif phase == "Suspended":
        if suspended:
            await delete(live_job, live_backfill)
        elif request is not None:
            await enter("Pending", "BackfillRequested", f"A backfill was requested for suspended stream {name}")
        else:
            await enter("Pending", "StreamResumed", f"The stream {name} has been resumed")
    elif phase == "Backfilling":
        if suspended:
            await delete(live_backfill)
            await enter("Suspended", "StreamSuspended", f"The backfilling for stream {name} has been suspended")
        elif request is None:
            await delete(live_backfill)
            await enter(
                "Pending", "BackfillNotRequested", f"The backfill request for stream {name} not found, probably deleted"
            )
        elif backfill and backfill["complete"]:
            await _complete_request(view, memory, request)
            await delete(live_backfill)
            await enter("Pending", "BackfillCompleted", f"Backfill for stream {name} has been completed")
        elif backfill and backfill["failed"]:
            await delete(live_backfill)
            await enter("Failed", "StreamingJobFailed", f"The backfill job {name}-backfill has failed")
        else:
            await delete(live_job)
            if not backfill and not job:
                await create(backfill_order())
    elif phase == "Failed" and suspended:
        await delete(live_job, live_backfill)
        await enter("Suspended", "StreamSuspended", "The stream was suspended")


def _backfill_hash(spec_hash: str, request: View, stream: str) -> str:
    return f"{spec_hash}:{_md5(_canonical({'streamClass': request['class'], 'streamId': stream}))}"


# --- actions -----------------------------------------------------------------------------------------------

_CONDITIONS = {
    "Pending": ("Warning", "StreamPending", "The stream is pending and will start soon"),
    "Backfilling": ("Ready", "StreamBackfilling", "The stream is currently backfilling data"),
    "Running": ("Ready", "StreamRunning", "The stream is currently running."),
    "Suspended": ("Warning", "StreamSuspended", "The stream is suspended."),
    "Failed": ("Error", "StreamFailed", "The stream has failed."),
}


def _client() -> Client:
    if STATE.client is None:
        raise ApiError("the client is not ready")
    return STATE.client


@dataclass(frozen=True)
class Phase:
    """A phase to enter, the hash to record with it, and the Event that tells why (none when reason is None)."""

    phase: str
    config_hash: str
    reason: str | None = None
    message: str = ""
    warning: bool = False


@dataclass(frozen=True)
class JobOrder:
    """A Job to create: its name, streaming or backfill, its configuration hash, the request it serves."""

    name: str
    mode: str
    config_hash: str
    request: View | None = None


async def _phase(view: View, memory: Remembered, target: Phase) -> None:
    """Write the phase with its condition and hash (only when it changes), then the Event."""
    current = memory.phase if memory.phase is not None else (view["phase"] or "New")
    phase, config_hash, reason, message = target.phase, target.config_hash, target.reason, target.message
    if current == phase:
        return
    kind, why, text = _CONDITIONS[phase]
    condition = {"type": kind, "status": "True", "reason": why, "message": text, "lastTransitionTime": _now()}
    body = {"status": {"phase": phase, "configurationHash": config_hash, "conditions": [condition]}}
    path = _path(STREAMS, view["namespace"], view["name"], "status")
    status, answer = await _client().call("PATCH", path, body=body, patch=True)
    _check(status, answer, f"status of {view['name']}", (200,))
    memory.phase, memory.phase_rv = phase, _rv(answer.get("metadata") or {})
    if reason is not None:
        (kopf.warn if target.warning else kopf.info)(_owner(view), reason=reason, message=message)  # type: ignore[arg-type]


async def _create_request(view: View, memory: Remembered) -> None:
    request: dict[str, Any] = {
        "apiVersion": f"{REQUESTS[0]}/{REQUESTS[1]}",
        "kind": "BackfillRequest",
        "metadata": {"generateName": f"{view['name']}-initial-backfill-"},
        "spec": {"streamClass": STREAM_CLASS, "streamId": view["name"]},
    }
    kopf.adopt(request, owner=_owner(view))  # type: ignore[arg-type]
    status, answer = await _client().call("POST", _path(REQUESTS, view["namespace"]), body=request)
    _check(status, answer, f"request for {view['name']}", (201,))
    meta = answer["metadata"]
    created = {
        "name": meta["name"],
        "class": STREAM_CLASS,
        "completed": False,
        "created": meta.get("creationTimestamp") or "",
        "owners": [view["uid"]],
        "deleting": False,
    }
    memory.requests_created[meta["name"]] = (time.monotonic(), created)


async def _complete_request(view: View, memory: Remembered, request: View) -> None:
    path = _path(REQUESTS, view["namespace"], request["name"])
    status, answer = await _client().call("PATCH", path, body={"spec": {"completed": True}}, patch=True)
    _check(status, answer, f"completing {request['name']}", (200, 404))
    memory.requests_completed[request["name"]] = time.monotonic()


def _build_job(view: View, template: View, order: JobOrder) -> dict[str, Any]:
    name, mode, config_hash, request = order.name, order.mode, order.config_hash, order.request
    whole = "template" not in template  # a whole Job under the template's spec, or a JobSpec
    meta = (template.get("metadata") or {}) if whole else {}
    spec = copy.deepcopy(template.get("spec") or {}) if whole else copy.deepcopy(template)
    backfilling = "false" if mode == "streaming" else "true"
    env = [
        {"name": "STREAMCONTEXT__STREAM_ID", "value": view["name"]},
        {"name": "STREAMCONTEXT__STREAM_KIND", "value": STREAM_KIND},
        {"name": "STREAMCONTEXT__SPEC", "value": _canonical(view["spec"])},
        {"name": "STREAMCONTEXT__BACKFILL", "value": backfilling},
    ]
    if request is not None:
        env.append({"name": "STREAMCONTEXT__BACKFILL_ID", "value": request["name"]})
    secret = (view["spec"].get("connectionSecretRef") or {}).get("name")
    for container in spec.get("template", {}).get("spec", {}).get("containers") or ():
        container["env"] = [*(container.get("env") or ()), *env]
        if secret:
            container["envFrom"] = [*(container.get("envFrom") or ()), {"secretRef": {"name": secret}}]
    labels = {**(meta.get("labels") or {}), STREAM_ID: view["name"], "arcane/stream-kind": STREAM_KIND}
    labels.update({"arcane/backfilling": backfilling, "streamId": view["name"]})
    annotations = {**(meta.get("annotations") or {}), "configuration-hash": config_hash}
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": spec,
    }
    kopf.adopt(job, owner=_owner(view))  # type: ignore[arg-type]
    return job


async def _create_job(view: View, memory: Remembered, indexes: dict[str, Any], order: JobOrder) -> None:
    execution = view["spec"].get("execution") or {}
    name = order.name
    ref = (
        execution.get("backfillJobTemplateRef")
        if order.mode == "backfill"
        else (((execution.get("streamingBackend") or {}).get("changeCapture") or {}).get("jobTemplateRef"))
    )
    ref = ref or {}
    found = indexes["templates"].get((ref.get("namespace") or view["namespace"], ref.get("name")))
    if not found:
        raise ApiError(f"StreamingJobTemplate {ref.get('name')} not found for stream {view['name']}")
    template = next(iter(found))
    job = _build_job(view, template, order)
    status, answer = await _client().call("POST", _path(JOBS, view["namespace"]), body=job)
    _check(status, answer, f"job {name}", (201, 409))  # 409: it exists already (ours, as the name says)
    view_of_job = {"name": name, "hash": order.config_hash, "complete": False, "failed": False, "deleting": False}
    memory.jobs_created[name] = (time.monotonic(), view_of_job)
    memory.jobs_deleted.pop(name, None)


async def _delete_job(view: View, memory: Remembered, name: str) -> None:
    path = _path(JOBS, view["namespace"], name)
    status, answer = await _client().call("DELETE", path, params={"propagationPolicy": "Foreground"})
    _check(status, answer, f"deleting job {name}", (200, 202, 404))
    memory.jobs_deleted[name] = time.monotonic()
    memory.jobs_created.pop(name, None)
