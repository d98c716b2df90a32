"""Invalid rule files: each file (or directory) under tests/spec/invalid/ produces exactly the lines in its
`.expected.txt`, as `arcane rules lint` prints them, with the exit code for problems (1) or unusable input (2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main

INVALID = Path(__file__).parent / "invalid"
CASES = sorted(
    path.name for path in INVALID.iterdir() if (path.suffix == ".yaml" or path.is_dir()) and path.name != "crds"
)
UNUSABLE = {"binary.yaml", "empty.yaml", "not-utf8.yaml"}
"""Input that cannot be read as rules at all (exit code 2)."""


def _lint(name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    monkeypatch.chdir(INVALID)
    crds = ["--crd", "crds/widgets.yaml"] if name.startswith("crd-") else []
    code = main(["rules", "lint", name, *crds])
    return code, capsys.readouterr().out.splitlines()


def test_every_case_has_its_expected_problems() -> None:
    """Each invalid case is paired with an expected-output file, and no expected file is left without its case."""
    expected = {path.name.removesuffix(".expected.txt") for path in INVALID.glob("*.expected.txt")}
    assert expected == {name.removesuffix(".yaml") for name in CASES}
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", CASES)
def test_invalid_rules_report_exactly_their_problems(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`arcane rules lint` prints exactly the expected problems (file:line:column: path: message), in file order,
    and exits 1 (2 for unusable input)."""
    code, lines = _lint(name, monkeypatch, capsys)
    expected = (INVALID / f"{name.removesuffix('.yaml')}.expected.txt").read_text().splitlines()
    assert lines == expected
    assert lines, "an invalid case must produce at least one problem"
    assert code == (2 if name in UNUSABLE else 1)


@pytest.mark.parametrize("name", [case for case in CASES if case.endswith(".yaml") and case not in UNUSABLE])
def test_located_problems_point_inside_the_file(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every problem of a readable file names a line and column that exist in that file."""
    _, lines = _lint(name, monkeypatch, capsys)
    text = (INVALID / name).read_text().splitlines()
    for line in lines:
        _, row_text, column_text = line.split(": ", 1)[0].rsplit(":", 2)
        row, column = int(row_text), int(column_text)
        if row == len(text) + 1:  # the end of the file (an unfinished YAML construct)
            assert column == 1, line
        else:
            assert 1 <= row <= len(text), line
            assert 1 <= column <= len(text[row - 1]) + 1, line
