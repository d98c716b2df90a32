"""The randomised scenario test's generator and oracle: user histories, played on kubesim and in memory.

A history is a list of user actions on a few streams (create, suspend, resume, edit, request a backfill,
delete a request, delete a Job, delete the stream, a Job succeeds, a Job fails). `perform` carries one out on a
`World`: `SimWorld` (kubesim, where the real operator acts; Jobs only finish when an action says so) or
`MemoryWorld` (engine.testing's runner: a MemoryCluster, the real rules, `settle` after each action, the clock
moved 2 s per action, as real time moves between the actions of the other world). The oracle of an action is
the in-memory world after it settles; `snapshot` reduces either world to what the rules decide (phases and
condition reasons, live Jobs with their labels, configuration hash and backfill id, requests with their
completion and status), with generated name suffixes replaced by `*`.

Actions resolve their target in the world they run in (the first live Job of the stream, its first open
request, ...); when the worlds agree before an action, they resolve it the same way.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import yaml
from e2e.harness import CRDS, NAMESPACE, RULES, demo_objects

from engine.expr import rfc3339
from engine.model import GVK, ObjectRef
from engine.spec import compile_ruleset
from engine.testing import Fixture, Runner, Step, StepKind
from engine.testing.fixture import RuleSource
from engine.testing.world import finished
from kubesim import KubeSim

from .bed import DEMO, JOB_API, REQUEST_API, backfill_request, stream

Obj = dict[str, Any]

VERBS = ("create", "suspend", "resume", "edit", "request", "unrequest", "delete-job", "delete", "succeed", "fail")
STREAMS = ("s0", "s1", "s2")
GENERATED = re.compile(r"-initial-backfill-[a-z0-9]+$")
JOB = GVK("batch", "v1", "Job")


@dataclass(frozen=True, slots=True)
class Action:
    verb: str
    stream: str

    def __str__(self) -> str:
        return f"{self.verb} {self.stream}"


def generate(rng: random.Random, length: int, streams: tuple[str, ...] = STREAMS) -> list[Action]:
    """A random history: mostly meaningful actions (a stream is usually created before it is acted on)."""
    exists: set[str] = set()
    actions = []
    for _ in range(length):
        name = rng.choice(streams)
        if name not in exists and rng.random() < 0.8:
            verb = "create"
        else:
            verb = rng.choices(VERBS, weights=(1, 2, 2, 2, 2, 1, 2, 1, 3, 2))[0]
        if verb == "create":
            exists.add(name)
        elif verb == "delete":
            exists.discard(name)
        actions.append(Action(verb, name))
    return actions


class World(Protocol):
    """What an action needs from a cluster."""

    def objects(self, api_version: str, kind: str) -> list[Obj]: ...

    def apply(self, obj: Obj) -> None: ...

    def merge(self, api_version: str, kind: str, name: str, patch: Obj) -> None: ...

    def remove(self, api_version: str, kind: str, name: str) -> None: ...

    def finish(self, job: Obj, *, succeeded: bool) -> None: ...


def _live(obj: Obj) -> bool:
    return not obj["metadata"].get("deletionTimestamp")


def _name(obj: Obj) -> str:
    return str(obj["metadata"]["name"])


def stream_jobs(world: World, name: str) -> list[Obj]:
    """The stream's live Jobs, by name."""
    jobs = [
        j for j in world.objects(JOB_API, "Job") if (j["metadata"].get("labels") or {}).get("arcane/stream-id") == name
    ]
    return sorted((j for j in jobs if _live(j)), key=_name)


