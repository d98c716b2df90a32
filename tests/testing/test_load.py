"""Loading fixtures: every problem of every file reported at once with file:line:column, before anything runs."""

from __future__ import annotations

import io
from pathlib import Path

from engine.testing.command import run_tests
from engine.testing.load import LoadOptions, load_suite

from .conftest import Load, Write
from .helpers import CRDS, RULES, fixture_text

BAD = f"""\
apiVersion: tests.arcane.dev/v1alpha1
kind: RuleTest
metadata:
  name: bad
spec:
  rules: {RULES}
  clock: yesterday
  given:
    - {{apiVersion: example.dev/v1, kind: Widget, metadata: {{}}}}
    - file: nothere.yaml
  steps:
    - evaluate: Widget/w1
    - evaluate: w1
      expect: {{fired: [strat]}}
    - advance: 5 minutes
    - delete: Widget/w1
      expect: {{fired: [start]}}
    - settle: true
      expect: {{}}
    - apply: {{apiVersion: v1, kind: ConfigMap, metadata: {{name: c}}}}
      patch: {{target: Widget/w1, merge: {{}}}}
    - evaluate: Widget/w1
      expect: nothing
      bogus: 1
    - settle: false
      maxSteps: 0
      expect: nothing
    - complete: Job/j
      expect: nothing
"""

OTHER = """\
apiVersion: tests.arcane.dev/v1alpha2
kind: RuleTest
metadata: {name: "bad name"}
spec: {steps: []}
"""


def test_every_problem_of_every_file_is_reported_with_its_location(write: Write, tmp_path: Path) -> None:
    """Schema and meaning problems of all documents of all files come out together, sorted, each located."""
    write(BAD, "a.yaml")
    write(OTHER, "b.yaml")
    suite = load_suite([tmp_path])
    assert suite.fixtures == ()
    where = str(tmp_path)
    assert [str(p).replace(where, "T") for p in suite.problems] == [
        "T/a.yaml:7:3: spec.clock: expected an RFC 3339 time, found 'yesterday'",
        "T/a.yaml:9:7: spec.given[0]: an object needs metadata.name",
        "T/a.yaml:10:7: spec.given[1].file: T/nothere.yaml: no such file or directory",
        "T/a.yaml:12:7: spec.steps[0]: this `evaluate` step needs `expect` (or `expect: nothing`): "
        "without it the step could never fail",
        "T/a.yaml:13:7: spec.steps[1].evaluate: expected `Kind/name` or `Kind/namespace/name`, found 'w1'",
        "T/a.yaml:14:24: spec.steps[1].expect.fired[0]: no rule named `strat` in the rules under test; "
        "did you mean `start`?",
        "T/a.yaml:15:7: spec.steps[2].advance: expected a positive duration such as 90s, 5m, 1h30m or 2d, "
        "found '5 minutes'",
        "T/a.yaml:17:16: spec.steps[3].expect.fired: a `delete` step runs no rule: it can only expect objects and absent",
        "T/a.yaml:19:7: spec.steps[4].expect: `expect` checks nothing: give at least one of fired, actions, error, "
        "objects, absent, events",
        "T/a.yaml:20:7: spec.steps[5]: a step does exactly one of evaluate, settle, apply, patch, delete, complete, "
        "fail, advance (found: apply, patch)",
        "T/a.yaml:24:7: spec.steps[6].bogus: unknown field `bogus`",
        "T/a.yaml:26:7: spec.steps[7].maxSteps: min 1 failed (found 0)",
        "T/a.yaml:29:7: spec.steps[8].expect: `expect: nothing` is about rules, and a `complete` step runs none",
        "T/b.yaml:1:1: apiVersion: expected one of tests.arcane.dev/v1alpha1, found 'tests.arcane.dev/v1alpha2'",
        "T/b.yaml:3:12: metadata.name: expected a value matching ^[A-Za-z0-9][A-Za-z0-9_.-]*$, found 'bad name'",
        "T/b.yaml:4:1: spec: no rules to test: set `spec.rules` or pass --rules",
        "T/b.yaml:4:8: spec.steps: must not be empty",
    ]


