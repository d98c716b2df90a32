"""`KubeSim`: the public handle on a simulator running in a background thread with its own loop.

Starts the runtime and the HTTP server (`kubesim.wire`) on 127.0.0.1 (ephemeral port by default), writes a
kubeconfig once serving, offers direct store access through the same code path as HTTP, and carries
the request log and fault injection. Usable from synchronous tests, from asyncio code (the simulator's
loop is its own) and as a context manager. Restart faults (close every connection, refuse new ones
for a while, keep the store) are implemented here because they own the listening socket.
"""

from __future__ import annotations

import asyncio
import enum
import os
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from kubesim import errors, tlsdata
from kubesim.api import DeleteOptions, FieldValidation, ListQuery, Propagation, WriteOptions
from kubesim.clock import Clock, FakeClock
from kubesim.controllers import start_controllers
from kubesim.faults import Faults
from kubesim.http import HttpApi
from kubesim.meta import JSON, deep_copy, random_token
from kubesim.patch import PatchType
from kubesim.reqlog import RequestLog
from kubesim.resources import ResourceType
from kubesim.runtime import Runtime, Settings
from kubesim.selectors import parse_label_selector
from kubesim.tlsserver import TlsServer
from kubesim.wire import HttpServer

T = TypeVar("T")


class Controller(enum.StrEnum):
    """The controllers kubesim can run (each switchable)."""

    JOB = "job"
    CRONJOB = "cronjob"
    GC = "gc"
    NAMESPACE = "namespace"


@dataclass(frozen=True)
class SimOptions:
    """How to run a simulator. Durations are seconds."""

    port: int = 0
    host: str = "127.0.0.1"
    minor: str = "32"
    token: str | None = None
    job_default_outcome: str = "succeed-after=1s"
    job_pods: bool = True
    job_backoff: float = 10.0
    controllers: frozenset[str] = field(default_factory=lambda: frozenset(c.value for c in Controller))
    bookmark_interval: float = 60.0
    watch_timeout: float = 1800.0
    history_size: int = 10_000
    fake_clock: bool = False
    managed_fields: bool = True
    kubeconfig_path: str | None = None
    request_log_size: int = 100_000
    tls: bool = True


