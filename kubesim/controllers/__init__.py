"""Controllers a real cluster runs, each switchable: CRD lifecycle (always), Job, CronJob, GC, namespaces.

Controllers react to store events on the simulator's loop through the scheduler (never re-entrantly)
and write through `kubesim.api` like any client, so their writes show in watches and the event history.
"""

from __future__ import annotations

from typing import Protocol

from kubesim.controllers.crds import CrdController
from kubesim.runtime import Runtime


class Controller(Protocol):
    """A started controller."""

    def start(self) -> None:
        """Subscribe and begin work."""

    def stop(self) -> None:
        """Cancel timers (the store outlives controllers)."""


def start_controllers(runtime: Runtime) -> list[Controller]:
    """Start the always-on CRD controller and the enabled ones."""
    controllers: list[Controller] = [CrdController(runtime)]
    enabled = runtime.settings.controllers
    if "gc" in enabled:
        from kubesim.controllers.gc import GarbageCollector

        controllers.append(GarbageCollector(runtime))
    if "namespace" in enabled:
        from kubesim.controllers.namespaces import NamespaceController

        controllers.append(NamespaceController(runtime))
    if "job" in enabled:
        from kubesim.controllers.jobs import JobController

        controllers.append(JobController(runtime))
    if "cronjob" in enabled:
        from kubesim.controllers.cronjobs import CronJobController

        controllers.append(CronJobController(runtime))
    for controller in controllers:
        controller.start()
    return controllers
