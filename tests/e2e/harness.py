"""The end-to-end harness: the real operator as a subprocess, its probes and metrics, and cluster fixtures.

Where this sits: tests/e2e drives `python -m arcane.cli run` (exactly what a user or the chart runs) against
kubesim serving in the test process. `OperatorProcess` starts it on free ports with its output in a file
(printed with a failing test's report), reads its probes and metrics over HTTP, and stops it; `wait_for`
polls a condition with a generous deadline (never a timing assertion); the manifest builders make the
objects of a small stream plugin; `WatchRecorder` keeps every watch event of one resource, read with the
official client, so a test can assert on histories (phases taken, Jobs that coexisted).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client.parser import text_string_to_metric_families

from arcane.sandbox import demo_manifests
from kubesim import KubeSim

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "rules"
CRDS = REPO / "charts" / "arcane-operator" / "crds"
GROUP, VERSION = "streaming.sneaksanddata.com", "v1"
DEMO_GROUP = "demo.arcane.dev"
NAMESPACE = "demo"
USER_AGENT = "arcane-operator"

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.1) -> T:
    """Poll `probe` until it returns something truthy; fail saying `what` was awaited (and the last value)."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")
        time.sleep(interval)


# --- the operator process -----------------------------------------------------------------------------


@dataclass
class OperatorProcess:
    """One `arcane run` subprocess: its ports, its log file, and the means to probe and stop it."""

    name: str
    command: list[str]
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    _log: Any = field(default=None, repr=False)
    _ports: tuple[int, int] | None = field(default=None, repr=False)

    def start(self) -> OperatorProcess:
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.command, stdout=self._log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def records(self) -> list[dict[str, Any]]:
        """The JSON log lines (other lines, e.g. a traceback printed by Python itself, are skipped)."""
        out = []
        for line in self.logs().splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    out.append(entry)
        return out

    def messages(self, level: str | None = None) -> list[str]:
        return [str(r.get("msg")) for r in self.records() if level is None or r.get("level") == level]

    # HTTP endpoints (on ports 0: the kernel picks free ones, which the process logs once it listens)

    def ports(self) -> tuple[int, int] | None:
        """(health port, metrics port) once the process listens, else None."""
        if self._ports is None:
            for record in self.records():
                if record.get("msg") == "operator started":
                    self._ports = (int(record["health_port"]), int(record["metrics_port"]))
                    break
        return self._ports

    def _listening(self) -> tuple[int, int]:
        def ports() -> tuple[int, int] | None:
            found = self.ports()
            if found is None and not self.alive():
                raise AssertionError(f"operator {self.name} exited with {self.returncode}:\n{self.logs()[-4000:]}")
            return found

        return wait_for(f"{self.name} to listen", ports)

    @property
    def health_port(self) -> int:
        return self._listening()[0]

    @property
    def metrics_port(self) -> int:
        return self._listening()[1]

    def _get(self, port: int, path: str) -> tuple[int, str]:
        if not self.alive():
            raise AssertionError(f"operator {self.name} exited with {self.returncode}:\n{self.logs()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as error:
            return int(error.code), error.read().decode()
        except OSError:
            return 0, ""  # not listening yet

    def probe(self, path: str) -> tuple[int, str]:
        """GET a path on the health port: (status, body); status 0 while nothing listens."""
        ports = self.ports()
        if ports is None:
            if not self.alive():
                raise AssertionError(f"operator {self.name} exited with {self.returncode}:\n{self.logs()[-4000:]}")
            return 0, ""
        return self._get(ports[0], path)

    def metrics_text(self) -> str:
        status, body = self._get(self.metrics_port, "/metrics")
        assert status == 200, f"/metrics answered {status}: {body}"
        return body

    def metrics(self) -> Metrics:
        return Metrics.parse(self.metrics_text())

    def wait_ready(self, timeout: float = 30.0) -> None:
        wait_for(f"{self.name} /readyz to answer 200", lambda: self.probe("/readyz")[0] == 200, timeout)

    def wait_log(self, text: str, timeout: float = 30.0) -> str:
        return wait_for(
            f"{self.name} to log {text!r}",
            lambda: next((m for m in self.messages() if text in m), None),
            timeout,
        )

    # stopping

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL (idempotent), and reap."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def close(self) -> None:
        """Stop whatever is left: SIGTERM, then SIGKILL; close the log file."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(12)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None


def operator_command(rules: Path, kubeconfig: Path, extra: Sequence[str] = ()) -> list[str]:
    """`arcane run` as a user types it, on free ports (0: any), with JSON logs that tests can read."""
    return [
        sys.executable,
        "-m",
        "arcane.cli",
        "run",
        "--rules",
        str(rules),
        "--kubeconfig",
        str(kubeconfig),
        "--health-port",
        "0",
        "--metrics-port",
        "0",
        "--log-format",
        "json",
        *extra,
    ]


def operator_env() -> dict[str, str]:
    """The environment of an operator process: ours, minus any kubeconfig of the machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env["POD_NAMESPACE"] = "default"
    env.pop("LOG_LEVEL", None)
    return env


# --- metrics ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metrics:
    """Samples of one scrape: name -> list of (labels, value)."""

    samples: dict[str, list[tuple[dict[str, str], float]]]

    @classmethod
    def parse(cls, text: str) -> Metrics:
        samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
        return cls(samples)

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples of `name` whose labels include `labels` (0 when none)."""
        return sum(v for sample_labels, v in self.samples.get(name, []) if labels.items() <= sample_labels.items())

    def labels(self, name: str) -> list[dict[str, str]]:
        return [labels for labels, _ in self.samples.get(name, [])]


# --- the cluster --------------------------------------------------------------------------------------


def install_crds(sim: KubeSim) -> None:
    """Our CRDs, from the chart (StreamClass, StreamingJobTemplate, BackfillRequest)."""
    for path in sorted(CRDS.glob("*.yaml")):
        sim.apply_many(path.read_text())


def demo_objects() -> dict[str, dict[str, Any]]:
    """The demo plugin's objects by kind/name (the sandbox's), without its streams."""
    out: dict[str, dict[str, Any]] = {}
    for doc in demo_manifests():
        meta: Any = doc.get("metadata") or {}
        if doc.get("kind") != "DemoStream":
            out[f"{doc['kind']}/{meta['name']}"] = doc
    return out


def install_plugin(sim: KubeSim, *, with_class: bool = True) -> None:
    """The demo plugin: namespace, stream CRD, templates, Secret, and (by default) its StreamClass."""
    objects = demo_objects()
    order = ["Namespace/demo", "CustomResourceDefinition/demostreams.demo.arcane.dev", "Secret/demo-connection"]
    order += sorted(k for k in objects if k.startswith("StreamingJobTemplate/"))
    if with_class:
        order.append("StreamClass/demo")
    sim.apply_many([objects[k] for k in order])


def stream(name: str, *, suspended: bool = False, backfill: bool = True) -> dict[str, Any]:
    """A demo stream with the Job backend (and a backfill template unless `backfill` is False)."""
    execution: dict[str, Any] = {
        "layoutVersion": "v1",
        "suspended": suspended,
        "streamingBackend": {"changeCapture": {"jobTemplateRef": {"name": "demo-stream"}}},
    }
    if backfill:
        execution["backfillJobTemplateRef"] = {"name": "demo-backfill"}
    return {
        "apiVersion": f"{DEMO_GROUP}/v1",
        "kind": "DemoStream",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "source": f"{name}-db",
            "destination": f"lake/{name}",
            "connectionSecretRef": {"name": "demo-connection"},
            "execution": execution,
        },
    }


def phase(sim: KubeSim, name: str) -> str:
    obj = sim.get(f"{DEMO_GROUP}/v1", "DemoStream", NAMESPACE, name)
    return str(((obj or {}).get("status") or {}).get("phase") or "")


def wait_phase(sim: KubeSim, name: str, wanted: str, timeout: float = 30.0) -> None:
    wait_for(f"{name} to be {wanted}", lambda: phase(sim, name) == wanted, timeout)


def official_client(kubeconfig: Path) -> Any:
    """An ApiClient of the official `kubernetes` package for a kubeconfig (close it after use)."""
    import kubernetes

    config: Any = kubernetes.config
    return config.new_client_from_config(str(kubeconfig))


def condition_message(obj: dict[str, Any] | None) -> str:
    """The message of the stream's single phase condition."""
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return " | ".join(str(c.get("message")) for c in conditions)


