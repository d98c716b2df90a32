"""`arcane rules lint | explain | graph | schema`: output and exit codes (0 clean, 1 problems, 2 unusable input)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import EXIT_OK, EXIT_PROBLEMS, EXIT_UNUSABLE, main

from .rulesets import WIDGETS, document

WIDGET = """\
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: default, uid: u1}
spec: {replicas: 1}
"""
REQUEST = """\
apiVersion: example.com/v1
kind: WidgetRequest
metadata: {name: r1, namespace: default, creationTimestamp: "2024-01-01T00:00:00Z"}
spec: {widget: w1}
"""


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "widgets.yaml").write_text(WIDGETS)
    return tmp_path / "rules"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_lint_clean(rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A clean rule set exits 0, prints nothing on stdout and says so on stderr."""
    assert run(capsys, "rules", "lint", str(rules)) == (EXIT_OK, "", "ok: no problems\n")


def test_lint_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Problems are printed one per line on stdout, counted on stderr, with exit code 1."""
    (tmp_path / "bad.yaml").write_text(document('facts: {a: "nosuch"}\ngroups: []\n'))
    code, out, err = run(capsys, "rules", "lint", str(tmp_path / "bad.yaml"))
    assert code == EXIT_PROBLEMS == 1
    assert (
        out
        == f"{tmp_path / 'bad.yaml'}:9:11: spec.facts.a: unknown name `nosuch` in `nosuch` (known names: a, object)\n"
    )
    assert err == "1 problem(s)\n"


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"\x00\x01", "contains NUL bytes: is this a binary file?"), (b"", "the file holds no YAML document")],
)
def test_lint_unusable_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str) -> None:
    """Input that is not a rule file at all (binary, empty) exits 2."""
    (tmp_path / "x.yaml").write_bytes(content)
    code, out, _ = run(capsys, "rules", "lint", str(tmp_path / "x.yaml"))
    assert (code, out) == (EXIT_UNUSABLE, f"{tmp_path / 'x.yaml'}: {expected}\n")


def test_lint_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A path that does not exist is unusable input (exit 2)."""
    code, out, _ = run(capsys, "rules", "lint", str(tmp_path / "nope"))
    assert (code, out) == (EXIT_UNUSABLE, f"{tmp_path / 'nope'}: no such file or directory\n")


