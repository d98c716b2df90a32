"""Hot reload: watch the rules directory, compile a new rule set beside the old one, swap only when it compiles.

Where this sits: started by the operator process unless `--no-reload`. Kubernetes updates a mounted
ConfigMap by swapping a `..data` symlink (the visible files are symlinks into it), which a `*.yaml` filter
misses; so every change under the directory counts, and the content digest decides whether anything
really changed. A rule set that does not compile never replaces the active one: its problems are logged
with their locations, counted (`reloads{result="error"}`) and reported as a Warning Event.

This is the only module that imports watchfiles.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import watchfiles

from engine.errors import RuleSetError
from engine.spec import RuleSet, compile_ruleset

log = logging.getLogger("engine.reload")

Swap = Callable[[RuleSet], Awaitable[None]]
Reject = Callable[[RuleSetError], Awaitable[None]]


class RuleReloader:
    def __init__(
        self, directory: Path, current: RuleSet, swap: Swap, reject: Reject, *, debounce_ms: int = 300
    ) -> None:
        self.directory = directory
        self.current = current
        self._swap = swap
        self._reject = reject
        self._debounce = debounce_ms
        self._stop = asyncio.Event()
        self._rejected_digest = ""

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Watch until stopped; each batch of file changes triggers one reload attempt."""
        async for _changes in watchfiles.awatch(
            self.directory, watch_filter=None, debounce=self._debounce, stop_event=self._stop, recursive=True
        ):
            await self.reload()

    async def reload(self) -> bool:
        """Compile the directory now; swap when it compiled and differs. True when a new rule set is active."""
        try:
            ruleset = await asyncio.to_thread(compile_ruleset, [self.directory])
        except RuleSetError as error:
            if self._rejected_digest != str(error):
                self._rejected_digest = str(error)
                for problem in error.problems:
                    log.error(
                        "rules rejected: %s",
                        problem,
                        extra={"file": problem.location.file, "line": problem.location.line},
                    )
            await self._reject(error)
            return False
        self._rejected_digest = ""
        if ruleset.digest == self.current.digest:
            return False
        previous = self.current.digest
        self.current = ruleset
        await self._swap(ruleset)
        log.info("rules reloaded", extra={"digest": ruleset.digest, "previous": previous})
        return True