def test_the_command_prints_every_problem_and_exits_2(write: Write, tmp_path: Path) -> None:
    """Load problems make the command print them all on stderr, run nothing, and exit 2."""
    write(BAD, "a.yaml")
    out, err = io.StringIO(), io.StringIO()
    assert run_tests([str(tmp_path)], stdout=out, stderr=err) == 2
    assert out.getvalue() == ""
    lines = err.getvalue().splitlines()
    assert len(lines) == 14
    assert lines[-1] == "13 problems in the fixtures or their rules: nothing was run"


def test_settle_false_is_refused(load: Load) -> None:
    """`settle: false` is refused with a hint, rather than read as a step that does nothing."""
    suite = load(fixture_text("steps:\n  - settle: false\n    expect: nothing\n"))
    assert [p.message for p in suite.problems] == ["`settle` takes `true` (to not settle, leave the step out)"]


def test_rules_that_do_not_compile_are_reported_with_their_own_locations(write: Write, tmp_path: Path) -> None:
    """A rule file with a problem is reported at its own line, and the fixture says its rules do not compile."""
    rules = write(
        "apiVersion: rules.arcane.dev/v1alpha1\nkind: Rules\nmetadata: {name: x}\n"
        "spec:\n  for: {kind: {apiVersion: v1, kind: ConfigMap}}\n  groups:\n"
        "    - name: g\n      rules:\n        - name: r\n          when: 'data.x =='\n",
        "rules/broken.yaml",
    )
    write(
        "apiVersion: tests.arcane.dev/v1alpha1\nkind: RuleTest\nmetadata: {name: f}\n"
        "spec:\n  rules: rules\n  steps:\n    - advance: 1s\n",
        "f.yaml",
    )
    suite = load_suite([tmp_path / "f.yaml"])
    texts = [str(p).replace(str(tmp_path), "T") for p in suite.problems]
    assert texts[0].startswith("T/f.yaml:5:3: spec.rules: the rules under test do not compile (problems above)")
    assert texts[1].startswith("T/rules/broken.yaml:10:")
    assert "invalid JMESPath" in texts[1]
    assert rules.exists()


def test_crd_files_must_hold_crds(write: Write, tmp_path: Path) -> None:
    """A file under `crds` with no CustomResourceDefinition is a problem; other documents beside CRDs are passed
    over (a chart's crds/ may hold a Namespace), as `rules lint --crd` does."""
    write("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", "notcrd.yaml")
    write(
        f"apiVersion: tests.arcane.dev/v1alpha1\nkind: RuleTest\nmetadata: {{name: f}}\n"
        f"spec:\n  rules: {RULES}\n  crds: notcrd.yaml\n  steps:\n    - advance: 1s\n",
        "f.yaml",
    )
    suite = load_suite([tmp_path / "f.yaml"])
    assert [str(p) for p in suite.problems] == [f"{tmp_path / 'notcrd.yaml'}: no CustomResourceDefinition in this file"]
    write("apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n---\n" + CRDS.read_text(), "mixed.yaml")
    write(
        f"apiVersion: tests.arcane.dev/v1alpha1\nkind: RuleTest\nmetadata: {{name: f}}\n"
        f"spec:\n  rules: {RULES}\n  crds: mixed.yaml\n  steps:\n    - advance: 1s\n",
        "g.yaml",
    )
    assert load_suite([tmp_path / "g.yaml"]).problems == ()


def test_duplicate_fixture_names_in_a_file_are_refused(load: Load) -> None:
    """Two fixtures of one file cannot share a name (ids `file::name` must be unique)."""
    steps = "steps:\n  - advance: 1s\n"
    suite = load(fixture_text(steps, "same") + "---\n" + fixture_text(steps, "same"))
    assert [p.message for p in suite.problems] == ["fixture name `same` is already used at line 1"]


