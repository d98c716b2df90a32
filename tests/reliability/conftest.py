"""Fixtures of the reliability tests: a simulator with the plugins installed, and operators (tests/e2e's).

`bed` is kubesim with our CRDs, the demo plugin and the test plugins (tests/reliability/bed.py), Jobs that
succeed 0.5 s after they start (streaming Jobs run until deleted), bookmarks every 2 s. `operators` and the
report hook that attaches each operator's log to a failing test come from tests/e2e/conftest.py.
`LONG` (env RELIABILITY_LONG=1) turns on the long mode: more streams, more sequences, real timeouts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from e2e.conftest import OPERATORS, operators, pytest_runtest_makereport

from kubesim import KubeSim
from kubesim.testing import kubesim_factory

from .bed import Bed
from .proxy import WatchProxy

__all__ = ["attach_module_operator", "kubesim_factory", "operators", "pytest_runtest_makereport"]

LONG = os.environ.get("RELIABILITY_LONG", "") not in ("", "0")


@pytest.fixture
def sim(kubesim_factory: Callable[..., KubeSim]) -> KubeSim:
    """A simulator whose backfill Jobs succeed 0.5 s after they start, with bookmarks every 2 s."""
    return kubesim_factory(job_default_outcome="succeed-after=0.5s", bookmark_interval=2.0)


@pytest.fixture
def bed(sim: KubeSim) -> Bed:
    """`sim` with our CRDs, the demo plugin and the PRUNED plugin installed."""
    return Bed.install(sim)


@pytest.fixture
def proxy(bed: Bed) -> Iterator[WatchProxy]:
    """A watch-mangling proxy in front of `bed`'s simulator (tests/reliability/proxy.py)."""
    started = WatchProxy(bed.sim).start()
    try:
        yield started
    finally:
        started.stop()


def attach_module_operator(request: pytest.FixtureRequest, fixture: str) -> None:
    """When the test uses the module-scoped `fixture` (a world with an `operator`), a failing report carries that
    operator's log (tests/e2e/conftest.py's hook reads the stash)."""
    if fixture in request.fixturenames:
        request.node.stash[OPERATORS] = [request.getfixturevalue(fixture).operator]
