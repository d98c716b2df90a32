"""The benchmark harness keeps working: every scenario runs in quick mode and reports the fields its tables need.

The figures themselves are never asserted (they depend on the machine); what is pinned is that each
scenario runs for ours and for the kopf peer, writes its JSON fields, and leaves docs/benchmarks.md and
docs/benchmark-runs.md alone in quick mode. One harness run (`python -m bench --quick --peer both`, as a user runs it) feeds every test.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.edits import Edit, EditKind, attribute  # noqa: E402 - the harness is not installed: import from the checkout
from bench.framework import percentiles  # noqa: E402 - same
from bench.operators import parse_prometheus  # noqa: E402 - same
from bench.report import append_markdown  # noqa: E402 - same

SCENARIOS = ["cold-start", "converge", "latency", "soak", "engine", "kubesim"]
PEERED = ["cold-start", "converge", "latency", "soak"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One quick run of every scenario with both peers: its JSON, its stdout, and the docs' digest before and after."""
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    docs = [REPO / "docs" / "benchmarks.md", REPO / "docs" / "benchmark-runs.md"]
    before = [_digest(path) for path in docs]
    command = [sys.executable, "-m", "bench", *SCENARIOS, "--quick", "--peer", "both", "--out", str(out)]
    process = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1500, check=False)
    assert out.exists(), f"no results written (exit {process.returncode}):\n{process.stderr[-4000:]}"
    return {
        "results": json.loads(out.read_text()),
        "stdout": process.stdout,
        "stderr": process.stderr,
        "code": process.returncode,
        "docs_changed": [_digest(path) for path in docs] != before,
    }


