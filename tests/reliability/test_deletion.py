"""Streams deleted in bulk (a GitOps prune, `kubectl delete -f`): nothing is started for a stream that is gone.

The garbage collector deletes a deleted stream's Job and initial BackfillRequest; the operator hears of those
deletions on other watches than the stream's, and may hear of them first. An evaluation of the stream then finds it
still cached, Running, with its Job gone, and would create the Job again (the collector deletes it again, after its
Pod may have started): 14 and 12 such creates in the two runs of 100 streams before engine/runtime/deletions.py, which
holds back the creation of what someone else deleted for a grace, by which time the stream's own deletion has
arrived.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from e2e.conftest import StartOperator

from kubesim.testing import Kubectl, kubectl_binary

from .bed import DEMO, PRUNED, Bed, until, wait_ready
from .history import operator_requests

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STREAMS = 100


@pytest.mark.parametrize("propagation", ["Background", "Foreground"])
def test_streams_deleted_in_bulk_get_no_job_again(
    bed: Bed, operators: StartOperator, propagation: str, tmp_path: Path
) -> None:
    """100 Running streams deleted with one `kubectl delete -f` (default and foreground propagation): every Job and
    request goes, and the operator sends no create of any kind after the deletions began."""
    binary = kubectl_binary()
    if binary is None:
        pytest.skip("kubectl is not installed (install it, or set KUBECTL): the deletions are kubectl's")
    operator = operators(bed.sim)
    wait_ready(operator)
    wait_ready(operator, PRUNED)
    bed.create_many(STREAMS)
    bed.converge()

    manifest = tmp_path / "streams.yaml"
    streams = [
        {"apiVersion": k.api_version, "kind": k.kind, "metadata": {"name": n, "namespace": "demo"}}
        for k, n in bed.streams
    ]
    manifest.write_text(yaml.safe_dump_all(streams))
    kubectl = Kubectl(binary, bed.sim.kubeconfig_path, tmp_path / "kubectl-home")
    began = time.time()
    kubectl.run("delete", "-f", str(manifest), f"--cascade={propagation.lower()}", "--wait=false")
    bed.streams.clear()
    until("every Job to be gone", lambda: bed.sim.list("batch/v1", "Job", "demo") == [], timeout=30)
    time.sleep(2.0)  # anything the operator still had queued for the deleted streams
    creates = [f"{r.verb} {r.path}" for r in operator_requests(bed.sim, since=began) if r.verb == "create"]
    assert creates == []
    assert bed.sim.list(DEMO.api_version, DEMO.kind, "demo") == []
