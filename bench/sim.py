"""Starting and stopping the benchmark's kubesim process (bench.simserver) from the harness.

Where this sits: each scenario opens a `SimProcess` (a context manager): it writes the seed file, starts
`python -m bench.simserver` in a work directory, waits for its kubeconfig, and hands out the `Endpoint`
and the pid (for CPU and RSS). Stopping sends SIGTERM and waits.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.kube import Endpoint

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Seed:
    """What the simulator holds before the kubeconfig appears: base objects plus cloned stream groups."""

    base: list[dict[str, Any]] = field(default_factory=list)
    clones: list[dict[str, Any]] = field(default_factory=list)

    def clone(self, token: str, objects: list[dict[str, Any]], names: list[str]) -> Seed:
        """Add N copies of a group (stream first, then its dependents) with `token` replaced by each name."""
        self.clones.append({"token": token, "objects": objects, "names": names})
        return self

    def size(self) -> int:
        return len(self.base) + sum(len(c["objects"]) * len(c["names"]) for c in self.clones)


class SimProcess:
    """One kubesim process. `with SimProcess(workdir, seed) as sim: sim.endpoint ...`."""

    def __init__(
        self, workdir: Path, seed: Seed | None = None, *, job_seconds: float = 1.0, timeout: float = 600
    ) -> None:
        self.workdir = workdir
        self.seed = seed
        self.job_seconds = job_seconds
        self.timeout = timeout
        self.kubeconfig = workdir / "kubesim.kubeconfig"
        self.log_path = workdir / "kubesim.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.seconds_to_serve = 0.0
        self._log: Any = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint.from_kubeconfig(self.kubeconfig)

    def __enter__(self) -> SimProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.kubeconfig.unlink(missing_ok=True)
        command = shlex.split(os.environ.get("BENCH_SIM_PREFIX", ""))
        command += [sys.executable, "-m", "bench.simserver", "--kubeconfig", str(self.kubeconfig)]
        command += ["--job-seconds", f"{self.job_seconds:g}"]
        if self.seed is not None:
            path = self.workdir / "seed.json"
            path.write_bytes(orjson.dumps({"base": self.seed.base, "clones": self.seed.clones}))
            command += ["--seed", str(path)]
        self._log = self.log_path.open("wb")
        started = time.monotonic()
        self.process = subprocess.Popen(command, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT, env=_env())
        while not self.kubeconfig.exists():
            if self.process.poll() is not None:
                self.__exit__()
                raise RuntimeError(f"kubesim exited with {self.process.returncode}: {self.log_tail()}")
            if time.monotonic() - started > self.timeout:
                self.__exit__()
                raise TimeoutError(f"kubesim did not serve within {self.timeout:g} s: {self.log_tail()}")
            time.sleep(0.05)
        self.seconds_to_serve = time.monotonic() - started
        return self

    def __exit__(self, *exc: object) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env
