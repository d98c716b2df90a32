"""The rules ConfigMap: the chart ships rules/ byte for byte, extended by rules.extra or replaced by the user's."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from .rendering import CHART_DIR, CHART_RULES_DIR, RULES_DIR, Rendered, operator_invocation, render

CONFIGMAP_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
CONFIGMAP_MAX_BYTES = 1024 * 1024


def shipped_rules() -> dict[str, str]:
    """The rule files of rules/ that `make chart-sync` ships (rules/*.yaml), by file name."""
    return {p.name: p.read_bytes().decode("utf-8") for p in sorted(RULES_DIR.glob("*.yaml"))}


def chart_rules() -> dict[str, str]:
    """Every file of the chart's copy, files/rules/ (absent when rules/ has never been synced and is empty)."""
    if not CHART_RULES_DIR.is_dir():
        return {}
    return {p.name: p.read_bytes().decode("utf-8") for p in sorted(CHART_RULES_DIR.iterdir()) if p.is_file()}


def rules_configmap(rendered: Rendered) -> dict[str, str]:
    data: dict[str, str] = rendered.one("ConfigMap")["data"] or {}
    return data


def test_chart_copy_of_the_rules_has_not_drifted() -> None:
    """charts/arcane-operator/files/rules/ holds exactly the files of rules/*.yaml, byte for byte (else run
    `make chart-sync`)."""
    shipped, copied = shipped_rules(), chart_rules()
    assert sorted(copied) == sorted(shipped), "file names differ: run `make chart-sync`"
    drifted = [name for name in shipped if copied[name] != shipped[name]]
    assert drifted == [], "contents differ: run `make chart-sync`"


def test_configmap_holds_the_rules_byte_for_byte(default: Rendered) -> None:
    """The rendered rules ConfigMap holds every file of the chart's copy with identical contents, and nothing else
    (with the drift test above: the files of rules/)."""
    assert rules_configmap(default) == chart_rules()


def test_rule_file_names_are_configmap_keys() -> None:
    """Every rule file name can be a ConfigMap key, and all rules together fit in a ConfigMap (1 MiB)."""
    assert [name for name in shipped_rules() if not CONFIGMAP_KEY.match(name)] == []
    assert sum(len(content.encode()) for content in shipped_rules().values()) < CONFIGMAP_MAX_BYTES


def test_operator_reads_the_configmap_it_mounts(default: Rendered) -> None:
    """The Deployment mounts the chart's rules ConfigMap, so the files above are what `--rules` points at."""
    invocation = operator_invocation(default)
    assert invocation.rules_configmap == default.one("ConfigMap")["metadata"]["name"] == "arcane-arcane-operator-rules"
    assert invocation.rules_files == chart_rules()


@pytest.fixture
def chart_copy(tmp_path: Path) -> Path:
    """A copy of the chart whose files/rules/ a test may rewrite."""
    copy = tmp_path / "arcane-operator"
    shutil.copytree(CHART_DIR, copy)
    shutil.rmtree(copy / "files" / "rules", ignore_errors=True)
    (copy / "files" / "rules").mkdir(parents=True)
    return copy


AWKWARD = {
    "01-trailing-spaces.yaml": "key: value   \n\tindented: with a tab\n",
    "02-no-final-newline.yaml": "a: 1\nb: 2",
    "03-extra-final-newlines.yaml": "a: 1\n\n\n",
    "04-leading-spaces.yaml": "   # first line indented\nkey: value\n",
    "05-crlf.yaml": "a: 1\r\nb: 2\r\n",
    "06-unicode.yaml": 'message: "Stream ‘{{ name }}’ démarré ✓"\n',
    "07-document-markers.yaml": "---\na: 1\n...\n---\nb: 2\n",
    "08-empty.yaml": "",
    "09-quotes-and-backslashes.yaml": 'when: "spec.x == \'a\\\\b\'" # "\n',
}


@pytest.mark.usefixtures("helm")
def test_awkward_rule_files_survive_byte_for_byte(chart_copy: Path) -> None:
    """Trailing spaces, tabs, CRLF, no or many final newlines, unicode, document markers and empty files all reach
    the ConfigMap unchanged."""
    for name, content in AWKWARD.items():
        (chart_copy / "files" / "rules" / name).write_bytes(content.encode("utf-8"))
    assert rules_configmap(render(chart_dir=chart_copy)) == AWKWARD


@pytest.mark.usefixtures("helm")
def test_no_rules_gives_an_empty_configmap(chart_copy: Path) -> None:
    """With no rule file at all the ConfigMap still exists (the mount never fails), empty."""
    assert rules_configmap(render(chart_dir=chart_copy)) == {}


def test_extra_rules_join_the_shipped_ones(by_scenario: dict[str, Rendered]) -> None:
    """rules.extra adds files next to the shipped ones; `.yaml` is appended to a name without an extension."""
    data = rules_configmap(by_scenario["extra-rules"])
    assert data == {
        **chart_rules(),
        "team-overrides.yaml": (
            "# Extra rules of the data platform team.\n"
            "apiVersion: rules.arcane.dev/v1alpha1\n"
            "kind: Rules\n"
            "metadata: {name: team-overrides}\n"
            "spec:\n"
            "  for: {kind: {apiVersion: streaming.sneaksanddata.com/v1, kind: BackfillRequest}}\n"
            "  groups: []\n"
        ),
        "audit.yaml": (
            "# Kept byte for byte, trailing spaces and all:   \n"
            "apiVersion: rules.arcane.dev/v1alpha1\n"
            "kind: Rules\n"
            "metadata: {name: audit}\n"
            "spec:\n"
            "  for: {kind: {apiVersion: streaming.sneaksanddata.com/v1, kind: BackfillRequest}}\n"
            "  groups: []\n\n"
        ),
    }


@pytest.mark.usefixtures("helm")
def test_an_extra_rule_replaces_the_shipped_file_of_its_name(chart_copy: Path) -> None:
    """An extra file named like a shipped one replaces it (a platform team's patched copy of a rule file)."""
    (chart_copy / "files" / "rules" / "stream.yaml").write_text("shipped: true\n", encoding="utf-8")
    (chart_copy / "files" / "rules" / "backfill.yaml").write_text("shipped: true\n", encoding="utf-8")
    rendered = render({"rules": {"extra": {"stream": "patched: true\n"}}}, chart_dir=chart_copy)
    assert rules_configmap(rendered) == {"stream.yaml": "patched: true\n", "backfill.yaml": "shipped: true\n"}


def test_existing_configmap_replaces_the_chart_rules(by_scenario: dict[str, Rendered]) -> None:
    """With rules.existingConfigMap the chart renders no ConfigMap and mounts the user's one at the same path."""
    rendered = by_scenario["existing-configmap"]
    assert rendered.of_kind("ConfigMap") == []
    invocation = operator_invocation(rendered)
    assert (invocation.rules_configmap, invocation.rules_files) == ("platform-arcane-rules", None)
    assert invocation.rules_mount_path == "/etc/arcane/rules"
