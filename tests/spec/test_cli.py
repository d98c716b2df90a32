"""`arcane rules lint | explain | graph | schema`: output and exit codes (0 clean, 1 problems, 2 unusable input)."""

from __future__ import annotations

import json
import re
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
    """A --crd file that cannot be read or parsed exits 2 with a located message on stderr."""
    missing = tmp_path / "none.yaml"
    assert run(capsys, "rules", "lint", str(rules), "--crd", str(missing)) == (
        EXIT_UNUSABLE,
        "",
        f"--crd {missing}: no such file or directory\n",
    )
    (tmp_path / "crd.yaml").write_text("a: [\n")
    code, _, err = run(capsys, "rules", "lint", str(rules), "--crd", str(tmp_path / "crd.yaml"))
    assert code == EXIT_UNUSABLE
    assert err.startswith(f"--crd {tmp_path / 'crd.yaml'}:2:1: invalid YAML: ")


CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""


def test_lint_crd_that_holds_no_crd(rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A --crd file or directory that gives no CustomResourceDefinition (a rule file by mistake, an empty
    directory) is unusable input, named, instead of a clean lint that checked nothing."""
    rule_file = rules / "widgets.yaml"
    assert run(capsys, "rules", "lint", str(rules), "--crd", str(rule_file)) == (
        EXIT_UNUSABLE,
        "",
        f"--crd {rule_file}: no CustomResourceDefinition in this file\n",
    )
    (tmp_path / "empty").mkdir()
    assert run(capsys, "rules", "lint", str(rules), "--crd", str(tmp_path / "empty"))[::2] == (
        EXIT_UNUSABLE,
        f"--crd {tmp_path / 'empty'}: no CustomResourceDefinition in this directory\n",
    )
    (tmp_path / "crds").mkdir()
    (tmp_path / "crds" / "widgets.yaml").write_text(CRD + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n")
    assert run(capsys, "rules", "lint", str(rules), "--crd", str(tmp_path / "crds"))[0] == EXIT_OK


def test_help_says_crd_repeats(capsys: pytest.CaptureFixture[str]) -> None:
    """`--crd` takes one path per flag (`--crd a.yaml b.yaml` would read b.yaml as rules): --help says so."""
    with pytest.raises(SystemExit):
        main(["rules", "lint", "--help"])
    assert "(repeatable: --crd a.yaml --crd b.yaml)" in " ".join(capsys.readouterr().out.split())


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
    assert lines[:3] == [
        "Widget default/w1",
        f"rule start ({rules / 'widgets.yaml'}:68):",
        "  - create Job/default/w1-job",
    ]
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
        "  fired: count",
    ]


def test_explain_json(rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`explain --format json` lists decisions with rule, file, line, error, transition and actions, and the trace
    (its lines, as the text output shows them)."""
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
    trace = json.loads(out)["trace"]
    assert "group widgets/lifecycle (match first, state 'New'):" in trace
    assert "  winner: start" in trace


def test_explain_unusable_input(rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """explain exits 2 for broken rules, a missing object file, or an object file that is not exactly one object."""
    two = tmp_path / "two.yaml"
    two.write_text(WIDGET + "---\n" + WIDGET)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "r.yaml").write_text("kind: Rules\n")
    code, _, err = run(capsys, "rules", "explain", "--rules", str(rules), "--object", str(two))
    assert (code, err) == (
        EXIT_UNUSABLE,
        f"--object {two}: holds 2 objects; explain evaluates exactly one (give the others with --state)\n",
    )
    code, _, err = run(capsys, "rules", "explain", "--rules", str(rules), "--object", str(tmp_path / "none.yaml"))
    assert (code, err) == (EXIT_UNUSABLE, f"--object {tmp_path / 'none.yaml'}: no such file or directory\n")
    code, _, err = run(
        capsys, "rules", "explain", "--rules", str(tmp_path / "broken"), "--object", str(tmp_path / "two.yaml")
    )
    assert code == EXIT_UNUSABLE
    assert "apiVersion: required field is missing" in err


def explain(capsys: pytest.CaptureFixture[str], rules: Path, obj: Path, *more: str) -> tuple[int, str, str]:
    return run(capsys, "rules", "explain", "--rules", str(rules), "--object", str(obj), *more)


def as_list(*objects: str, kind: str = "List", api_version: str = "v1") -> str:
    """Objects as `kubectl get -o yaml` writes them: one document, `kind: List`, the objects under `items`."""
    items = "".join("  - " + text.replace("\n", "\n    ").rstrip() + "\n" for text in objects)
    return f"apiVersion: {api_version}\nkind: {kind}\nmetadata: {{resourceVersion: ''}}\nitems:\n{items}"


def test_explain_reads_lists(rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A `kind: List` in --state or --object (as `kubectl get -o yaml` writes it) gives its items: the request in
    the state's List is found, and a List of one object is that object."""
    (tmp_path / "widget.yaml").write_text(as_list(WIDGET))
    (tmp_path / "state.yaml").write_text(as_list(REQUEST, REQUEST.replace("name: r1", "name: r2")))
    code, out, _ = explain(capsys, rules, tmp_path / "widget.yaml", "--state", str(tmp_path / "state.yaml"))
    assert code == EXIT_OK
    assert out.splitlines()[0] == "Widget default/w1"
    assert '  - patch Widget/default/w1/status: {"status": {"requests": 2}}' in out.splitlines()


def test_explain_takes_objects_named_by_generate_name(
    rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A state object with only `generateName` (as requests are often written) is taken, and named as the API
    server would name it."""
    (tmp_path / "widget.yaml").write_text(WIDGET)
    (tmp_path / "state.yaml").write_text(REQUEST.replace("name: r1", "generateName: r-"))
    code, out, _ = explain(capsys, rules, tmp_path / "widget.yaml", "--state", str(tmp_path / "state.yaml"))
    assert code == EXIT_OK
    assert '  - patch Widget/default/w1/status: {"status": {"requests": 1}}' in out.splitlines()


def test_explain_fills_the_kind_of_a_typed_lists_items(
    rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An API server's typed list (`WidgetRequestList`) leaves apiVersion and kind out of its items: they are
    the list's."""
    (tmp_path / "widget.yaml").write_text(WIDGET)
    request = "metadata: {name: r1, namespace: default}\nspec: {widget: w1}\n"
    (tmp_path / "state.yaml").write_text(as_list(request, kind="WidgetRequestList", api_version="example.com/v1"))
    code, out, _ = explain(capsys, rules, tmp_path / "widget.yaml", "--state", str(tmp_path / "state.yaml"))
    assert (code, '  widgets.requests = ["WidgetRequest/default/r1"]' in out.splitlines()) == (EXIT_OK, True)


def test_explain_object_list_of_several(rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A List of several objects given to --object is refused, saying it is a List."""
    (tmp_path / "two.yaml").write_text(as_list(WIDGET, WIDGET.replace("name: w1", "name: w2")))
    assert explain(capsys, rules, tmp_path / "two.yaml") == (
        EXIT_UNUSABLE,
        "",
        f"--object {tmp_path / 'two.yaml'}: holds 2 objects (in a List); explain evaluates exactly one "
        "(give the others with --state)\n",
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("a: [\n", "{file}:2:1: invalid YAML: expected the node content, but found '<stream end>'"),
        ("- 1\n", "{file}: document 1: expected an object, found list"),
        (
            "kind: Widget\nmetadata: {}\n",
            "{file}: document 1: an object needs apiVersion, metadata.name (or generateName)",
        ),
        (
            as_list("{kind: Widget}"),
            "{file}: document 1, items[0]: an object needs apiVersion, metadata.name (or generateName)",
        ),
    ],
)
def test_explain_unusable_state(
    rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    """A --state file that is not YAML, or holds something that is not an object, is refused with its place
    (left out, it would only show up as a related object "not found")."""
    (tmp_path / "widget.yaml").write_text(WIDGET)
    (tmp_path / "state.yaml").write_text(content)
    code, out, err = explain(capsys, rules, tmp_path / "widget.yaml", "--state", str(tmp_path / "state.yaml"))
    assert (code, out, err) == (EXIT_UNUSABLE, "", "--state " + expected.format(file=tmp_path / "state.yaml") + "\n")
    (tmp_path / "state.yaml").write_bytes(b"\xff\xfe")
    assert explain(capsys, rules, tmp_path / "widget.yaml", "--state", str(tmp_path / "state.yaml"))[2] == (
        f"--state {tmp_path / 'state.yaml'}: not UTF-8 text (byte 0): is this a binary file?\n"
    )


CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: default}\n"


def test_explain_an_object_no_document_evaluates(
    rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An object of a kind no document evaluates is not "no rule fired": explain says no document evaluates it
    and what each evaluates instead, and exits 1, in text and JSON."""
    (tmp_path / "cm.yaml").write_text(CONFIGMAP)
    assert explain(capsys, rules, tmp_path / "cm.yaml") == (
        EXIT_PROBLEMS,
        "ConfigMap default/cm\n"
        "no rule document evaluates v1/ConfigMap:\n"
        f"  - `widgets` ({rules / 'widgets.yaml'}) evaluates example.com/v1/Widget\n",
        "",
    )
    code, out, _ = explain(capsys, rules, tmp_path / "cm.yaml", "--format", "json")
    assert (code, json.loads(out)) == (
        EXIT_PROBLEMS,
        {
            "decisions": [],
            "error": "no rule document evaluates v1/ConfigMap",
            "documents": [f"`widgets` ({rules / 'widgets.yaml'}) evaluates example.com/v1/Widget"],
        },
    )


SCOPED_WIDGETS = """\
apiVersion: rules.arcane.dev/v1alpha1
kind: Rules
metadata: {name: gold-widgets}
spec:
  for:
    kind: {apiVersion: example.com/v1, kind: Widget}
    namespaces: [team-a]
    labelSelector: tier=gold
  groups:
    - name: main
      rules:
        - {name: mark, when: "!(object.status.seen)", then: [{status: {set: {seen: true}}}]}
"""


def test_explain_and_test_leave_out_objects_out_of_a_documents_scope(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A document's `for.namespaces` and `for.labelSelector` leave other objects of its kind out: explain says no
    document evaluates such an object, and why, and exits 1; `rules test` evaluates, and settles, only the objects
    in scope."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "widgets.yaml").write_text(SCOPED_WIDGETS)
    (tmp_path / "silver.yaml").write_text(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w2, namespace: team-a, labels: {tier: silver}}\n"
    )
    assert explain(capsys, rules, tmp_path / "silver.yaml") == (
        EXIT_PROBLEMS,
        "Widget team-a/w2\n"
        "no rule document evaluates Widget team-a/w2 (out of the scope of every document of its kind):\n"
        f"  - `gold-widgets` ({rules / 'widgets.yaml'}) evaluates only the objects of this kind in namespaces team-a"
        " and labelled 'tier=gold'\n",
        "",
    )
    (tmp_path / "scoped.yaml").write_text(
        f"""\
apiVersion: tests.arcane.dev/v1alpha1
kind: RuleTest
metadata: {{name: scoped}}
spec:
  rules: {rules}
  given:
    - {{apiVersion: example.com/v1, kind: Widget, metadata: {{name: gold, namespace: team-a, labels: {{tier: gold}}}}}}
    - {{apiVersion: example.com/v1, kind: Widget, metadata: {{name: other-team, namespace: team-b, labels: {{tier: gold}}}}}}
    - {{apiVersion: example.com/v1, kind: Widget, metadata: {{name: silver, namespace: team-a, labels: {{tier: silver}}}}}}
  steps:
    - settle: true
      expect:
        fired: [mark]
        objects:
          - {{kind: Widget, metadata: {{name: gold, namespace: team-a}}, status: {{seen: true}}}}
    - evaluate: Widget/team-b/other-team
      expect: nothing
"""
    )
    code, out, _ = run(capsys, "rules", "test", str(tmp_path / "scoped.yaml"))
    assert code == 1
    assert "no document of the rules evaluates Widget/team-b/other-team (the documents of its kind leave it out" in out
    assert "1 failed" in out
    assert "step 2" in out
    (tmp_path / "scoped.yaml").write_text((tmp_path / "scoped.yaml").read_text().rsplit("    - evaluate:", 1)[0])
    code, out, _ = run(capsys, "rules", "test", str(tmp_path / "scoped.yaml"))
    assert code == 0, out


GADGETS = """\
apiVersion: rules.arcane.dev/v1alpha1
kind: Rules
metadata: {name: gadgets}
spec:
  for:
    dynamic:
      from: {apiVersion: example.com/v1, kind: GadgetClass}
      where: "status.ready"
      kind: {apiVersion: "{{ spec.group }}/v1", kind: "{{ spec.kind }}"}
      as: gadgetClass
  groups:
    - name: main
      rules:
        - name: seen
"""


def gadget_class(name: str, kind: str, ready: bool = True) -> str:
    return (
        f"apiVersion: example.com/v1\nkind: GadgetClass\nmetadata: {{name: {name}}}\n"
        f"spec: {{group: example.com, kind: {kind}}}\nstatus: {{ready: {str(ready).lower()}}}\n"
    )


def test_explain_says_dynamic_kinds_come_from_the_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """For a document whose kinds are named by other objects, explain says the kinds come from --state, and
    what the objects there name (none, none that applies, or other kinds)."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "gadgets.yaml").write_text(GADGETS)
    rules, gadget = tmp_path / "rules", tmp_path / "gadget.yaml"
    gadget.write_text("apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g1, namespace: default}\n")
    prefix = f"  - `gadgets` ({rules / 'gadgets.yaml'}) evaluates the kinds that example.com/v1/GadgetClass objects"
    code, out, _ = explain(capsys, rules, gadget)
    assert (code, out.splitlines()[2]) == (EXIT_PROBLEMS, f"{prefix} in --state name, and --state holds no GadgetClass")
    (tmp_path / "state.yaml").write_text(gadget_class("c1", "Gadget", ready=False))
    code, out, _ = explain(capsys, rules, gadget, "--state", str(tmp_path / "state.yaml"))
    assert out.splitlines()[2] == (
        f"{prefix} in --state name: the 1 GadgetClass there names no kind (`where` false or kind incomplete)"
    )
    (tmp_path / "state.yaml").write_text(gadget_class("c1", "Doohickey"))
    code, out, _ = explain(capsys, rules, gadget, "--state", str(tmp_path / "state.yaml"))
    assert (
        out.splitlines()[2] == f"{prefix} in --state name: example.com/v1/Doohickey (none names example.com/v1/Gadget)"
    )
    (tmp_path / "state.yaml").write_text(gadget_class("c1", "Gadget"))
    code, out, _ = explain(capsys, rules, gadget, "--state", str(tmp_path / "state.yaml"))
    assert (code, out.splitlines()[:2]) == (EXIT_OK, ["Gadget default/g1", f"rule seen ({rules / 'gadgets.yaml'}:14):"])


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


def test_graph_of_rules_without_a_state_machine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """graph of rules with no state machine says there is nothing to draw (exit 1), where it printed a blank line."""
    (tmp_path / "r.yaml").write_text(
        "apiVersion: rules.arcane.dev/v1alpha1\nkind: Rules\nmetadata: {name: plain}\n"
        "spec:\n  for: {kind: {apiVersion: v1, kind: ConfigMap}}\n"
        "  groups: [{name: main, match: all, rules: [{name: any}]}]\n"
    )
    assert run(capsys, "rules", "graph", str(tmp_path)) == (
        EXIT_PROBLEMS,
        "",
        "no state machine in these rules (a first-match group with `state`): nothing to draw\n",
    )


def test_schema_prints_the_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    """schema prints the rule-file JSON Schema (draft 2020-12)."""
    code, out, _ = run(capsys, "rules", "schema")
    assert code == EXIT_OK
    assert json.loads(out)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a command, the usage is printed and the exit code says the input was unusable; `rules` alone
    prints the rules commands."""
    code, out, _ = run(capsys)
    assert code == EXIT_UNUSABLE
    assert out.startswith("usage: arcane")
    code, out, _ = run(capsys, "rules")
    assert (code, out.splitlines()[0]) == (
        EXIT_UNUSABLE,
        "usage: arcane rules [-h] {lint,test,explain,graph,schema} ...",
    )


def test_help_lists_the_callers_commands(capsys: pytest.CaptureFixture[str]) -> None:
    """Commands the caller runs itself (the product's `sandbox`, `cluster up`) are listed by `--help` with
    their help, and `cluster --help` names `up`."""
    listed = [("sandbox", "a demo"), ("cluster up", "a server")]
    with pytest.raises(SystemExit):
        main(["--help"], listed=listed)
    out = capsys.readouterr().out
    assert out.startswith("usage: arcane [-h] {sandbox,cluster,run,rules} ...")
    assert [line.split() for line in out.splitlines() if line.startswith("    ")] == [
        ["sandbox", "a", "demo"],
        ["cluster", "up:", "a", "server"],
        ["run", "run", "the", "operator", "against", "a", "cluster"],
        ["rules", "work", "with", "rule", "files"],
    ]
    with pytest.raises(SystemExit):
        main(["cluster", "--help"], listed=listed)
    out = capsys.readouterr().out
    assert out.startswith("usage: arcane cluster [-h] {up} ...")
    assert "    up        a server" in out


def test_the_synopses_in_docs_match_the_flags() -> None:
    """docs/rules.md writes each command's flags in its synopsis, and a repeatable flag as `[--flag X]...`
    (one value per flag: `--crd a.yaml b.yaml` reads b.yaml as a rule path)."""
    import argparse

    from engine.cli import _parser

    text = (Path(__file__).resolve().parents[2] / "docs" / "rules.md").read_text()
    synopses: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("$ arcane rules "):
            synopses.setdefault(line.split()[3], line)  # the synopsis comes before any example
    rules = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["rules"]
    commands = next(a for a in rules._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name in ("lint", "explain", "graph"):
        for action in commands[name]._actions:
            for option in (o for o in action.option_strings if o.startswith("--") and o != "--help"):
                assert option in synopses[name], (name, option)
                repeated = re.search(rf"\[{option} [A-Z_]+\]\.\.\.", synopses[name]) is not None
                assert repeated == isinstance(action, argparse._AppendAction), (name, option)
