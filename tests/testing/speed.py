"""A generated suite of fixtures, to measure `arcane rules test` on about 150 scenarios (not a test module).

    .venv/bin/python -m tests.testing.speed [--count 150] [--arcane] [--keep DIR]

Writes `count` multi-step fixtures into a temporary directory (one file per fixture, as authors write them)
and runs the command on them, printing the wall time. Neutral by default (the Widget rules of
tests/testing/rules); with `--arcane`, every fixture walks a stream through the repository's rules/
(initial backfill, Job completion, streaming, suspension), the shape of the shipped Arcane fixtures.
tests/testing/test_speed_suite.py runs a few generated fixtures so the generator keeps working; timing
is reported here, never asserted in a test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from engine.testing.command import run_tests

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

WIDGET = """\
apiVersion: tests.arcane.dev/v1alpha1
kind: RuleTest
metadata:
  name: widget-{i}
  description: "Generated scenario {i}: a Widget runs, pauses, resumes and finishes."
spec:
  rules: {rules}
  crds: {crds}
  given:
    - apiVersion: example.dev/v1
      kind: Widget
      metadata: {{name: w{i}, namespace: team-{team}}}
      spec: {{image: "busybox:1.{i}", tier: gold}}
  steps:
    - name: the Widget starts
      evaluate: Widget/team-{team}/w{i}
      expect:
        fired: [start]
        actions:
          - create: {{kind: Job, metadata: {{name: w{i}-run}}}}
          - status: {{set: {{phase: Running}}}}
          - event: {{reason: Started}}
    - name: its Job gets the tier label
      settle: true
      expect:
        fired: [label-job]
        objects:
          - {{kind: Job, metadata: {{name: w{i}-run, namespace: team-{team}, labels: {{app.example.dev/tier: gold}}}}}}
    - patch: {{target: Widget/team-{team}/w{i}, merge: {{spec: {{paused: true}}}}}}
    - evaluate: Widget/team-{team}/w{i}
      expect:
        fired: [pause]
        absent: [Job/team-{team}/w{i}-run]
    - patch: {{target: Widget/team-{team}/w{i}, merge: {{spec: {{paused: false}}}}}}
    - settle: true
      expect:
        fired: [resume, start, keep-running]
        objects:
          - {{kind: Widget, metadata: {{name: w{i}, namespace: team-{team}}}, status: {{phase: Running}}}}
    - complete: Job/team-{team}/w{i}-run
    - advance: 1h
    - settle: true
      expect:
        fired: [finish, stay-finished]
        objects:
          - {{kind: Widget, metadata: {{name: w{i}, namespace: team-{team}}}, status: {{phase: Done}}}}
"""

ARCANE_WORLD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: teststreamdefinitions.streaming.sneaksanddata.com
spec:
  group: streaming.sneaksanddata.com
  names: {kind: TestStreamDefinition, plural: teststreamdefinitions, singular: teststreamdefinition}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
            status: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: streaming.sneaksanddata.com/v1
kind: StreamClass
metadata: {name: mock-class}
spec: {apiGroupRef: streaming.sneaksanddata.com, kindRef: TestStreamDefinition, apiVersion: v1, pluralName: teststreamdefinitions}
status: {phase: Ready}
---
apiVersion: streaming.sneaksanddata.com/v1
kind: StreamingJobTemplate
metadata: {name: template, namespace: default}
spec:
  apiVersion: batch/v1
  kind: Job
  metadata: {labels: {app: mock}}
  spec:
    backoffLimit: 1
    template:
      spec:
        restartPolicy: Never
        containers: [{name: main, image: "mock:1.0"}]
"""

ARCANE = """\
apiVersion: tests.arcane.dev/v1alpha1
kind: RuleTest
metadata:
  name: scenario-{i}
  description: "Generated scenario {i}: initial backfill, then running, then suspended."
spec:
  rules: {rules}
  crds: {crds}
  given:
    - file: world.yaml
    - apiVersion: streaming.sneaksanddata.com/v1
      kind: TestStreamDefinition
      metadata: {{name: s{i}, namespace: default}}
      spec:
        source: "source-{i}"
        suspended: false
        jobTemplateRef: {{apiVersion: streaming.sneaksanddata.com/v1, kind: StreamingJobTemplate, name: template, namespace: default}}
        backfillJobTemplateRef: {{apiVersion: streaming.sneaksanddata.com/v1, kind: StreamingJobTemplate, name: template, namespace: default}}
  steps:
    - settle: true
      expect:
        fired: [request-initial-backfill, start-backfill]
        objects:
          - {{kind: TestStreamDefinition, metadata: {{name: s{i}}}, status: {{phase: Backfilling}}}}
          - {{kind: Job, metadata: {{name: s{i}-backfill}}}}
    - complete: Job/s{i}-backfill
    - settle: true
      expect:
        fired: [backfill-completed, start-streaming]
        absent: [Job/s{i}-backfill]
        objects:
          - {{kind: TestStreamDefinition, metadata: {{name: s{i}}}, status: {{phase: Running}}}}
    - patch: {{target: TestStreamDefinition/s{i}, merge: {{spec: {{suspended: true}}}}}}
    - evaluate: TestStreamDefinition/s{i}
      expect:
        fired: [suspend-running]
        absent: [Job/s{i}]
    - evaluate: TestStreamDefinition/s{i}
      expect: nothing
"""


def generate(directory: Path, count: int, arcane: bool = False) -> None:
    """Write `count` fixture files (and, for Arcane, the shared world file) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    if arcane:
        (directory / "world.yaml").write_text(ARCANE_WORLD)
        rules, crds = REPO / "rules", REPO / "charts" / "arcane-operator" / "crds"
    else:
        rules, crds = HERE / "rules", HERE / "crds" / "widgets.yaml"
    template = ARCANE if arcane else WIDGET
    for i in range(count):
        text = template.format(i=i, team=i % 7, rules=rules, crds=crds)
        (directory / f"scenario-{i:03}.yaml").write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=150)
    parser.add_argument("--arcane", action="store_true", help="stream scenarios on the repository's rules/")
    parser.add_argument("--keep", type=Path, help="write the suite here (and keep it) instead of a temp dir")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as temp:
        directory = args.keep or Path(temp)
        generate(directory, args.count, args.arcane)
        started = time.perf_counter()
        code = run_tests([str(directory), "--coverage"])
        elapsed = time.perf_counter() - started
    print(f"{args.count} generated scenarios: exit {code}, {elapsed:.2f}s wall (load, compile, run, report)")
    return code


if __name__ == "__main__":
    sys.exit(main())
