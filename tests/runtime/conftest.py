"""Fixtures of the runtime tests: the kube tests' fake API server, on virtual time."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from kube.fakeapi import JOBS, LEASES, FakeApi

from engine.kube.client import KubeClient
from engine.kube.config import KubeSettings
from engine.kube.timing import ManualClock


@pytest.fixture
def vclock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def api(vclock: ManualClock) -> AsyncIterator[FakeApi]:
    server = FakeApi([JOBS, LEASES], clock=vclock.monotonic)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client(api: FakeApi, vclock: ManualClock) -> AsyncIterator[KubeClient]:
    async with KubeClient(KubeSettings(host=api.url), clock=vclock) as c:
        yield c