def events(sim: KubeSim, namespace: str, *, reason: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
    found = sim.list("v1", "Event", namespace)
    return [
        e
        for e in found
        if (reason is None or e.get("reason") == reason)
        and (name is None or (e.get("involvedObject") or {}).get("name") == name)
    ]


def with_replaced(text: str, old: str, new: str) -> str:
    """`text` with `old` replaced once; fails when `old` is not there (the rules changed under the test)."""
    assert text.count(old) == 1, f"expected exactly one {old!r} in the rules"
    return text.replace(old, new)


# --- histories through the official client ------------------------------------------------------------


class WatchRecorder:
    """Every watch event of one resource (all namespaces), read with the official client in a thread."""

    def __init__(self, custom_api: Any, group: str, version: str, plural: str) -> None:
        self.custom_api = custom_api
        self.resource = (group, version, plural)
        self.errors: list[str] = []
        self._events: list[tuple[str, dict[str, Any]]] = []
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch {plural}", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> WatchRecorder:
        """Start, and return once the first watch is open: every change after this call is recorded."""
        self._thread.start()
        if not self._connected.wait(10):
            raise AssertionError(f"the watch of {self.resource} did not open: {self.errors}")
        return self

    def stop(self) -> None:
        """Stop within about a second (each watch asks the server to end after one second)."""
        self._stop.set()
        self._thread.join(15)

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            return list(self._events)

    def _run(self) -> None:
        version = ""
        while not self._stop.is_set():
            try:
                response = self.custom_api.list_cluster_custom_object(
                    *self.resource,
                    watch=True,
                    timeout_seconds=1,
                    resource_version=version or None,
                    _preload_content=False,
                    _request_timeout=(5, 10),
                )
                self._connected.set()  # the server subscribed the watch before it sent the headers
                try:
                    for line in _lines(response):
                        event = json.loads(line)
                        obj = event.get("object") or {}
                        if event.get("type") == "ERROR":
                            version = ""  # 410: start over from the current state
                            continue
                        version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                        with self._lock:
                            self._events.append((str(event.get("type")), obj))
                finally:
                    response.release_conn()
            except Exception as error:  # a recorder must not die; the test reads `errors`
                self.errors.append(repr(error))
                self._stop.wait(0.2)


def _lines(response: Any) -> Iterator[str]:
    buffer = b""
    for chunk in response.stream(4096):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield line.decode()


# --- the stream steps most tests take -----------------------------------------------------------------


def create_stream(custom: Any, body: dict[str, Any]) -> None:
    custom.create_namespaced_custom_object(DEMO_GROUP, "v1", NAMESPACE, "demostreams", body)


def set_suspended(custom: Any, name: str, suspended: bool) -> None:
    patch = {"spec": {"execution": {"suspended": suspended}}}
    custom.patch_namespaced_custom_object(DEMO_GROUP, "v1", NAMESPACE, "demostreams", name, patch)


def get_stream(custom: Any, name: str) -> dict[str, Any]:
    found: dict[str, Any] = custom.get_namespaced_custom_object(DEMO_GROUP, "v1", NAMESPACE, "demostreams", name)
    return found


def copy_rules(target: Path) -> Path:
    """A copy of rules/ a test may edit."""
    target.mkdir(parents=True)
    for path in sorted(RULES.glob("*.yaml")):
        (target / path.name).write_bytes(path.read_bytes())
    return target


def process_group(pgid: int) -> list[int]:
    """The processes (Linux /proc) still in a process group: what a command started and left behind."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def project_configmap(directory: Path, files: Mapping[str, str | bytes], stamp: str) -> None:
    """Write `files` the way the kubelet projects a ConfigMap: a timestamped directory, an atomically swapped `..data`
    symlink to it, one visible symlink per key into `..data` (those of removed keys go), the old directory removed."""
    directory.mkdir(exist_ok=True)
    data = directory / "..data"
    old = os.readlink(data) if data.is_symlink() else None
    target = directory / f"..{stamp}"
    target.mkdir()
    for name, content in files.items():
        (target / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    temporary = directory / "..data_tmp"
    temporary.symlink_to(target.name)
    temporary.rename(data)
    for entry in directory.iterdir():
        if entry.is_symlink() and not entry.name.startswith("..") and entry.name not in files:
            entry.unlink()
    for name in files:
        if not (directory / name).is_symlink():
            (directory / name).symlink_to(Path("..data") / name)
    if old is not None:
        shutil.rmtree(directory / old)