def test_directories_are_searched_for_rule_tests_only(write: Write, tmp_path: Path) -> None:
    """Under a directory, YAML files that declare no RuleTest (objects, CRDs) are not fixtures; hidden dirs are skipped."""
    write(fixture_text("steps:\n  - advance: 1s\n", "one"), "sub/one.yaml")
    write("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", "sub/objects.yaml")
    write(fixture_text("steps:\n  - advance: 1s\n", "hidden"), ".git/hidden.yaml")
    suite = load_suite([tmp_path])
    assert [f.name for f in suite.fixtures] == ["one"]
    assert suite.problems == ()


def test_a_missing_path_is_a_problem(tmp_path: Path) -> None:
    """A path that does not exist is reported (exit 2), not read as an empty suite."""
    suite = load_suite([tmp_path / "nope"])
    assert [str(p) for p in suite.problems] == [f"{tmp_path / 'nope'}: no such file or directory"]


def test_default_rules_come_from_the_options(write: Write, tmp_path: Path) -> None:
    """A fixture without `spec.rules` uses the command's --rules (LoadOptions.rules), and --crd likewise."""
    write(
        "apiVersion: tests.arcane.dev/v1alpha1\nkind: RuleTest\nmetadata: {name: f}\n"
        "spec:\n  steps:\n    - evaluate: Widget/w1\n      expect: {fired: [start]}\n",
        "f.yaml",
    )
    suite = load_suite([tmp_path], LoadOptions(rules=(RULES,), crds=(CRDS,)))
    assert suite.problems == ()
    assert suite.fixtures[0].rules.paths == (RULES,)
    assert suite.fixtures[0].rules.crd_paths == (CRDS,)


def test_yaml_errors_are_located(load: Load) -> None:
    """Invalid YAML is reported at its line and column."""
    suite = load("apiVersion: tests.arcane.dev/v1alpha1\nkind: RuleTest\nmetadata: {name: [x\n")
    assert len(suite.problems) == 1
    assert suite.problems[0].location.line == 4
    assert suite.problems[0].message.startswith("invalid YAML:")


def test_durations_and_references_parse() -> None:
    """Durations take s, m, h, d, ms and combinations; references take Kind/name and Kind/namespace/name."""
    from engine.testing.fixture import Selector
    from engine.testing.steps import parse_duration, parse_selector

    assert [parse_duration(v) for v in (90, "90", "90s", "5m", "1h30m", "2d", "250ms", "1.5h")] == [
        90.0, 90.0, 90.0, 300.0, 5400.0, 172800.0, 0.25, 5400.0,
    ]  # fmt: skip
    assert [parse_duration(v) for v in ("5 minutes", "h", True, "1h 30m")] == [None, None, None, None]
    assert parse_selector("Job/j") == Selector("Job", "j")
    assert parse_selector("Job/ns/j") == Selector("Job", "j", "ns")
    assert parse_selector({"apiVersion": "batch/v1", "kind": "Job", "name": "j"}) == Selector(
        "Job", "j", None, "batch/v1"
    )
    assert parse_selector("a/b/c/d") == "expected `Kind/name` or `Kind/namespace/name`, found 'a/b/c/d'"


def test_a_file_given_twice_is_loaded_once(write: Write, tmp_path: Path) -> None:
    """A fixture file named directly and found under a directory too is loaded once (ids stay unique)."""
    path = write(fixture_text("steps:\n  - advance: 1s\n", "once"), "f.yaml")
    suite = load_suite([tmp_path, path])
    assert [f.name for f in suite.fixtures] == ["once"]


