"""docs/install.md: the guide's commands match the chart, and its values list matches values.yaml."""

from __future__ import annotations

import re

import kubernetes_validate
import yaml

from .rendering import KUBE_VERSION, REPO_ROOT, Rendered, values_yaml
from .valuesdoc import values_table

INSTALL = REPO_ROOT / "docs" / "install.md"
AGGREGATION_LABEL = "streaming.sneaksanddata.com/aggregate-to-arcane-operator"


def guide() -> str:
    return INSTALL.read_text(encoding="utf-8")


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", guide(), flags=re.S)


def commands() -> list[str]:
    """Every shell command of the guide, continuation lines joined, comments dropped."""
    joined = "\n".join(code_blocks("sh")).replace("\\\n", " ")
    return [re.sub(r"\s+#.*$|\s+", " ", line).strip() for line in joined.splitlines() if line.strip()]


def test_guide_gives_the_install_and_check_commands() -> None:
    """The guide installs into namespace arcane, then checks the pods and the CRDs with the user guide's commands."""
    assert any(
        c.startswith("helm install arcane charts/arcane-operator --namespace arcane --create-namespace")
        for c in commands()
    )
    for command in ("kubectl get pods -n arcane", "kubectl get crd | grep streaming"):
        assert command in commands()


def test_guide_covers_upgrade_rules_and_uninstall() -> None:
    """The guide upgrades CRDs then the release, changes the rules both ways, and uninstalls, with exact commands."""
    expected = [
        "kubectl apply --server-side --force-conflicts -f charts/arcane-operator/crds/",
        "helm upgrade arcane charts/arcane-operator -n arcane -f arcane-values.yaml",
        "helm upgrade arcane charts/arcane-operator -n arcane --reuse-values "
        "--set-file rules.extra.team-overrides=./team-overrides.yaml",
        "helm upgrade arcane charts/arcane-operator -n arcane --reuse-values --set rules.existingConfigMap=arcane-rules",
        "helm uninstall arcane --namespace arcane",
    ]
    for command in expected:
        assert command in commands()
    assert any("--skip-crds" in c for c in commands())


def test_every_set_flag_names_a_real_value() -> None:
    """Each `--set`/`--set-file` in the guide sets a key values.yaml has (or an entry of a map/list value)."""
    values = values_yaml()
    for command in commands():
        for key in re.findall(r"--set(?:-file)? '?([A-Za-z][\w.\[\]]*)", command):
            node = values
            for part in re.sub(r"\[\d+\]", "", key).split("."):
                if not isinstance(node, dict) or node == {}:
                    break  # inside a free-form map (rules.extra.<name>) or a list entry
                assert part in node, f"{key} in: {command}"
                node = node[part]


def test_resource_names_in_the_guide_are_the_rendered_ones(default: Rendered) -> None:
    """The Deployment, ConfigMap, Service and ServiceAccount names the guide uses are those the chart renders."""
    names = {obj["metadata"]["name"] for obj in default.objects}
    for name in re.findall(r"arcane-arcane-operator(?:-[a-z][a-z-]*[a-z])?", guide()):
        assert name in names, name


def test_plugin_role_example_is_valid_and_aggregated() -> None:
    """The ClusterRole the guide gives plugin authors is a valid ClusterRole carrying the aggregation label, granting
    read on stream kinds and patch on their status only."""
    [example] = [yaml.safe_load(block) for block in code_blocks("yaml")]
    kubernetes_validate.validate(example, KUBE_VERSION, strict=True)
    assert example["metadata"]["labels"] == {AGGREGATION_LABEL: "true"}
    verbs = {v for rule in example["rules"] for v in rule["verbs"]}
    assert verbs == {"get", "list", "watch", "patch"}
    for rule in example["rules"]:
        assert all(r.endswith("/status") for r in rule["resources"]) == (rule["verbs"] == ["patch"])


def test_guide_lists_every_value() -> None:
    """Section "All values" has one row per documented value, with its default and description from values.yaml."""
    section = guide().split("## 8. All values", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert rows == values_table()