def _runs(quick: dict[str, Any], scenario: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = quick["results"]["scenarios"][scenario]["runs"]
    return runs


def _check_runs(quick: dict[str, Any], scenario: str, figures: list[str], kubesim: list[str]) -> None:
    runs = _runs(quick, scenario)
    assert sorted(run["peer"] for run in runs) == ["kopf", "ours"], runs
    for run in runs:
        assert run["error"] == "", f"{scenario} {run['peer']}: {run['error']}\n{quick['stderr'][-3000:]}"
        missing = [key for key in figures if key not in run["figures"]]
        assert not missing, f"{scenario} {run['peer']} lacks {missing}"
        missing = [key for key in kubesim if key not in run["kubesim"]]
        assert not missing, f"{scenario} {run['peer']} lacks kubesim's {missing}"


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(1600)
def test_every_scenario_is_reported_with_machine_and_commit(quick: dict[str, Any]) -> None:
    """The results name every scenario, the machine, the date and the commit, and the run exits 0."""
    results = quick["results"]
    assert quick["code"] == 0, quick["stderr"][-4000:]
    assert sorted(results["scenarios"]) == sorted(SCENARIOS)
    machine = results["machine"]
    for key in ("cpu", "cores", "ram_gib", "python", "interpreter", "date", "commit"):
        assert machine[key], key
    assert results["quick"] is True


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(1600)
def test_cold_start_reports_sync_evaluation_writes_and_memory(quick: dict[str, Any]) -> None:
    """Cold start reports time to synced and to evaluated, writes, peak and steady RSS, idle CPU, and kubesim's list rate."""
    figures = ["caches_synced_s", "all_evaluated_s", "writes", "peak_rss_mib", "steady_rss_mib", "idle_cpu_pct"]
    _check_runs(quick, "cold-start", figures, ["list_streams_per_s", "cpu_share_during_sync"])


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(1600)
def test_converge_reports_time_requests_and_cpu(quick: dict[str, Any]) -> None:
    """Converge reports time to Running, requests per stream and per phase change, CPU per 1,000 streams, kubesim's write rate."""
    figures = [
        "seconds_to_running",
        "streams_per_s",
        "requests_per_stream",
        "requests_per_phase_change",
        "cpu_s_per_1000",
    ]
    _check_runs(quick, "converge", figures, ["write_probe_per_s", "cpu_share"])


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(1600)
def test_latency_reports_percentiles_of_each_reaction(quick: dict[str, Any]) -> None:
    """Latency reports p50/p95/p99 from event to first write and to phase written, and kubesim's service time."""
    figures = [f"{what}_{p}_ms" for what in ("first_write", "phase_written") for p in ("p50", "p95", "p99")]
    _check_runs(quick, "latency", [*figures, "edits_per_s", "unanswered"], ["edit_service_p50_ms", "cpu_share"])


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(1600)
def test_soak_reports_drift_queue_and_errors(quick: dict[str, Any]) -> None:
    """The soak reports RSS drift, the deepest queue, errors and streams left in the wrong state."""
    figures = ["rss_growth_pct", "rss_end_mib", "errors", "inconsistent_streams", "edits_per_s"]
    _check_runs(quick, "soak", figures, ["cpu_share"])


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(1600)
def test_external_scenarios_report_figures(quick: dict[str, Any]) -> None:
    """The engine and kubesim scenarios run and report figures."""
    for name in ("engine", "kubesim"):
        scenario = quick["results"]["scenarios"][name]
        assert scenario["status"] == "ok", scenario.get("extra")
        assert scenario["runs"][0]["figures"], name


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(1600)
def test_ratios_and_markdown_are_produced_but_docs_are_left_alone(quick: dict[str, Any]) -> None:
    """Peered scenarios carry ours/kopf ratios, the Markdown goes to stdout, and quick mode never appends to the docs."""
    for name in PEERED:
        ratios = quick["results"]["scenarios"][name]["ratios"]
        assert ratios, name
        assert all(isinstance(v, dict) for v in ratios.values()), name
    assert "| figure | N | ours | kopf | ours/kopf |" in quick["stdout"]
    assert "Machine: " in quick["stdout"]
    assert not quick["docs_changed"]


def test_percentiles_use_the_nearest_rank() -> None:
    """Percentiles are nearest-rank over the sorted values, with the maximum beside them."""
    assert percentiles([5.0, 1.0, 3.0, 2.0, 4.0]) == {"p50": 3.0, "p95": 5.0, "p99": 5.0, "max": 5.0}
    assert percentiles([]) == {}


def test_a_run_is_appended_to_the_runs_document(tmp_path: Path) -> None:
    """The first run creates the runs document with its title; each later run goes at its end, the earlier kept."""
    runs = tmp_path / "runs.md"
    append_markdown(runs, "## Run A\n\nfirst\n")
    append_markdown(runs, "## Run B\n\nsecond\n")
    assert runs.read_text() == "# Benchmark runs\n\n## Run A\n\nfirst\n\n## Run B\n\nsecond\n"


def test_prometheus_text_is_parsed_with_labels() -> None:
    """Exposition lines become (name, labels, value); comments and malformed values are skipped."""
    text = (
        '# HELP x\narcane_evaluations_total{outcome="decided",rule="keep-running"} 3.0\narcane_queue_depth 0.0\nbad x\n'
    )
    assert parse_prometheus(text) == [
        ("arcane_evaluations_total", {"outcome": "decided", "rule": "keep-running"}, 3.0),
        ("arcane_queue_depth", {}, 0.0),
    ]


def test_an_edit_is_matched_to_the_operators_first_write_on_its_stream() -> None:
    """The first write is the operator's earliest write to the edited stream's objects after the edit, Events excluded."""
    edit = Edit(0, EditKind.SUSPEND, "s-000001")

    def record(ts: float, who: str, what: str, sub: str = "", manager: str = "") -> dict[str, Any]:
        agent = "arcane-bench" if who == "bench" else "arcane-operator"
        verb, _, rest = what.partition(" ")
        resource, _, name = rest.partition("/")
        return {
            "timestamp": ts, "duration": 0.001, "user_agent": agent, "verb": verb, "resource": resource,
            "subresource": sub, "name": name, "path": f"/x/{rest}", "status": 200,
            "query": {"fieldManager": manager} if manager else {},
        }  # fmt: skip

    log = [
        record(10.000, "bench", "patch demostreams/s-000001", manager=edit.manager),
        record(10.005, "operator", "create events/"),
        record(10.006, "operator", "delete jobs/s-000002"),
        record(10.011, "operator", "delete jobs/s-000001"),
        record(10.020, "operator", "patch demostreams/s-000001", sub="status"),
    ]
    (reaction,) = attribute([edit], log, None)
    assert reaction.event_at == pytest.approx(10.001)
    assert reaction.first_write == pytest.approx(10.011)
    assert reaction.phase_written == pytest.approx(10.021)
