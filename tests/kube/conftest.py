"""Fixtures of the kube layer's tests: the fake API server, a client on virtual time, common resource types."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from engine.kube.client import ClientOptions, KubeClient
from engine.kube.config import KubeSettings
from engine.kube.timing import ManualClock

from .fakeapi import CONFIGMAPS, JOBS, LEASES, NAMESPACES, WIDGETS, FakeApi


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(auto_advance=True)


@pytest.fixture
async def api(clock: ManualClock) -> AsyncIterator[FakeApi]:
    server = FakeApi([JOBS, CONFIGMAPS, WIDGETS, NAMESPACES, LEASES], clock=clock.monotonic)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client(api: FakeApi, clock: ManualClock) -> AsyncIterator[KubeClient]:
    async with KubeClient(KubeSettings(host=api.url), ClientOptions(write_qps=0), clock=clock) as c:
        yield c
