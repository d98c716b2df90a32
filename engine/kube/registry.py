"""The running informers of one operator, started and stopped at runtime, read as one `ObjectStore`.

Where this sits: the reactor (engine.runtime) decides which kinds to watch from the rule set; it asks this
set to start an informer per (kind, namespace scope, selectors) and to stop those no longer needed (rules
reloaded, a custom kind gone). The evaluator reads objects through `get()`/`list()`; readiness asks
`unsynced()`.

What it does not do: no decisions about what to watch, no event routing (each informer has its handler).
"""

from __future__ import annotations

import asyncio
import builtins
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.kube.cache import CacheRegistry
from engine.kube.client import KubeClient
from engine.kube.informer import Handler, Informer, InformerKey, InformerObserver, InformerOptions, InformerState
from engine.kube.timing import SYSTEM_CLOCK, Clock
from engine.model import GVK, Obj

_NOT_WATCHING = frozenset({InformerState.PENDING, InformerState.LISTING, InformerState.BACKING_OFF})


class InformerSet:
    """Informers by key, plus the union of their caches (`engine.core.store.ObjectStore`)."""

    def __init__(
        self,
        client: KubeClient,
        *,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        observer: InformerObserver | None = None,
    ) -> None:
        self._client = client
        self._clock = clock
        self._rng = rng or random.Random()
        self._observer = observer
        self._informers: dict[InformerKey, Informer] = {}
        self._caches = CacheRegistry()

    def __contains__(self, key: object) -> bool:
        return key in self._informers

    def __len__(self) -> int:
        return len(self._informers)

    def informer(self, key: InformerKey) -> Informer | None:
        return self._informers.get(key)

    def informers(self) -> list[Informer]:
        return list(self._informers.values())

    def start(
        self, options: InformerOptions, handler: Handler | None = None, *, wants_old: Callable[[], bool] | None = None
    ) -> Informer:
        """Start an informer (`wants_old`: see engine.kube.informer). Raises `ValueError` when one with the same
        key is running."""
        key = options.key
        if key in self._informers:
            raise ValueError(f"an informer for {key} is already running")
        informer = Informer(
            self._client,
            options,
            handler,
            clock=self._clock,
            rng=self._rng,
            observer=self._observer,
            wants_old=wants_old,
        )
        self._informers[key] = informer
        self._caches.attach(informer.cache)
        informer.start()
        return informer

    async def stop(self, key: InformerKey) -> None:
        """Stop one informer and forget its cache (no-op when it is not running)."""
        informer = self._informers.pop(key, None)
        if informer is not None:
            self._caches.detach(informer.cache)
            await informer.stop()

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop(key) for key in list(self._informers)))

    def unsynced(self) -> list[str]:
        """Informers whose initial list has not completed, or whose kind is no longer served."""
        return sorted(
            f"{key}: {inf.state.value}"
            for key, inf in self._informers.items()
            if not inf.synced.is_set() or inf.state is InformerState.GONE
        )

    def behind(self, gvk: GVK) -> bool:
        """Whether an informer of the kind is listing, or backing off after a failure, rather than watching: its
        cache can then lag the server for as long as that lasts (a watching one lags by the event in flight)."""
        return any(inf.key.gvk == gvk and inf.state in _NOT_WATCHING for inf in self._informers.values())

    async def wait_synced(self, timeout: float | None = None) -> bool:
        """Wait until every informer running now has synced; False on timeout."""
        waits = [asyncio.ensure_future(inf.synced.wait()) for inf in self._informers.values()]
        if not waits:
            return True
        _, pending = await asyncio.wait(waits, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return not pending

    # --- ObjectStore ------------------------------------------------------------------------------------

    def get(self, gvk: GVK, namespace: str, name: str) -> Obj | None:
        return self._caches.get(gvk, namespace, name)

    def list(self, gvk: GVK, namespace: str | None = None) -> list[Obj]:
        return self._caches.list(gvk, namespace)

    def select(self, gvk: GVK, namespace: str | None, field: str, value: object) -> builtins.list[Obj]:
        return self._caches.select(gvk, namespace, field, value)

    def names(self, gvk: GVK) -> builtins.list[tuple[str, str]]:
        """(namespace, name) of every cached object of a kind, without reading the objects."""
        return self._caches.names(gvk)


if TYPE_CHECKING:
    from engine.core.store import ObjectStore

    def _is_an_object_store(informers: InformerSet) -> ObjectStore:
        """mypy checks here that InformerSet keeps matching the protocol the evaluator reads through."""
        return informers