def perform(world: World, action: Action, serial: int) -> str:
    """Carry out one action; what was done (`nothing` when it does not apply). `serial` makes names and values unique."""
    name = action.stream
    present = any(_name(s) == name for s in world.objects(DEMO.api_version, DEMO.kind))
    verb = action.verb
    if verb == "create":
        if present:
            return "nothing"
        world.apply(stream(DEMO, name, source=f"{name}-v{serial}"))
        return f"created {name}"
    if not present:
        return "nothing"
    if verb in ("suspend", "resume"):
        world.merge(DEMO.api_version, DEMO.kind, name, {"spec": {"execution": {"suspended": verb == "suspend"}}})
        return f"{verb}ed {name}"
    if verb == "edit":
        world.merge(DEMO.api_version, DEMO.kind, name, {"spec": {"source": f"{name}-v{serial}"}})
        return f"edited {name}"
    if verb == "request":
        request = f"{name}-req-{serial}"
        world.apply(backfill_request(request, name))
        return f"requested {request}"
    if verb == "unrequest":
        open_requests = sorted(
            (
                r
                for r in world.objects(REQUEST_API, "BackfillRequest")
                if r["spec"]["streamId"] == name and not r["spec"].get("completed")
            ),
            key=lambda r: (_generic(_name(r)), _name(r)),
        )
        if not open_requests:
            return "nothing"
        world.remove(REQUEST_API, "BackfillRequest", _name(open_requests[0]))
        return f"deleted request {_generic(_name(open_requests[0]))}"  # generated suffixes differ between worlds
    if verb == "delete-job":
        jobs = stream_jobs(world, name)
        if not jobs:
            return "nothing"
        world.remove(JOB_API, "Job", _name(jobs[0]))
        return f"deleted Job {_name(jobs[0])}"
    if verb == "delete":
        world.remove(DEMO.api_version, DEMO.kind, name)
        return f"deleted {name}"
    unfinished = [j for j in stream_jobs(world, name) if not _terminal(j)]
    if not unfinished:
        return "nothing"
    world.finish(unfinished[0], succeeded=verb == "succeed")
    return f"{'succeeded' if verb == 'succeed' else 'failed'} Job {_name(unfinished[0])}"


def _terminal(job: Obj) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions)


# --- reducing a world to what the rules decide ----------------------------------------------------------


def _reasons(obj: Obj) -> tuple[tuple[str, str, str], ...]:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return tuple(sorted((str(c.get("type")), str(c.get("status")), str(c.get("reason"))) for c in conditions))


def _generic(name: str) -> str:
    return GENERATED.sub("-initial-backfill-*", name)


def snapshot(world: World) -> dict[str, Any]:
    """Everything the rules decide about the streams, comparable across worlds."""
    streams = {
        _name(s): {
            "phase": (s.get("status") or {}).get("phase"),
            "conditions": _reasons(s),
            "configurationHash": (s.get("status") or {}).get("configurationHash"),
        }
        for s in world.objects(DEMO.api_version, DEMO.kind)
    }
    jobs = {}
    for job in world.objects(JOB_API, "Job"):
        if not _live(job):
            continue
        labels = job["metadata"].get("labels") or {}
        env = {
            e["name"]: _generic(str(e.get("value")))
            for c in job["spec"]["template"]["spec"]["containers"]
            for e in c.get("env") or []
            if e["name"] in ("STREAMCONTEXT__BACKFILL_ID", "STREAMCONTEXT__BACKFILL")
        }
        jobs[_name(job)] = {
            "labels": {k: v for k, v in labels.items() if k.startswith("arcane/") or k == "streamId"},
            "hash": (job["metadata"].get("annotations") or {}).get("configuration-hash"),
            "env": env,
            "finished": _terminal(job),
        }
    requests = {
        _generic(_name(r)): {
            "completed": bool(r["spec"].get("completed")),
            "phase": (r.get("status") or {}).get("phase"),
            "conditions": _reasons(r),
            "owned": bool(r["metadata"].get("ownerReferences")),
        }
        for r in world.objects(REQUEST_API, "BackfillRequest")
        if _live(r)
    }
    return {"streams": streams, "jobs": jobs, "requests": requests}