def test_lint_unusable_crd(rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A --crd file that cannot be read or parsed exits 2 with a message on stderr."""
    code, out, err = run(capsys, "rules", "lint", str(rules), "--crd", str(tmp_path / "none.yaml"))
    assert (code, out) == (EXIT_UNUSABLE, "")
    assert err.startswith("arcane rules lint: cannot read --crd: [Errno 2] No such file or directory")
    (tmp_path / "crd.yaml").write_text("a: [\n")
    assert run(capsys, "rules", "lint", str(rules), "--crd", str(tmp_path / "crd.yaml"))[0] == EXIT_UNUSABLE


def test_lint_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--format json` prints a JSON list of problems with file, line, column, path, message and code."""
    (tmp_path / "bad.yaml").write_text(document("groups: [{name: main, rules: [{name: r, when: 'a ||'}]}]\n"))
    code, out, _ = run(capsys, "rules", "lint", "--format", "json", str(tmp_path / "bad.yaml"))
    assert code == EXIT_PROBLEMS
    assert json.loads(out) == [
        {
            "file": str(tmp_path / "bad.yaml"),
            "line": 9,
            "column": 54,
            "path": "spec.groups[0].rules[0].when",
            "message": "invalid JMESPath: the expression ends too early in `a ||`",
            "code": "expression",
        }
    ]
    (tmp_path / "bad.yaml").write_text(WIDGETS)
    assert run(capsys, "rules", "lint", "--format", "json", str(tmp_path / "bad.yaml"))[:2] == (EXIT_OK, "[]\n")


def test_lint_defaults_to_the_rules_directory(
    rules: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without paths, lint reads ./rules."""
    monkeypatch.chdir(rules.parent)
    assert run(capsys, "rules", "lint")[0] == EXIT_OK


def test_explain_shows_decisions_and_trace(rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """explain prints the object, each decision with its actions, then the trace (lookups, facts, each rule tried)."""
    (tmp_path / "widget.yaml").write_text(WIDGET)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "request.yaml").write_text(REQUEST)
    code, out, _ = run(
        capsys,
        "rules",
        "explain",
        "--rules",
        str(rules),
        "--object",
        str(tmp_path / "widget.yaml"),
        "--state",
        str(tmp_path / "state"),
    )
    assert code == EXIT_OK
    lines = out.splitlines()
    assert lines[:3] == ["Widget default/w1", f"rule start ({rules / 'widgets.yaml'}:68):", "  - create Job w1-job"]
    assert lines[3].startswith('  - patch Widget/default/w1/status: {"status": {"conditions": [{"lastTransitionTime": ')
    assert lines[4:] == [
        f"rule count ({rules / 'widgets.yaml'}:79):",
        '  - patch Widget/default/w1/status: {"status": {"requests": 1}}',
        "",
        "related objects:",
        "  widgets.job = null",
        '  widgets.requests = ["WidgetRequest/default/r1"]',
        "facts:",
        "  widgets.paused = false",
        '  widgets.label = "widget-w1"',
        "group widgets/lifecycle (match first, state 'New'):",
        "  -  pause: `paused` = false",
        "  => start: (no condition) = true",
        "  winner: start",
        "group widgets/audit (match all):",
        "  => count: (no condition) = true",
        "  winner: count",
    ]


def test_explain_json(rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`explain --format json` lists decisions with rule, file, line, error, transition and actions."""
    (tmp_path / "widget.yaml").write_text(WIDGET)
    code, out, _ = run(
        capsys, "rules", "explain", "--rules", str(rules), "--object", str(tmp_path / "widget.yaml"), "--format", "json"
    )
    decisions = json.loads(out)["decisions"]
    assert code == EXIT_OK
    assert [(d["rule"], d["line"], d["error"], d["transition"]) for d in decisions] == [
        ("start", 68, "", ["New", "Running"]),
        ("count", 79, "", None),
    ]
    assert decisions[1]["actions"] == ['patch Widget/default/w1/status: {"status": {"requests": 0}}']


def test_explain_unusable_input(rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """explain exits 2 for broken rules, a missing object file, or an object file that is not exactly one object."""
    (tmp_path / "two.yaml").write_text(WIDGET + "---\n" + WIDGET)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "r.yaml").write_text("kind: Rules\n")
    code, _, err = run(capsys, "rules", "explain", "--rules", str(rules), "--object", str(tmp_path / "two.yaml"))
    assert (code, err) == (EXIT_UNUSABLE, "arcane rules explain: --object must hold exactly one object (found 2)\n")
    code, _, err = run(capsys, "rules", "explain", "--rules", str(rules), "--object", str(tmp_path / "none.yaml"))
    assert code == EXIT_UNUSABLE
    assert "No such file or directory" in err
    code, _, err = run(
        capsys, "rules", "explain", "--rules", str(tmp_path / "broken"), "--object", str(tmp_path / "two.yaml")
    )
    assert code == EXIT_UNUSABLE
    assert "apiVersion: required field is missing" in err


def test_graph_mermaid_and_dot(rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """graph draws each state machine: Mermaid by default, Graphviz DOT on request."""
    code, out, _ = run(capsys, "rules", "graph", str(rules))
    assert code == EXIT_OK
    assert out == (
        "```mermaid\n"
        "stateDiagram-v2\n"
        "    %% widgets/lifecycle\n"
        "    [*] --> New\n"
        '    state "any state" as any\n'
        "    any --> Paused: pause\n"
        "    New --> Running: start\n"
        "    Paused --> Running: start\n"
        "```\n"
    )
    code, out, _ = run(capsys, "rules", "graph", str(rules), "--format", "dot")
    assert code == EXIT_OK
    assert '"m0 start" -> m0_New;' in out
    assert '"m0 any" -> m0_Paused [label="pause"];' in out


def test_graph_of_unusual_state_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """State names that are not identifiers (spaces, quotes, `any`) get ids, so the diagrams stay valid."""
    (tmp_path / "r.yaml").write_text(
        document(
            """\
            groups:
              - name: main
                state: {field: status.phase, initial: In Progress, states: {In Progress: null, any: null, 'Say "hi"': null}}
                rules:
                  - {name: a, when: object.a, to: any}
                  - {name: b, from: [any], when: object.b, to: 'Say "hi"'}
                  - {name: c, when: object.c}
            """
        )
    )
    assert run(capsys, "rules", "graph", str(tmp_path))[1] == (
        "```mermaid\n"
        "stateDiagram-v2\n"
        "    %% widgets/main\n"
        '    state "In Progress" as s0\n'
        '    state "Say \\"hi\\"" as s2\n'
        "    [*] --> s0\n"
        '    state "any state" as any_state\n'
        "    any_state --> any: a\n"
        "    any --> s2: b\n"
        "```\n"
        "Rules that keep the state (widgets/main): c.\n"
    )
    dot = run(capsys, "rules", "graph", str(tmp_path), "--format", "dot")[1]
    assert '"m0_In Progress" [label="In Progress"];' in dot
    assert 'm0_any -> "m0_Say \\"hi\\"" [label="b"];' in dot


def test_graph_of_broken_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """graph needs a rule set that compiles (exit 2, problems on stderr)."""
    (tmp_path / "r.yaml").write_text("kind: Rules\n")
    code, _, err = run(capsys, "rules", "graph", str(tmp_path))
    assert code == EXIT_UNUSABLE
    assert "apiVersion: required field is missing" in err


def test_schema_prints_the_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    """schema prints the rule-file JSON Schema (draft 2020-12)."""
    code, out, _ = run(capsys, "rules", "schema")
    assert code == EXIT_OK
    assert json.loads(out)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a command, the usage is printed and the exit code says the input was unusable."""
    code, out, _ = run(capsys)
    assert code == EXIT_UNUSABLE
    assert out.startswith("usage: arcane")
