"""The engine's command line: `run` and `rules lint | test | explain | graph | schema`.

Where this sits: the top layer. Each command parses its flags, makes one call into the engine, prints, and
returns an exit code (0 success, 1 problems found, 2 unusable input). The product's `arcane` command
(arcane/cli.py) adds `sandbox` and `cluster up` and hands everything else here.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from engine.core.evaluate import Snapshot, evaluate
from engine.core.trace import render as render_trace
from engine.errors import Problem, RuleSetError
from engine.model import GVK, Decision
from engine.spec import compile_ruleset, lint
from engine.spec.graph import dot, mermaid
from engine.spec.jsonschema import rule_file_schema

EXIT_OK, EXIT_PROBLEMS, EXIT_UNUSABLE = 0, 1, 2
_UNUSABLE = {"missing", "unreadable", "empty", "binary", "too-large"}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the engine command line; returns the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:2] == ["rules", "test"]:  # its own flags, in any order (argparse REMAINDER would not allow that)
        from engine.testing.command import run_tests

        return run_tests(arguments[2:])
    parser = _parser()
    args = parser.parse_args(arguments)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_UNUSABLE
    code: int = args.handler(args)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arcane", description="A watch-and-evaluate Kubernetes operator driven by YAML rules."
    )
    commands = parser.add_subparsers(title="commands")

    run = commands.add_parser("run", help="run the operator against a cluster")
    _runtime_flags(run)
    run.set_defaults(handler=_run)

    rules = commands.add_parser("rules", help="work with rule files").add_subparsers(title="rules commands")
    lint_cmd = rules.add_parser("lint", help="check rule files; exit 0 clean, 1 problems, 2 unusable input")
    lint_cmd.add_argument("paths", nargs="*", default=["rules"], help="rule directories or files (default: rules)")
    lint_cmd.add_argument("--crd", action="append", default=[], help="CRD file(s) to check field paths against")
    lint_cmd.add_argument("--format", choices=["text", "json"], default="text")
    lint_cmd.set_defaults(handler=_lint)

    rules.add_parser("test", help="run rule fixtures (see docs/testing-rules.md; `arcane rules test --help`)")

    explain = rules.add_parser("explain", help="show the decisions for one object, with the trace")
    explain.add_argument("--rules", default="rules", help="rule directory or file")
    explain.add_argument("--object", required=True, help="a YAML file with the object to evaluate")
    explain.add_argument("--state", action="append", default=[], help="YAML files or directories of other objects")
    explain.add_argument("--format", choices=["text", "json"], default="text")
    explain.set_defaults(handler=_explain)

    graph = rules.add_parser("graph", help="draw the state machines (Mermaid or Graphviz DOT)")
    graph.add_argument("paths", nargs="*", default=["rules"])
    graph.add_argument("--format", choices=["mermaid", "dot"], default="mermaid")
    graph.set_defaults(handler=_graph)

    schema = rules.add_parser("schema", help="print the JSON Schema of rule files (for editors)")
    schema.set_defaults(handler=_schema)
    return parser


def _runtime_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rules", required=True, help="the rules directory (a mounted ConfigMap works)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then ~/.kube/config)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--namespace", action="append", default=[], help="watch only these namespaces (repeatable)")
    parser.add_argument("--health-port", type=int, default=8888)
    parser.add_argument("--metrics-port", type=int, default=9090)
    parser.add_argument("--log-level", default=None, help="debug, info, warning, error (default: LOG_LEVEL or info)")
    parser.add_argument("--log-format", choices=["json", "text"], default="json")
    parser.add_argument("--leader-elect", action="store_true", help="run as one of several replicas (Lease)")
    parser.add_argument("--leader-election-namespace", default=None)
    parser.add_argument("--leader-election-id", default="arcane-operator")
    parser.add_argument("--no-reload", action="store_true", help="do not watch the rules directory for changes")
    parser.add_argument("--dry-run", action="store_true", help="log the actions instead of performing them")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--write-qps", type=float, default=50.0, help="write rate limit (0 lifts it)")
    parser.add_argument("--write-burst", type=int, default=100)


def _run(args: argparse.Namespace) -> int:
    from engine.runtime.main import run_operator

    return run_operator(args)


def _load_yaml_objects(paths: Sequence[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for raw in paths:
        path = Path(raw)
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")) if path.is_dir() else [path]
        for file in files:
            out.extend(doc for doc in yaml.safe_load_all(file.read_text()) if isinstance(doc, dict))
    return out


def _lint(args: argparse.Namespace) -> int:
    try:
        crds = [doc for doc in _load_yaml_objects(args.crd) if doc.get("kind") == "CustomResourceDefinition"]
    except (OSError, yaml.YAMLError) as error:
        print(f"arcane rules lint: cannot read --crd: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    problems = lint(args.paths, crds)
    if args.format == "json":
        print(json.dumps([_problem_json(p) for p in problems], indent=2))
    else:
        for problem in problems:
            print(problem)
        print(f"{len(problems)} problem(s)" if problems else "ok: no problems", file=sys.stderr)
    if any(p.code in _UNUSABLE for p in problems):
        return EXIT_UNUSABLE
    return EXIT_PROBLEMS if problems else EXIT_OK


def _problem_json(problem: Problem) -> dict[str, Any]:
    where = problem.location
    return {
        "file": where.file,
        "line": where.line,
        "column": where.column,
        "path": where.path,
        "message": problem.message,
        "code": problem.code,
    }


def _explain(args: argparse.Namespace) -> int:
    from engine.testing.memory import MemoryCluster

    try:
        ruleset = compile_ruleset([args.rules])
        objects = _load_yaml_objects([args.object])
        state = _load_yaml_objects(args.state)
    except RuleSetError as error:
        print(error, file=sys.stderr)
        return EXIT_UNUSABLE
    except (OSError, yaml.YAMLError) as error:
        print(f"arcane rules explain: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    if len(objects) != 1:
        print(f"arcane rules explain: --object must hold exactly one object (found {len(objects)})", file=sys.stderr)
        return EXIT_UNUSABLE
    clock = datetime.now(UTC)
    cluster = MemoryCluster(lambda: clock.strftime("%Y-%m-%dT%H:%M:%SZ"))
    for obj in state:
        cluster.put(obj)
    target = cluster.put(objects[0])
    evaluation = evaluate(ruleset, Snapshot(target, cluster), lambda: clock)
    if args.format == "json":
        print(json.dumps({"decisions": [_decision_json(d) for d in evaluation.decisions]}, indent=2, default=str))
        return EXIT_OK
    kind = GVK.of_object(target)
    print(f"{kind.kind} {target['metadata'].get('namespace', '')}/{target['metadata'].get('name')}")
    if not evaluation.decisions:
        print("no rule fired")
    for decision in evaluation.decisions:
        print(f"rule {decision.provenance}:")
        if decision.error:
            print(f"  error: {decision.error}")
        for action in decision.actions:
            print(f"  - {_action_text(action)}")
    print()
    print(render_trace(evaluation.trace))
    return EXIT_OK


def _decision_json(decision: Decision) -> dict[str, Any]:
    return {
        "rule": decision.provenance.rule,
        "file": decision.provenance.file,
        "line": decision.provenance.line,
        "error": decision.error,
        "transition": decision.transition,
        "actions": [_action_text(a) for a in decision.actions],
    }


def _action_text(action: Any) -> str:
    from engine.model import CreateObject, DeleteObject, EmitEvent, ObjectRef, PatchObject

    if isinstance(action, CreateObject):
        meta = action.obj.get("metadata") or {}
        return f"create {action.obj.get('kind')} {meta.get('name') or meta.get('generateName', '') + '*'}"
    if isinstance(action, DeleteObject):
        return f"delete {action.ref} ({action.propagation.value})"
    if isinstance(action, PatchObject):
        where = f"{action.ref}/status" if action.subresource else str(action.ref)
        return f"patch {where}: {json.dumps(action.patch, sort_keys=True)}"
    assert isinstance(action, EmitEvent)
    return f"event {action.type.value} {action.reason} on {ObjectRef.__str__(action.involved)}: {action.message}"


def _graph(args: argparse.Namespace) -> int:
    try:
        ruleset = compile_ruleset(args.paths)
    except RuleSetError as error:
        print(error, file=sys.stderr)
        return EXIT_UNUSABLE
    print(mermaid(ruleset) if args.format == "mermaid" else dot(ruleset), end="")
    return EXIT_OK


def _schema(_args: argparse.Namespace) -> int:
    print(json.dumps(rule_file_schema(), indent=2))
    return EXIT_OK
