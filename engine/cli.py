"""The engine's command line: `run` and `rules lint | test | explain | graph | schema`.

Where this sits: the top layer. Each command parses its flags, makes one call into the engine, prints, and
returns an exit code (0 success, 1 problems found, 2 unusable input). The product's `arcane` command
(arcane/cli.py) adds `sandbox` and `cluster up` and hands everything else here, naming its own commands so
that `--help` lists them too.
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
from engine.core.store import ObjectStore
from engine.core.targets import bindings_for, bindings_of, dynamic_bindings
from engine.core.trace import render as render_trace
from engine.errors import Problem, RuleSetError
from engine.model import GVK, Decision, Obj
from engine.spec import compile_ruleset, lint
from engine.spec.graph import dot, mermaid
from engine.spec.jsonschema import rule_file_schema
from engine.spec.loader import rule_files
from engine.spec.ruleset import Document, RuleSet
from engine.testing.fixture import list_items

EXIT_OK, EXIT_PROBLEMS, EXIT_UNUSABLE = 0, 1, 2
_UNUSABLE = {"missing", "unreadable", "empty", "binary", "too-large"}


class InputError(Exception):
    """A file given on the command line that cannot be used; the message says where (`--flag path: what`)."""


def main(argv: Sequence[str] | None = None, *, listed: Sequence[tuple[str, str]] = ()) -> int:
    """Run the engine command line; returns the exit code. `listed` are (command, help) pairs of commands the
    caller runs itself before handing over (`cluster up`): they only appear in `--help`."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:2] == ["rules", "test"]:  # its own flags, in any order (argparse REMAINDER would not allow that)
        from engine.testing.command import run_tests

        return run_tests(arguments[2:])
    parser = _parser(listed)
    args = parser.parse_args(arguments)
    if not getattr(args, "handler", None):
        getattr(args, "help_of", parser).print_help()  # `arcane rules` shows the rules commands
        return EXIT_UNUSABLE
    code: int = args.handler(args)
    return code


def _parser(listed: Sequence[tuple[str, str]] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arcane", description="A watch-and-evaluate Kubernetes operator driven by YAML rules."
    )
    commands = parser.add_subparsers(title="commands")
    _list_commands(commands, listed)

    run = commands.add_parser("run", help="run the operator against a cluster")
    _runtime_flags(run)
    run.set_defaults(handler=_run)

    rules_cmd = commands.add_parser("rules", help="work with rule files")
    rules_cmd.set_defaults(help_of=rules_cmd)
    rules = rules_cmd.add_subparsers(title="rules commands")
    lint_cmd = rules.add_parser("lint", help="check rule files; exit 0 clean, 1 problems, 2 unusable input")
    lint_cmd.add_argument("paths", nargs="*", default=["rules"], help="rule directories or files (default: rules)")
    lint_cmd.add_argument(
        "--crd",
        action="append",
        default=[],
        metavar="FILE",
        help="a CRD file or directory to check field paths against (repeatable: --crd a.yaml --crd b.yaml)",
    )
    lint_cmd.add_argument("--format", choices=["text", "json"], default="text")
    lint_cmd.set_defaults(handler=_lint)

    rules.add_parser("test", help="run rule fixtures (see docs/testing-rules.md; `arcane rules test --help`)")

    explain = rules.add_parser(
        "explain", help="show the decisions for one object, with the trace; exit 1 when no rule document evaluates it"
    )
    explain.add_argument("--rules", default="rules", help="rule directory or file")
    explain.add_argument(
        "--object", required=True, help="a YAML file with the object to evaluate (or a `kind: List` of one)"
    )
    explain.add_argument(
        "--state",
        action="append",
        default=[],
        metavar="PATH",
        help="a YAML file or directory of other objects, `kind: List` expanded (repeatable)",
    )
    explain.add_argument("--format", choices=["text", "json"], default="text")
    explain.set_defaults(handler=_explain)

    graph = rules.add_parser(
        "graph", help="draw the state machines: Markdown with a ```mermaid block each, or one Graphviz DOT digraph"
    )
    graph.add_argument("paths", nargs="*", default=["rules"])
    graph.add_argument("--format", choices=["mermaid", "dot"], default="mermaid")
    graph.set_defaults(handler=_graph)

    schema = rules.add_parser("schema", help="print the JSON Schema of rule files (for editors)")
    schema.set_defaults(handler=_schema)
    return parser


