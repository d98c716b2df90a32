"""Hot reload: watch the rules directory, compile a new rule set beside the old one, swap only when it compiles.

Where this sits: started by the operator process unless `--no-reload`. Kubernetes updates a mounted
ConfigMap by swapping a `..data` symlink (the visible files are symlinks into it), which a `*.yaml` filter
misses; so every change under the directory counts, and the content digest decides whether anything
really changed. A rule set that does not compile never replaces the active one: its problems are logged
with their locations, counted (`reloads{result="error"}`) and reported as a Warning Event. Neither does one
that compiles but fails at run time: before the swap, `check` (the reactor's trial, engine.runtime.trial)
evaluates it on the cached objects and raises a `RuleSetError` with a problem per object it would newly fail,
refused the same way: a bad rules change leaves the previous rules serving. A check that fails unexpectedly
refuses too (logged by `_attempt`), rather than swap in rules nobody could try.

The directory itself may be replaced at the same path (git-sync swaps a symlink to a new checkout; `mv`);
inotify would keep watching the old one, so every few seconds the path's identity (device, inode, after
symlinks) is checked, and a new directory is watched and reloaded.

This is the only module that imports watchfiles.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import watchfiles

from engine.errors import Location, Problem, RuleSetError
from engine.spec import RuleSet, compile_ruleset

log = logging.getLogger("engine.reload")


def load_rules(directory: Path) -> RuleSet:
    """Compile the rules directory; any failure is a `RuleSetError`. The compiler reports bad rules as problems,
    but should input it was not written for make it raise something else (nesting past the interpreter's limits
    did, before the loader bounded it), that is a rejected rule set too, named by its directory, never a crash."""
    try:
        return compile_ruleset([directory])
    except RuleSetError:
        raise
    except Exception as error:
        problem = Problem(Location(str(directory)), f"could not be loaded: {type(error).__name__}: {error}")
        raise RuleSetError([problem]) from error


Swap = Callable[[RuleSet], Awaitable[None]]
Reject = Callable[[RuleSetError], Awaitable[None]]
Check = Callable[[RuleSet], Awaitable[None]]
"""Raises `RuleSetError` when a rule set that compiled must not be swapped in all the same."""

LOGGED_PROBLEMS = 20
"""Problems logged one per line; the rest are counted in one more line (a rule that fails at run time is a
problem per object: thousands of lines would bury the first)."""


async def _accept(_ruleset: RuleSet) -> None:
    """The check of a reloader given none: every rule set that compiles is swapped in."""


class RuleReloader:
    def __init__(
        self,
        directory: Path,
        current: RuleSet,
        swap: Swap,
        reject: Reject,
        *,
        check: Check = _accept,
        debounce_ms: int = 300,
        recheck_ms: int = 5000,
    ) -> None:
        self.directory = directory
        self.current = current
        self._swap = swap
        self._reject = reject
        self._check = check
        self._debounce = debounce_ms
        self._recheck = recheck_ms
        self._stop = asyncio.Event()
        self._rejected: int | None = None
        """The hash of the problems last logged (the same ones are not logged again); None once rules load."""
        self._refused: tuple[str, str] | None = None
        """(new digest, active digest) of the last rule set the check refused: the same pair is not tried again (a
        trial takes seconds with many objects, and would record the same event again), a new edit is."""

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Watch until stopped; each batch of file changes triggers one reload attempt.

        A reload also follows the first wake-up of every new watch (a change, or `recheck_ms` without one):
        edits made before the watch existed (since the start-up compile, or in a replacing directory) are
        not missed, and the watch is in place before that reload reads the files."""
        # watchfiles logs every batch at INFO ("3 changes detected"): what follows from them is this module's to say.
        logging.getLogger("watchfiles").setLevel(logging.WARNING)
        watched: tuple[int, int] | None = None
        while not self._stop.is_set():
            identity = _identity(self.directory)
            if identity is None:  # gone for a moment (being replaced): look again later
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self._recheck / 1000)
                continue
            if watched is not None and identity != watched:
                log.info("the rules directory was replaced: watching the new one", extra={"path": str(self.directory)})
            watched, pending = identity, True
            async for changes in watchfiles.awatch(
                self.directory,
                watch_filter=None,
                debounce=self._debounce,
                stop_event=self._stop,
                recursive=True,
                rust_timeout=self._recheck,
                yield_on_timeout=True,
            ):
                if changes or pending:
                    pending = False
                    await self._attempt()
                if _identity(self.directory) != watched:
                    break

    async def _attempt(self) -> None:
        try:
            await self.reload()
        except Exception:  # the reloader must outlive one failed swap; the next change tries again
            log.exception("rules reload failed")

    async def reload(self) -> bool:
        """Compile the directory now; swap when it compiled, differs and passes the check. True when a new rule
        set is active."""
        try:
            ruleset = await asyncio.to_thread(load_rules, self.directory)
            if ruleset.digest != self.current.digest:
                if (ruleset.digest, self.current.digest) == self._refused:
                    return False  # tried and refused already: another file's change does not try it again
                try:
                    await self._check(ruleset)
                except RuleSetError:
                    self._refused = (ruleset.digest, self.current.digest)
                    raise
        except RuleSetError as error:
            rejected = hash(tuple(error.problems))  # not their text: a trial can refuse for thousands of objects
            if self._rejected != rejected:
                self._rejected = rejected
                _log_rejection(error)
            await self._reject(error)
            return False
        fixed, self._rejected = self._rejected is not None, None
        if ruleset.digest == self.current.digest:
            if fixed:  # said, or the last line about the rules would still be their rejection
                log.info("the rules are the active rule set again: nothing to reload", extra={"digest": ruleset.digest})
            return False
        if self._stop.is_set():  # stopped while the check ran: the operator is shutting down, swap nothing
            return False
        previous = self.current.digest
        self.current = ruleset
        await self._swap(ruleset)
        log.info("rules reloaded", extra={"digest": ruleset.digest, "previous": previous})
        return True


def _log_rejection(error: RuleSetError) -> None:
    for problem in error.problems[:LOGGED_PROBLEMS]:
        log.error("rules rejected: %s", problem, extra={"file": problem.location.file, "line": problem.location.line})
    if len(error.problems) > LOGGED_PROBLEMS:
        log.error("rules rejected: and %d more problems", len(error.problems) - LOGGED_PROBLEMS)


def _identity(directory: Path) -> tuple[int, int] | None:
    """(device, inode) of the directory at this path, symlinks followed; None when there is none now."""
    try:
        stat = os.stat(directory)
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)
