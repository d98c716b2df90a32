"""The operators under test, each a separate process: ours (`python -m arcane.cli run`) and the kopf peer.

Where this sits: scenarios start one with `OperatorProcess.start(...)`, then ask it the same questions
whichever it is: is it ready (ours: /readyz; kopf has no such notion, so: its indexes are filled and it
handles objects), how many streams has it evaluated (ours: /metrics; the peer: its stats endpoint), how
deep is its queue. RSS and CPU come from /proc (bench.procstat) by pid, the same way for both.

What it does not do: no measuring policy; the scenarios decide what to time.
"""

from __future__ import annotations

import enum
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any

import aiohttp
import orjson
import yaml

from bench import sampling
from bench.sim import REPO, _env


class Peer(enum.StrEnum):
    """Which operator a run measures."""

    OURS = "ours"
    KOPF = "kopf"


def free_port() -> int:
    """A TCP port nobody listens on right now (small race: fine for a benchmark)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@cache
def stream_rule_names(rules: Path = REPO / "rules") -> frozenset[str]:
    """The names of the rules that evaluate streams (rules/stream.yaml): their decisions count evaluations."""
    names: set[str] = set()
    for doc in yaml.safe_load_all((rules / "stream.yaml").read_text()):
        for group in (doc or {}).get("spec", {}).get("groups") or ():
            names.update(str(rule["name"]) for rule in group.get("rules") or ())
    return frozenset(names)


def parse_prometheus(text: str) -> list[tuple[str, dict[str, str], float]]:
    """The samples of a Prometheus text exposition: (name, labels, value)."""
    out: list[tuple[str, dict[str, str], float]] = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, rest = head.partition("{")
        labels: dict[str, str] = {}
        if rest:
            for part in rest.rstrip("}").split('",'):
                key, _, raw = part.partition("=")
                if key:
                    labels[key.strip(",")] = raw.strip('"')
        try:
            out.append((name, labels, float(value)))
        except ValueError:
            continue
    return out


@dataclass
class Progress:
    """What an operator says about its work so far."""

    evaluated: int
    """Stream evaluations (ours: decisions of stream rules; the peer: distinct streams reconciled)."""
    queue_depth: int | None
    errors: int
    raw: dict[str, Any]

    @property
    def restarts(self) -> int:
        """Relists and watch restarts (ours; the peer does not report them)."""
        return int(self.raw.get("arcane_relists_total", 0) + self.raw.get("arcane_watch_restarts_total", 0))


class OperatorProcess:
    """One operator process under test."""

    def __init__(self, peer: Peer, workdir: Path, kubeconfig: Path, *, workers: int = 16) -> None:
        self.peer = peer
        self.workdir = workdir
        self.kubeconfig = kubeconfig
        self.workers = workers
        self.health_port = free_port()
        self.metrics_port = free_port()
        self.log_path = workdir / f"operator-{peer.value}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self._log: IO[bytes] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._profiler: sampling.Sampler | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> OperatorProcess:
        """Launch the process (returns at once; `started_at` is the monotonic launch time)."""
        env = _env()
        if self.peer is Peer.OURS:
            command = shlex.split(os.environ.get("BENCH_OPERATOR_PREFIX", ""))  # a wrapper: callgrind, say
            command += [sys.executable, "-m", "arcane.cli", "run", "--rules", str(REPO / "rules")]
            command += ["--kubeconfig", str(self.kubeconfig), "--health-port", str(self.health_port)]
            command += ["--metrics-port", str(self.metrics_port), "--write-qps", "0", "--no-reload"]
            command += ["--workers", str(self.workers)]
            if os.environ.get("BENCH_OPERATOR_LOG_LEVEL"):
                command += ["--log-level", os.environ["BENCH_OPERATOR_LOG_LEVEL"]]
        else:
            peer = REPO / "bench" / "peers" / "kopf_operator.py"
            command = [sys.executable, "-m", "kopf", "run", "--standalone", "--all-namespaces", str(peer)]
            env.update(KUBECONFIG=str(self.kubeconfig), PEER_STATS_PORT=str(self.metrics_port))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(command, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        if os.environ.get("BENCH_PROFILE"):
            self._profiler = sampling.attach(self.process.pid, Path(os.environ["BENCH_PROFILE"]), self.peer.value)
        return self

    async def _get(self, url: str) -> tuple[int, bytes]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        try:
            async with self._session.get(url) as response:
                return response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError):
            return 0, b""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            code = self.process.returncode if self.process is not None else None
            raise RuntimeError(f"the {self.peer.value} operator exited ({code}): {self.log_tail()}")

    async def ready(self) -> bool:
        """Ours: /readyz answers 200 (rules compiled, every watch listed). The peer: its indexes are filled."""
        self.check_alive()
        if self.peer is Peer.OURS:
            status, _ = await self._get(f"http://127.0.0.1:{self.health_port}/readyz")
            return status == 200
        status, body = await self._get(f"http://127.0.0.1:{self.metrics_port}/stats")
        return status == 200 and bool(orjson.loads(body).get("ready"))

    async def progress(self) -> Progress:
        self.check_alive()
        if self.peer is Peer.OURS:
            status, body = await self._get(f"http://127.0.0.1:{self.metrics_port}/metrics")
            if status != 200:
                return Progress(0, None, 0, {})
            samples = parse_prometheus(body.decode())
            streams = stream_rule_names()
            evaluated = errors = 0
            depth: int | None = None
            raw: dict[str, float] = {}
            for name, labels, value in samples:
                if name == "arcane_evaluations_total":
                    if labels.get("rule") in streams:
                        evaluated += int(value)
                    if labels.get("outcome") == "error":
                        errors += int(value)
                elif name == "arcane_queue_depth":
                    depth = int(value)
                elif name in ("arcane_relists_total", "arcane_watch_restarts_total", "arcane_queue_retries_total"):
                    raw[name] = raw.get(name, 0.0) + value
            return Progress(evaluated, depth, errors, raw)
        status, body = await self._get(f"http://127.0.0.1:{self.metrics_port}/stats")
        if status != 200:
            return Progress(0, None, 0, {})
        stats = orjson.loads(body)
        return Progress(int(stats["streams"]), int(stats.get("inflight", 0)), int(stats["errors"]), stats)

    async def stop(self, timeout: float = 20.0) -> tuple[int | None, float]:
        """SIGTERM, then wait; the exit code and the seconds it took to exit."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._profiler is not None:
            self._profiler.stop()
            self._profiler = None
        process = self.process
        code: int | None = None
        took = 0.0
        if process is not None:
            started = time.monotonic()
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
            took = time.monotonic() - started
        if self._log is not None:
            self._log.close()
            self._log = None
        return code, took

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_problems(self) -> dict[str, int]:
        """Counts of error and warning lines in the operator's log (ours logs JSON; kopf logs text)."""
        counts = {"error": 0, "warning": 0}
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return counts
        for line in text.splitlines():
            lowered = line[:200].lower()
            if '"level":"error"' in lowered or "[error" in lowered or "traceback" in lowered:
                counts["error"] += 1
            elif '"level":"warning"' in lowered or "[warning" in lowered:
                counts["warning"] += 1
        return counts


def kill_quietly(process: subprocess.Popen[bytes] | None) -> None:
    """Last-resort cleanup for a process a failed scenario left behind."""
    if process is not None and process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