def _list_commands(commands: Any, listed: Sequence[tuple[str, str]]) -> None:
    """Commands run elsewhere, listed for `--help`: `cluster up` becomes `cluster` with a subcommand `up`, so
    that `arcane cluster --help` names it too."""
    groups: dict[str, Any] = {}
    for name, text in listed:
        first, _, rest = name.partition(" ")
        if not rest:
            commands.add_parser(first, help=text)
            continue
        if first not in groups:
            group = commands.add_parser(first, help=f"{rest}: {text}")
            group.set_defaults(help_of=group)
            groups[first] = group.add_subparsers(title=f"{first} commands")
        groups[first].add_parser(rest, help=text)


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


def _yaml_files(flag: str, raw: str) -> list[Path]:
    """The file, or the `*.yaml`/`*.yml` files directly in the directory (as rule directories are read), that a flag
    names."""
    path = Path(raw)
    if path.is_dir():
        return rule_files(path)
    if not path.exists():
        raise InputError(f"{flag} {raw}: no such file or directory")
    return [path]


def _documents(flag: str, file: Path) -> list[Any]:
    """A file's YAML documents (empty ones left out); a file that cannot be read or parsed is an InputError."""
    try:
        text = file.read_text(encoding="utf-8")
        return [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except UnicodeDecodeError as error:
        raise InputError(f"{flag} {file}: not UTF-8 text (byte {error.start}): is this a binary file?") from None
    except OSError as error:
        raise InputError(f"{flag} {file}: cannot read: {error.strerror}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        reason = getattr(error, "problem", None) or str(error)
        raise InputError(f"{flag} {file}{where}: invalid YAML: {reason}") from None


def _objects(flag: str, raw: str) -> list[tuple[str, dict[str, Any]]]:
    """The Kubernetes objects in a file or directory, each with where it is (`--state f.yaml: document 1,
    items[0]`): lists (`kubectl get -o yaml` writes `kind: List`) are expanded into their items. Anything
    that is not an object is an InputError: left out, it would only turn up later as "not found"."""
    out: list[tuple[str, dict[str, Any]]] = []
    for file in _yaml_files(flag, raw):
        for number, document in enumerate(_documents(flag, file), 1):
            items = list_items(document)
            for index, obj in enumerate([document] if items is None else items):
                where = f"{flag} {file}: document {number}" + ("" if items is None else f", items[{index}]")
                out.append((where, _checked_object(where, obj)))
    return out


def _checked_object(where: str, obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected an object, found {type(obj).__name__}")
    meta = obj.get("metadata")
    missing = [key for key in ("apiVersion", "kind") if not isinstance(obj.get(key), str) or not obj.get(key)]
    named = isinstance(meta, dict) and any(
        isinstance(meta.get(k), str) and meta.get(k) for k in ("name", "generateName")
    )
    if not named:
        missing.append("metadata.name (or generateName)")
    if missing:
        raise InputError(f"{where}: an object needs {', '.join(missing)}")
    return obj


def _crds(paths: Sequence[str]) -> list[dict[str, Any]]:
    """The CustomResourceDefinitions of each --crd (other documents beside them are passed over, as in a
    chart's crds/ directory); a --crd that gives none is an InputError, since it would check nothing."""
    crds: list[dict[str, Any]] = []
    for raw in paths:
        documents = [doc for file in _yaml_files("--crd", raw) for doc in _documents("--crd", file)]
        found = [doc for doc in documents if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition"]
        if not found:
            what = "directory" if Path(raw).is_dir() else "file"
            raise InputError(f"--crd {raw}: no CustomResourceDefinition in this {what}")
        crds.extend(found)
    return crds


def _lint(args: argparse.Namespace) -> int:
    try:
        crds = _crds(args.crd)
    except InputError as error:
        print(error, file=sys.stderr)
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
        objects = _objects("--object", args.object)
        state = [obj for path in args.state for _, obj in _objects("--state", path)]
    except (RuleSetError, InputError) as error:
        print(error, file=sys.stderr)
        return EXIT_UNUSABLE
    if len(objects) != 1:
        listed = " (in a List)" if any(", items[" in where for where, _ in objects) else ""
        print(
            f"--object {args.object}: holds {len(objects)} objects{listed}; explain evaluates exactly one "
            "(give the others with --state)",
            file=sys.stderr,
        )
        return EXIT_UNUSABLE
    clock = datetime.now(UTC)
    cluster = MemoryCluster(lambda: clock.strftime("%Y-%m-%dT%H:%M:%SZ"))
    for obj in state:
        cluster.put(obj)
    target = cluster.put(objects[0][1])
    kind = GVK.of_object(target)
    heading = f"{kind.kind} {target['metadata'].get('namespace', '')}/{target['metadata'].get('name')}"
    if not bindings_of(ruleset, target, cluster):
        what = (
            f"{heading} (out of the scope of every document of its kind)"
            if bindings_for(ruleset, kind, cluster)
            else str(kind)
        )
        return _not_evaluated(args.format, heading, what, _why_not(ruleset, target, cluster))
    evaluation = evaluate(ruleset, Snapshot(target, cluster), lambda: clock)
    if args.format == "json":
        decisions = [_decision_json(d) for d in evaluation.decisions]
        trace = render_trace(evaluation.trace).splitlines()
        print(json.dumps({"decisions": decisions, "trace": trace}, indent=2, default=str))
        return EXIT_OK
    print(heading)
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


def _not_evaluated(output: str, heading: str, what: str, reasons: list[str]) -> int:
    """Say that no rule document evaluates the object (`what`: its kind, or the object when documents of its kind
    leave it out), and what each one evaluates instead (exit 1: the object is readable, but nothing here can explain
    it, as `rules test` fails a step that evaluates such an object)."""
    message = f"no rule document evaluates {what}"
    if output == "json":
        print(json.dumps({"decisions": [], "error": message, "documents": reasons}, indent=2))
    else:
        print(heading)
        print(f"{message}:")
        for reason in reasons or ["the rules have no documents"]:
            print(f"  - {reason}")
    return EXIT_PROBLEMS


def _why_not(ruleset: RuleSet, obj: Obj, store: ObjectStore) -> list[str]:
    """What each document evaluates, for an object none of them evaluates."""
    kind = GVK.of_object(obj)
    of_its_kind = {id(binding.document) for binding in bindings_for(ruleset, kind, store)}
    return [
        _scope(document) if id(document) in of_its_kind else _what_it_evaluates(document, kind, store)
        for document in ruleset.documents
    ]


def _scope(document: Document) -> str:
    """What a document of the object's kind evaluates of it, for an object out of its scope."""
    target = document.target
    scope = [f"in namespaces {', '.join(target.namespaces)}"] if target.namespaces else []
    if target.selector is not None:
        scope.append(f"labelled {target.selector.text!r}")
    return f"`{document.name}` ({document.file}) evaluates only the objects of this kind {' and '.join(scope)}"


def _what_it_evaluates(document: Document, kind: GVK, store: ObjectStore) -> str:
    name = f"`{document.name}` ({document.file})"
    target = document.target
    if target.static is not None:
        return f"{name} evaluates {target.static.gvk}"
    assert target.dynamic is not None
    source = target.dynamic.source.gvk
    sources = list(store.list(source))
    prefix = f"{name} evaluates the kinds that {source} objects in --state name"
    if not sources:
        return f"{prefix}, and --state holds no {source.kind}"
    named = sorted(str(gvk) for gvk in dynamic_bindings(document, sources))
    if not named:
        verb = "names" if len(sources) == 1 else "name"
        return f"{prefix}: the {len(sources)} {source.kind} there {verb} no kind (`where` false or kind incomplete)"
    return f"{prefix}: {', '.join(named)} (none names {kind})"


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
        name = meta.get("name") or meta.get("generateName", "") + "*"
        namespace = f"{meta['namespace']}/" if meta.get("namespace") else ""
        return f"create {action.obj.get('kind')}/{namespace}{name}"  # as the other actions name their objects
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
    if not any(group.state is not None for document in ruleset.documents for group in document.groups):
        print("no state machine in these rules (a first-match group with `state`): nothing to draw", file=sys.stderr)
        return EXIT_PROBLEMS
    print(mermaid(ruleset) if args.format == "mermaid" else dot(ruleset), end="")
    return EXIT_OK


def _schema(_args: argparse.Namespace) -> int:
    print(json.dumps(rule_file_schema(), indent=2))
    return EXIT_OK
