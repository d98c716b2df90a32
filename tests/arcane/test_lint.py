"""The shipped rules pass `arcane rules lint --crd` with each real plugin's CRD, as a plugin's CI runs it.

docs/testing-rules.md tells plugin authors to lint (and test) the shipped rules with Arcane's CRDs and their own.
A plugin's CRD has one stream layout, and the rules read the fields of every layout, so the reads of the other
layouts' fields must not be reported (rules/stream.yaml names them in `for.optionalFields`), while a typo in any
other read still is.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import EXIT_OK, EXIT_PROBLEMS, main

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "real-fixtures"
ARCANE_CRDS = ROOT / "charts" / "arcane-operator" / "crds"
PLUGIN_CRDS = [
    FIXTURES / "mssql" / "crd-microsoft-sql-server-streams.yaml",  # layout v1
    FIXTURES / "mssql" / "crd-microsoft-sql-server-beta-streams.yaml",  # layout v2
    ROOT / "arcane" / "demo" / "10-crd-demostreams.yaml",  # the sandbox's demo plugin
]


@pytest.mark.parametrize("crd", PLUGIN_CRDS, ids=lambda path: path.name)
def test_the_shipped_rules_lint_clean_with_a_plugin_crd(crd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not crd.exists():
        pytest.skip(f"{crd} not found (the real fixtures live in ../shared/real-fixtures)")
    code = main(["rules", "lint", str(ROOT / "rules"), "--crd", str(ARCANE_CRDS), "--crd", str(crd)])
    out, err = capsys.readouterr()
    assert (code, out, err) == (EXIT_OK, "", "ok: no problems\n")


def test_a_typo_in_a_stream_read_is_still_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same lint with one read misspelt in a copy of the rules: the layouts' own fields are exempt, no more."""
    rules = tmp_path / "rules"
    rules.mkdir()
    for source in (ROOT / "rules").glob("*.yaml"):
        text = source.read_text()
        if source.name == "stream.yaml":
            assert text.count("object.spec.execution.suspended") == 1
            text = text.replace("object.spec.execution.suspended", "object.spec.execution.suspnded")
        (rules / source.name).write_text(text)
    demo = ROOT / "arcane" / "demo" / "10-crd-demostreams.yaml"
    code = main(["rules", "lint", str(rules), "--crd", str(ARCANE_CRDS), "--crd", str(demo)])
    out, _ = capsys.readouterr()
    assert code == EXIT_PROBLEMS
    assert out.count("\n") == 1
    assert "spec.facts.suspended: `object.spec.execution.suspnded` is not a field of DemoStream" in out