def test_given_files_holding_lists_give_their_items(write: Write, tmp_path: Path, load: Load) -> None:
    """A `given` file written by `kubectl get -o yaml` (`kind: List`) gives its items; a typed list's items
    (`WidgetList`, as an API server writes it) get the list's apiVersion and kind."""
    write(
        "apiVersion: v1\nkind: List\nmetadata: {resourceVersion: ''}\nitems:\n"
        "  - {apiVersion: example.dev/v1, kind: Widget, metadata: {name: w1}}\n"
        "  - {apiVersion: example.dev/v1, kind: Widget, metadata: {name: w2}}\n"
        "---\napiVersion: example.dev/v1\nkind: WidgetList\nitems:\n  - {metadata: {name: w3}}\n",
        "objects.yaml",
    )
    suite = load(fixture_text("given: [{file: objects.yaml}]\nsteps:\n  - advance: 1s\n"))
    assert suite.problems == ()
    given = suite.fixtures[0].given
    assert [(o["kind"], o["metadata"]["name"]) for o in given] == [("Widget", "w1"), ("Widget", "w2"), ("Widget", "w3")]
    assert given[2]["apiVersion"] == "example.dev/v1"


def test_a_list_item_that_is_no_object_is_located(write: Write, load: Load) -> None:
    """An item of a list that is not a Kubernetes object is a problem at the item's line."""
    write("apiVersion: v1\nkind: List\nitems:\n  - {kind: Widget}\n", "objects.yaml")
    suite = load(fixture_text("given: [{file: objects.yaml}]\nsteps:\n  - advance: 1s\n"))
    assert [(p.location.line, p.location.path, p.message) for p in suite.problems] == [
        (4, "items[0]", "an object needs apiVersion, metadata.name")
    ]


def test_an_object_whose_kind_ends_in_list_is_not_a_list() -> None:
    """Only a document without a name and with `items` is a list: a `ShoppingList` object stays an object."""
    from engine.testing.fixture import list_items

    named = {"apiVersion": "x/v1", "kind": "ShoppingList", "metadata": {"name": "s"}, "items": []}
    assert list_items(named) is None
    assert list_items({"apiVersion": "v1", "kind": "ConfigMap", "items": []}) is None
    assert list_items({"apiVersion": "v1", "kind": "List", "items": [{"kind": "Job"}]}) == [{"kind": "Job"}]


def test_a_missing_given_file_names_the_path_it_tried(write: Write, tmp_path: Path, load: Load) -> None:
    """The problem of a `file:` that is not there says which path it resolved to."""
    suite = load(fixture_text("given: [{file: objects/gone.yaml}]\nsteps:\n  - advance: 1s\n"))
    assert [p.message for p in suite.problems] == [f"{tmp_path / 'objects' / 'gone.yaml'}: no such file or directory"]


def test_a_crd_directory_without_yaml_files_is_a_problem(write: Write, tmp_path: Path) -> None:
    """A --crd directory with no YAML file in it says so (not "no rule files"), exit 2."""
    (tmp_path / "nocrds").mkdir()
    fixture = write(fixture_text("steps:\n  - advance: 1s\n"))
    out, err = io.StringIO(), io.StringIO()
    assert run_tests([str(fixture), "--crd", str(tmp_path / "nocrds")], stdout=out, stderr=err) == 2
    assert f"{tmp_path / 'nocrds'}: no CRD files (*.yaml, *.yml) in this directory\n" in err.getvalue()


def test_a_crd_flag_is_checked_even_when_every_fixture_names_its_own(write: Write, tmp_path: Path) -> None:
    """--crd is read even when no fixture falls back on it: a --crd that holds no CRD is still refused."""
    write("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", "notcrd.yaml")
    fixture = write(fixture_text("steps:\n  - advance: 1s\n"))  # names its own crds
    suite = load_suite([fixture], LoadOptions(crds=(tmp_path / "notcrd.yaml",)))
    assert [p.message for p in suite.problems] == ["no CustomResourceDefinition in this file"]