def difference(expected: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """Where two snapshots differ, one line each."""
    lines = []
    for section in ("streams", "jobs", "requests"):
        want, got = expected[section], found[section]
        for key in sorted(set(want) | set(got)):
            if want.get(key) != got.get(key):
                lines.append(f"{section}/{key}: oracle {want.get(key)!r}, operator {got.get(key)!r}")
    return lines


# --- the two worlds -------------------------------------------------------------------------------------


def setup_objects() -> list[Obj]:
    """What both worlds start with: the demo plugin (namespace, CRD, templates, Secret, StreamClass)."""
    objects = demo_objects()
    return [objects[key] for key in sorted(objects)]


class SimWorld:
    """kubesim, where the operator acts."""

    def __init__(self, sim: KubeSim) -> None:
        self.sim = sim

    def objects(self, api_version: str, kind: str) -> list[Obj]:
        return self.sim.list(api_version, kind, NAMESPACE)

    def apply(self, obj: Obj) -> None:
        self.sim.apply(obj)

    def merge(self, api_version: str, kind: str, name: str, patch: Obj) -> None:
        self.sim.patch(api_version, kind, NAMESPACE, name, patch)

    def remove(self, api_version: str, kind: str, name: str) -> None:
        self.sim.delete(api_version, kind, NAMESPACE, name)

    def finish(self, job: Obj, *, succeeded: bool) -> None:
        status = finished(job, rfc3339(datetime.now(UTC)), succeeded=succeeded)
        self.sim.patch(JOB_API, "Job", NAMESPACE, _name(job), {"status": status}, subresource="status")


class MemoryWorld:
    """engine.testing's runner over a MemoryCluster, with the real rules: the oracle."""

    def __init__(self, rules: Path = RULES) -> None:
        ours = [obj for path in sorted(CRDS.glob("*.yaml")) for obj in _documents(path.read_text())]
        crds = (*ours, demo_objects()["CustomResourceDefinition/demostreams.demo.arcane.dev"])
        source = RuleSource((rules,), (), compile_ruleset([rules]), crds)
        fixture = Fixture("randomised", "oracle", "", source, datetime(2026, 1, 1, tzinfo=UTC), (), ())
        self.runner = Runner(fixture)
        self._index = 0
        for obj in (*crds, *setup_objects()):
            self.runner.world.put_given(obj)

    async def _step(self, kind: StepKind, **fields: Any) -> None:
        self._index += 1
        record = await self.runner.step(Step(self._index, kind, **fields))
        if record.problem:
            raise AssertionError(f"the in-memory world refused {kind.value}: {record.problem}")
        if kind is StepKind.SETTLE and not record.settled:
            raise AssertionError(f"the rules never settle in memory: {record.still_writing}")

    async def settle(self) -> None:
        await self._step(StepKind.SETTLE)

    async def advance(self, seconds: float) -> None:
        await self._step(StepKind.ADVANCE, seconds=seconds)

    def objects(self, api_version: str, kind: str) -> list[Obj]:
        group, _, version = api_version.rpartition("/")
        return [dict(obj) for obj in self.runner.cluster.list(GVK(group, version, kind), NAMESPACE)]

    def apply(self, obj: Obj) -> None:
        self.runner.cluster.put(obj, keep_status=True)

    def merge(self, api_version: str, kind: str, name: str, patch: Obj) -> None:
        self.runner.cluster.merge(ObjectRef(api_version, kind, NAMESPACE, name), patch)

    def remove(self, api_version: str, kind: str, name: str) -> None:
        group, _, version = api_version.rpartition("/")
        self.runner.cluster.remove(GVK(group, version, kind), NAMESPACE, name)

    def finish(self, job: Obj, *, succeeded: bool) -> None:
        status = finished(job, self.runner.clock.text(), succeeded=succeeded)
        self.runner.cluster.merge(ObjectRef.of_object(job), {"status": status})


def _documents(text: str) -> Iterable[Obj]:
    return [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict)]
