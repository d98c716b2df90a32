"""The workload: the sandbox's demo plugin (arcane/demo), its streams, and a converged template to clone.

Where this sits: every scenario installs `base_manifests()` (our CRDs, the DemoStream CRD, its StreamClass,
templates and Secret) and creates streams shaped like the demo's `orders` stream (`stream(name)`).
Scenarios that need streams that *already* run (cold start, latency, soak) do not converge thousands of
them first: `capture_template` lets the operator under test converge one stream for real, then the
simulator clones the result (stream with status, its Job, its completed BackfillRequest) N times with the
name substituted (bench.simserver). Every stream has the same spec, so the clones' Jobs carry the
configuration hash the operator computes for them: they are up to date, and a correct operator writes
nothing at start.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from arcane.sandbox import demo_manifests
from bench.kube import JSON, USER_AGENT, Api, resource_path, wait_for
from bench.observe import wait_quiet
from bench.operators import OperatorProcess, Peer
from bench.sim import REPO, Seed, SimProcess
from bench.simserver import OWNER_UID

NAMESPACE = "demo"
STREAMS = ("demo.arcane.dev", "v1", "demostreams")
JOBS = ("batch", "v1", "jobs")
REQUESTS = ("streaming.sneaksanddata.com", "v1", "backfillrequests")
CLASSES = ("streaming.sneaksanddata.com", "v1", "streamclasses")
TOKEN = "s-000000"
"""The template stream's name; never one of the benchmark's streams (they count from 1)."""


def stream_name(index: int) -> str:
    """Fixed width, so that `<name>-` prefixes never collide (s-000001- is not a prefix of s-000010-)."""
    return f"s-{index:06d}"


def streams_path(name: str | None = None, sub: str = "") -> str:
    return resource_path(*STREAMS, NAMESPACE, name, sub=sub)


def base_manifests() -> list[JSON]:
    """Our CRDs, then the demo plugin without its two streams."""
    out: list[JSON] = []
    for path in sorted((REPO / "charts" / "arcane-operator" / "crds").glob("*.yaml")):
        out.extend(doc for doc in yaml.safe_load_all(path.read_text()) if isinstance(doc, dict))
    out.extend(copy.deepcopy(doc) for doc in demo_manifests() if doc.get("kind") != "DemoStream")
    return out


@cache
def _orders() -> JSON:
    """The demo's `orders` stream spec (parsed once: YAML costs milliseconds, far more than a create)."""
    for doc in demo_manifests():
        meta: Any = doc.get("metadata") or {}
        if doc.get("kind") == "DemoStream" and meta.get("name") == "orders":
            spec: JSON = copy.deepcopy(doc["spec"])  # type: ignore[arg-type]
            return spec
    raise LookupError("the demo plugin has no `orders` stream")


def stream(name: str, *, suspended: bool = False) -> JSON:
    """A demo stream (the `orders` stream's spec: a backfill, then a streaming Job)."""
    spec = copy.deepcopy(_orders())
    spec["execution"]["suspended"] = suspended
    return {
        "apiVersion": f"{STREAMS[0]}/{STREAMS[1]}",
        "kind": "DemoStream",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }


@dataclass(frozen=True)
class Template:
    """One converged stream of one operator, ready to clone: the cluster's base state and the stream group."""

    peer: Peer
    base: list[JSON]
    group: list[JSON]
    seconds: float

    def seed(self, names: list[str]) -> Seed:
        return Seed(base=copy.deepcopy(self.base)).clone(TOKEN, self.group, names)


_KEEP_META = ("name", "namespace", "labels", "annotations", "ownerReferences", "finalizers")


def _portable(obj: JSON, owner_uid: str | None) -> JSON:
    """An object as it can be re-created elsewhere: identity, server-set fields and defaults' owners dropped."""
    meta = obj.get("metadata") or {}
    kept = {key: copy.deepcopy(meta[key]) for key in _KEEP_META if key in meta}
    for ref in kept.get("ownerReferences") or ():
        if owner_uid is not None and ref.get("uid") == owner_uid:
            ref["uid"] = OWNER_UID
    annotations = kept.get("annotations") or {}
    for key, value in annotations.items():  # an operator's mark naming its stream (arcane/spec-generation: uid/gen)
        if owner_uid and isinstance(value, str) and owner_uid in value:
            annotations[key] = value.replace(owner_uid, OWNER_UID)
    out: JSON = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": kept}
    for key in ("spec", "status", "data", "stringData", "type"):
        if key in obj:
            out[key] = copy.deepcopy(obj[key])
    if obj["kind"] == "Job":
        # kubesim's Job controller owns status; a selector names the template Job's uid.
        out.pop("status", None)
        spec = out.get("spec") or {}
        spec.pop("selector", None)
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        for key in [k for k in labels if "controller-uid" in k]:
            labels.pop(key)
    return out


async def capture_template(peer: Peer, workdir: Path, *, job_seconds: float, timeout: float = 120.0) -> Template:
    """Let `peer` converge one stream on a fresh simulator; return what to clone for N streams."""
    started = time.monotonic()
    with SimProcess(workdir, Seed(base=base_manifests()), job_seconds=job_seconds) as sim:
        operator = OperatorProcess(peer, workdir, sim.kubeconfig).start()
        try:
            async with Api(sim.endpoint) as api:
                await wait_for(operator.ready, timeout=timeout, what=f"the {peer.value} operator to be ready")
                await api.create(streams_path(), stream(TOKEN))

                async def converged() -> bool:
                    obj = await api.request("GET", streams_path(TOKEN))
                    if (obj.get("status") or {}).get("phase") != "Running":
                        return False
                    requests, _ = await api.list_all(resource_path(*REQUESTS, NAMESPACE))
                    jobs, _ = await api.list_all(resource_path(*JOBS, NAMESPACE))
                    done = [r for r in requests if (r.get("spec") or {}).get("completed")]
                    return bool(done) and any(j["metadata"]["name"] == TOKEN for j in jobs) and len(jobs) == 1

                await wait_for(converged, timeout=timeout, interval=0.2, what="the template stream to run")
                await wait_quiet(api, quiet=1.5, timeout=timeout)
                owner = await api.request("GET", streams_path(TOKEN))
                uid = str(owner["metadata"]["uid"])
                jobs, _ = await api.list_all(resource_path(*JOBS, NAMESPACE))
                requests, _ = await api.list_all(resource_path(*REQUESTS, NAMESPACE))
                classes, _ = await api.list_all(resource_path(*CLASSES))
                log = await api.request_log()
        finally:
            await operator.stop()
    operator_requests = [r for r in log if r.get("user_agent") != USER_AGENT and not r["path"].startswith("/kubesim/")]
    if not operator_requests:
        raise RuntimeError(f"the {peer.value} operator made no request while converging the template stream")
    converged_classes = {c["metadata"]["name"]: _portable(c, None) for c in classes}
    base = [
        converged_classes.get(o["metadata"]["name"], o) if o["kind"] == "StreamClass" else o for o in base_manifests()
    ]
    group = [_portable(owner, None)]
    group += [_portable(j, uid) for j in jobs]
    group += [_portable(r, uid) for r in requests if (r.get("spec") or {}).get("streamId") == TOKEN]
    return Template(peer, base, group, time.monotonic() - started)


def seed_objects(template: Template, count: int) -> tuple[Seed, list[str]]:
    """A seed of `count` converged streams cloned from the template, and their names."""
    names = [stream_name(i) for i in range(1, count + 1)]
    return template.seed(names), names