class KubeSim:
    """An in-process Kubernetes API server."""

    def __init__(self, options: SimOptions | None = None) -> None:
        self.options = options or SimOptions()
        unknown = set(self.options.controllers) - {c.value for c in Controller}
        if unknown:
            raise ValueError(f"unknown controllers: {sorted(unknown)}")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._http: HttpServer | None = None
        self._plain: asyncio.Server | None = None
        self._tls: TlsServer | None = None
        self._port = 0
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._kubeconfig: Path | None = None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._restart_task: asyncio.Task[None] | None = None
        clock: Clock = FakeClock() if self.options.fake_clock else Clock()
        self.faults = Faults(self._call)
        settings = Settings(
            minor=self.options.minor,
            history_size=self.options.history_size,
            bookmark_interval=self.options.bookmark_interval,
            watch_timeout=self.options.watch_timeout,
            job_default_outcome=self.options.job_default_outcome,
            job_pods=self.options.job_pods,
            job_backoff=self.options.job_backoff,
            controllers=frozenset(self.options.controllers),
            managed_fields=self.options.managed_fields,
            request_log_size=self.options.request_log_size,
        )
        self.runtime = Runtime(settings, clock, self.faults, self.options.token or random_token())
        self.runtime.extra["anonymous"] = not self.options.tls
        self.faults.on_drop = self.runtime.drop_watches
        self.faults.on_compact = self.runtime.store.compact
        self.faults.on_restart = self._begin_restart
        self.faults.on_rotate = self._rotate
        self.faults.on_reject = self._reject

    # ------------------------------------------------------------ lifecycle

    def start(self) -> KubeSim:
        """Start serving; returns once the server accepts connections and the kubeconfig is written."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._run, name="kubesim", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._failure is not None:
            self._thread.join(5)
            self._thread = None
            raise RuntimeError(f"kubesim failed to start: {self._failure}") from self._failure
        path = self.options.kubeconfig_path
        if path is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="kubesim-")
            path = os.path.join(self._tempdir.name, "kubeconfig")
        self.write_kubeconfig(path)
        self._kubeconfig = Path(path)
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._startup())
        except BaseException as error:
            self._failure = error
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _startup(self) -> None:
        loop = asyncio.get_running_loop()
        self.runtime.bind(loop)
        self._controllers = start_controllers(self.runtime)
        self._http = HttpServer(HttpApi(self.runtime).handle)
        await self._open(self.options.port)

    async def _open(self, port: int) -> None:
        assert self._http is not None
        loop = asyncio.get_running_loop()
        if self.options.tls:
            # Our own TLS transport: asyncio's costs about as much per request as a small API call.
            self._tls = TlsServer(loop, self._http, tlsdata.server_context(), self.options.host, port)
            self._port = self._tls.port
            return
        self._plain = await loop.create_server(self._http, self.options.host, port, reuse_address=True, backlog=1024)
        self._port = self._plain.sockets[0].getsockname()[1]

    async def _close_listener(self) -> None:
        if self._tls is not None:
            self._tls.close()
            self._tls = None
        if self._plain is not None:
            self._plain.close()
            self._plain = None

    async def _shutdown(self) -> None:
        for controller in getattr(self, "_controllers", []):
            controller.stop()
        self.runtime.drop_watches()
        await self._close_listener()
        self._abort_connections()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        """Stop serving and join the thread (idempotent)."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(30)
        self._thread = None
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def __enter__(self) -> KubeSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ threading

    def _call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the simulator's loop and return its result (awaiting it when it is a coroutine)."""
        loop = self._loop
        if loop is None or self._thread is None:
            raise RuntimeError("the simulator is not running; call start() first")
        if threading.current_thread() is self._thread:
            result = fn()
            if asyncio.iscoroutine(result):
                loop.create_task(result)
                return None  # type: ignore[return-value]
            return result

        async def run() -> Any:
            result = fn()
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(run(), loop).result(60)  # type: ignore[no-any-return]

    def _await(self, factory: Callable[[], Awaitable[None]]) -> None:
        """Run a coroutine on the simulator's loop and wait for it (from another thread)."""
        loop = self._loop
        if loop is None or self._thread is None:
            raise RuntimeError("the simulator is not running; call start() first")

        async def run() -> None:
            await factory()

        asyncio.run_coroutine_threadsafe(run(), loop).result(300)

    # ------------------------------------------------------------ connection info

    @property
    def port(self) -> int:
        """The TCP port served."""
        return self._port

    @property
    def url(self) -> str:
        """`https://127.0.0.1:<port>` (`http://` with SimOptions(tls=False))."""
        scheme = "https" if self.options.tls else "http"
        return f"{scheme}://{self.options.host}:{self._port}"

    @property
    def token(self) -> str:
        """The bearer token currently accepted."""
        return self.runtime.token

    @property
    def kubeconfig_path(self) -> Path:
        """The kubeconfig written at start."""
        if self._kubeconfig is None:
            raise RuntimeError("the simulator is not running; call start() first")
        return self._kubeconfig

    def write_kubeconfig(self, path: str | os.PathLike[str], namespace: str = "default") -> Path:
        """Write a kubeconfig (token auth, context `kubesim`) atomically; returns its path."""
        target = Path(path)
        cluster: dict[str, str] = {"server": self.url}
        if self.options.tls:
            cluster["certificate-authority-data"] = tlsdata.ca_data()
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kubesim", "cluster": cluster}],
            "contexts": [
                {"name": "kubesim", "context": {"cluster": "kubesim", "user": "kubesim", "namespace": namespace}}
            ],
            "current-context": "kubesim",
            "users": [{"name": "kubesim", "user": {"token": self.runtime.token}}],
            "preferences": {},
        }
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        os.replace(tmp, target)
        return target

    # ------------------------------------------------------------ faults that own the socket

    def _abort_connections(self) -> None:
        if self._http is not None:
            self._http.abort_all()

    async def _restart(self, down_for: float) -> None:
        self.runtime.drop_watches()
        await self._close_listener()
        self._abort_connections()
        port = self._port

        async def reopen() -> None:
            await asyncio.sleep(down_for)
            await self._open(port)

        self._restart_task = asyncio.get_running_loop().create_task(reopen())

    def _begin_restart(self, down_for: float) -> Any:
        return self._restart(down_for)

    def wait_until_serving(self, timeout: float = 30.0) -> None:
        """Block until a restart's down time is over."""
        task = self._restart_task
        if task is None:
            return
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(asyncio.shield(task), timeout), self._loop)  # type: ignore[arg-type]
        future.result(timeout + 1)

    def _rotate(self, token: str | None) -> str:
        runtime = self.runtime
        runtime.extra.setdefault("old_tokens", set()).add(runtime.token)
        runtime.token = token or random_token()
        runtime.rejecting_tokens = False
        if self._kubeconfig is not None:
            self.write_kubeconfig(self._kubeconfig)
        return runtime.token

    def _reject(self) -> None:
        self.runtime.rejecting_tokens = True

    # ------------------------------------------------------------ observability

    @property
    def requests(self) -> RequestLog:
        """The request log."""
        return self.runtime.requests

    @property
    def resource_version(self) -> str:
        """The current cluster-wide resourceVersion."""
        return str(self.runtime.store.rv)

    def advance(self, seconds: float) -> None:
        """Move a fake clock forward (SimOptions(fake_clock=True)), running controllers as timers fire."""
        self._await(lambda: self.runtime.advance(seconds))

    def settle(self) -> None:
        """Wait until the controllers have no pending work."""
        self._await(self.runtime.scheduler.settle)

    def set_pod_logs(self, namespace: str, name: str, text: str) -> None:
        """Set what `pods/log` answers for a Pod."""
        self._call(lambda: self.runtime.pod_logs.__setitem__((namespace, name), text))

    # ------------------------------------------------------------ direct access (same code path as HTTP)

    def _type(self, api_version: str, kind: str) -> ResourceType:
        rt = self.runtime.registry.by_api_version(api_version, kind)
        if rt is None:
            raise errors.ApiError(
                404, errors.Reason.NOT_FOUND, f'no matches for kind "{kind}" in version "{api_version}"', {}
            )
        return rt

    def apply(self, source: Mapping[str, Any] | str) -> JSON:
        """Create or update one object (a dict, or YAML/JSON text of one document) by server-side apply."""
        docs = self._documents(source)
        if len(docs) != 1:
            raise ValueError(f"apply() takes one object, got {len(docs)}; use apply_many()")
        return self.apply_many(docs)[0]

    def apply_many(self, source: Iterable[Mapping[str, Any]] | str) -> list[JSON]:
        """Create or update several objects (YAML text with `---` documents, or dicts), in order."""
        docs = self._documents(source)
        return self._call(lambda: [self._apply_one(doc) for doc in docs])

    @staticmethod
    def _documents(source: Iterable[Mapping[str, Any]] | Mapping[str, Any] | str) -> list[JSON]:
        if isinstance(source, str):
            return [dict(d) for d in yaml.safe_load_all(source) if d]
        if isinstance(source, Mapping):
            return [dict(source)]
        return [dict(d) for d in source]

    def _apply_one(self, doc: JSON) -> JSON:
        rt = self._type(str(doc.get("apiVersion", "")), str(doc.get("kind", "")))
        meta = doc.get("metadata") or {}
        namespace = str(meta.get("namespace") or "default") if rt.namespaced else ""
        opts = WriteOptions(field_manager="kubesim", force=True, field_validation=FieldValidation.STRICT)
        if not meta.get("name"):
            return deep_copy(self.runtime.api.create(rt, namespace, deep_copy(doc), opts).obj)
        return deep_copy(self.runtime.api.apply(rt, namespace, str(meta["name"]), deep_copy(doc), opts).obj)

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> JSON | None:
        """An object, or None when it does not exist."""

        def run() -> JSON | None:
            rt = self._type(api_version, kind)
            try:
                return deep_copy(self.runtime.api.get(rt, namespace or "", name))
            except errors.ApiError as error:
                if error.code == 404:
                    return None
                raise

        return self._call(run)

    def list(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[JSON]:
        """Objects of a kind (in one namespace, or all), optionally filtered by a label selector."""

        def run() -> list[JSON]:
            rt = self._type(api_version, kind)
            query = ListQuery(labels=parse_label_selector(label_selector))
            return deep_copy(self.runtime.api.list(rt, namespace, query).items)

        return self._call(run)

    def delete(
        self, api_version: str, kind: str, namespace: str | None, name: str, propagation: str = "Background"
    ) -> None:
        """Delete an object (404 raises `ApiError`)."""
        rt_options = DeleteOptions(Propagation(propagation))
        self._call(
            lambda: self.runtime.api.delete(
                self._type(api_version, kind), namespace or "", name, rt_options, WriteOptions(field_manager="kubesim")
            )
        )

    def patch(  # noqa: PLR0917 - mirrors kubectl patch: kind, namespace, name, patch, type, subresource
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        patch: Any,
        patch_type: str = "merge",
        subresource: str = "",
    ) -> JSON:
        """Patch an object (`merge`, `json` or `strategic`), optionally its `status` subresource."""
        kinds = {"merge": PatchType.MERGE, "json": PatchType.JSON, "strategic": PatchType.STRATEGIC}
        opts = WriteOptions(field_manager="kubesim", subresource=subresource)
        return self._call(
            lambda: deep_copy(
                self.runtime.api.patch(
                    self._type(api_version, kind), namespace or "", name, kinds[patch_type], patch, opts
                ).obj
            )
        )
