"""The harness's own Kubernetes client: raw JSON over aiohttp, bearer token and CA from a kubeconfig.

Where this sits: the driver of every scenario (creates, edits, lists, watches) and the reader of kubesim's
admin endpoints (`/kubesim/requests`). Every request carries the `arcane-bench` User-Agent, so the request
log separates what the harness did from what the operator under test did; every write carries a
`fieldManager` the caller chooses, so one edit can be found again in the log (`edit_manager`).

What it does not do: no retries, no rate limit, no caching. A failed request raises `ApiFailure`.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml

USER_AGENT = "arcane-bench"
"""Requests of the harness; anything else in kubesim's request log came from the operator under test."""

JSON = dict[str, Any]
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


class ApiFailure(Exception):
    """An HTTP answer the harness did not expect."""

    def __init__(self, status: int, method: str, path: str, body: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {body[:300]}")
        self.status = status


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a cluster is and how to authenticate, read from a kubeconfig."""

    server: str
    token: str
    ca_pem: str | None

    @classmethod
    def from_kubeconfig(cls, path: Path) -> Endpoint:
        """Read the current context's cluster and user (token and CA data only, as kubesim writes them)."""
        doc = yaml.safe_load(path.read_text())
        current = doc.get("current-context")
        context = next(c["context"] for c in doc["contexts"] if c["name"] == current)
        cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in doc["users"] if u["name"] == context["user"])
        data = cluster.get("certificate-authority-data")
        ca = base64.b64decode(data).decode() if data else None
        return cls(str(cluster["server"]), str(user.get("token", "")), ca)


def resource_path(
    group: str, version: str, plural: str, namespace: str | None = None, name: str | None = None, *, sub: str = ""
) -> str:
    """The REST path of a collection or an object."""
    parts = ["/api", version] if not group else ["/apis", group, version]
    if namespace:
        parts += ["namespaces", namespace]
    parts.append(plural)
    if name:
        parts.append(name)
    if sub:
        parts.append(sub)
    return "/".join(parts)


def edit_manager(tag: str) -> str:
    """The fieldManager that marks one harness write, so the request log can find it again."""
    return f"bench-{tag}"


class Api:
    """One aiohttp session to a cluster. Use as `async with Api(endpoint) as api`."""

    def __init__(self, endpoint: Endpoint, *, concurrency: int = 64) -> None:
        self.endpoint = endpoint
        self._concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Api:
        context: ssl.SSLContext | bool = True
        if self.endpoint.server.startswith("https"):
            context = ssl.create_default_context(cadata=self.endpoint.ca_pem) if self.endpoint.ca_pem else False
        connector = aiohttp.TCPConnector(ssl=context, limit=self._concurrency + 16)
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if self.endpoint.token:
            headers["Authorization"] = f"Bearer {self.endpoint.token}"
        self._session = aiohttp.ClientSession(
            self.endpoint.server,
            connector=connector,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("use `async with Api(...)`")
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        expect: tuple[int, ...] = (200, 201, 202),
    ) -> JSON:
        """One request; the decoded JSON answer (an empty dict for an empty body)."""
        data = orjson.dumps(body) if body is not None else None
        headers = {"Content-Type": content_type} if data is not None else None
        async with self.session.request(method, path, params=params, data=data, headers=headers) as response:
            raw = await response.read()
            if response.status not in expect:
                raise ApiFailure(response.status, method, path, raw.decode(errors="replace"))
            return orjson.loads(raw) if raw else {}

    async def create(self, path: str, obj: JSON, *, manager: str = "bench", expect: tuple[int, ...] = (201,)) -> JSON:
        return await self.request("POST", path, params={"fieldManager": manager}, body=obj, expect=expect)

    async def merge_patch(self, path: str, patch: JSON, *, manager: str = "bench") -> JSON:
        return await self.request(
            "PATCH", path, params={"fieldManager": manager}, body=patch, content_type="application/merge-patch+json"
        )

    async def delete(self, path: str, *, propagation: str = "Background", manager: str = "bench") -> JSON:
        return await self.request(
            "DELETE",
            path,
            params={"propagationPolicy": propagation, "fieldManager": manager},
            expect=(200, 202, 404),
        )

    async def list_all(self, path: str, *, limit: int = 500) -> tuple[list[JSON], str]:
        """Every item of a collection, paginated; and the list's resourceVersion."""
        items: list[JSON] = []
        token = ""
        while True:
            params = {"limit": str(limit)}
            if token:
                params["continue"] = token
            page = await self.request("GET", path, params=params)
            items.extend(page.get("items") or ())
            meta = page.get("metadata") or {}
            token = str(meta.get("continue") or "")
            if not token:
                return items, str(meta.get("resourceVersion", ""))

    async def watch(self, path: str, resource_version: str) -> AsyncIterator[JSON]:
        """Watch events (dicts with `type` and `object`) from a resourceVersion, until the caller stops."""
        params = {"watch": "true", "resourceVersion": resource_version, "allowWatchBookmarks": "true"}
        async with self.session.get(path, params=params) as response:
            if response.status != 200:
                raise ApiFailure(response.status, "WATCH", path, (await response.read()).decode(errors="replace"))
            buffer = b""
            async for chunk in response.content.iter_any():
                if b"\n" not in chunk:
                    buffer += chunk
                    continue
                *lines, buffer = (buffer + chunk).split(b"\n")
                for line in lines:
                    if line.strip():
                        yield orjson.loads(line)

    # --- kubesim's admin endpoints ---------------------------------------------------------------------

    async def request_log(self) -> list[JSON]:
        """kubesim's request log (every request since the last `clear_request_log`)."""
        doc = await self.request("GET", "/kubesim/requests")
        return list(doc.get("items") or ())

    async def clear_request_log(self) -> None:
        await self.request("DELETE", "/kubesim/requests")


async def wait_for(
    check: Callable[[], Any], *, timeout: float, interval: float = 0.1, what: str = "a condition"
) -> float:
    """Poll an async or sync `check` until it returns a truthy value; the monotonic time it did."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)
