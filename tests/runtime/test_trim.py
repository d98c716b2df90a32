"""Memory housekeeping: malloc_trim found on glibc, called on its interval, skipped where absent."""

from __future__ import annotations

import asyncio
import itertools
import platform

import pytest

from engine.runtime.trim import malloc_trim, trim_forever


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is a glibc function")
def test_glibc_malloc_trim_is_found_and_callable() -> None:
    trim = malloc_trim()
    assert trim is not None
    assert trim() in (0, 1)


async def test_trims_on_its_interval_until_cancelled() -> None:
    """Calls come an interval apart, again and again, until the task is cancelled (waited for by count, not by a
    span of real time, so a busy machine only makes it slower)."""
    calls: list[float] = []
    third = asyncio.Event()
    loop = asyncio.get_running_loop()

    def trim() -> int:
        calls.append(loop.time())
        if len(calls) == 3:
            third.set()
        return 1

    task = asyncio.create_task(trim_forever(0.01, trim))
    async with asyncio.timeout(10):
        await third.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    made = len(calls)
    await asyncio.sleep(0.05)
    assert len(calls) == made >= 3  # none after the cancel
    assert all(later - earlier >= 0.009 for earlier, later in itertools.pairwise(calls))


async def test_nothing_to_call_returns_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("engine.runtime.trim.malloc_trim", lambda: None)
    async with asyncio.timeout(1):
        await trim_forever(0.01)
