"""values.yaml and values.schema.json: every value documented, validated, and bad values refused with a reason."""

from __future__ import annotations

import json
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs among the dev dependencies
import pytest
import yaml

from .conftest import SCENARIOS
from .rendering import CHART_DIR, Scenario, render, values_yaml
from .valuesdoc import documented_keys


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CHART_DIR / "values.schema.json").read_text(encoding="utf-8"))
    return loaded


def key_paths(values: Any, prefix: str = "") -> set[str]:
    """Every key path of a values tree (`a.b.c`), maps only (lists are values)."""
    paths: set[str] = set()
    if isinstance(values, dict):
        for key, value in values.items():
            path = f"{prefix}{key}"
            paths.add(path)
            paths |= key_paths(value, f"{path}.")
    return paths


def test_every_value_has_a_helm_docs_comment() -> None:
    """Each key of values.yaml has a `# --` comment, or lies inside a map documented as one value (no key of it has one)."""
    found, documented = documented_keys()
    assert found == key_paths(values_yaml()), "the line parser must see exactly the keys YAML sees"

    def documented_as_whole(path: str) -> bool:
        parts = path.split(".")
        for depth in range(1, len(parts)):
            ancestor = ".".join(parts[:depth])
            if ancestor in documented and not any(d.startswith(f"{ancestor}.") for d in documented):
                return True
        return False

    undocumented = sorted(p for p in found if p not in documented and not documented_as_whole(p))
    assert undocumented == []


def test_values_yaml_validates_against_the_schema() -> None:
    """values.yaml, as written, is valid under values.schema.json (JSON Schema draft 7)."""
    jsonschema.Draft7Validator.check_schema(schema())
    errors = [e.message for e in jsonschema.Draft7Validator(schema()).iter_errors(values_yaml())]
    assert errors == []


@pytest.mark.parametrize("case", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_values_validate_against_the_schema(case: Scenario) -> None:
    """Each ci/ scenario, merged over the defaults, is valid under values.schema.json."""
    merged = _merge(values_yaml(), dict(case.values))
    errors = [e.message for e in jsonschema.Draft7Validator(schema()).iter_errors(merged)]
    assert errors == []


def _merge(base: Any, override: Any) -> Any:
    # Helm's coalescing: maps merge key by key, null deletes a key, anything else replaces.
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return override
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(base.get(key), value)
    return merged


def test_schema_declares_exactly_the_documented_values() -> None:
    """At the top level and in each section of values.yaml (a map whose keys are documented one by one), the schema
    declares exactly the keys values.yaml has."""
    _, documented = documented_keys()
    values = values_yaml()
    sections = ["", *sorted(p for p in documented if any(d.startswith(f"{p}.") for d in documented))]
    for section in sections:
        root = node = schema()
        subtree = values
        for part in filter(None, section.split(".")):
            node, subtree = node["properties"][part], subtree[part]
            if "$ref" in node:  # "#/definitions/<name>"
                node = root["definitions"][node["$ref"].rsplit("/", 1)[-1]]
        declared = set(node["properties"]) - ({"global"} if section == "" else set())
        assert (section, declared) == (section, set(subtree))


@pytest.mark.usefixtures("helm")
@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"leaderElection": {"enable": True}}, "at '/leaderElection': additional properties 'enable' not allowed"),
        ({"extraArgs": ["--no-reload"]}, "at '/extraArgs/0': 'not' failed"),
        ({"extraArgs": ["--rules=/elsewhere"]}, "at '/extraArgs/0': 'not' failed"),
        ({"log": {"level": "trace"}}, "at '/log/level': value must be one of 'debug', 'info', 'warning', 'error'"),
        (
            {"securityContext": {"allowPrivilegeEscalation": True}},
            "at '/securityContext/allowPrivilegeEscalation': value must be false",
        ),
        (
            {"securityContext": {"readOnlyRootFilesystem": False}},
            "at '/securityContext/readOnlyRootFilesystem': value must be true",
        ),
        (
            {"securityContext": {"capabilities": {"drop": ["NET_RAW"]}}},
            "at '/securityContext/capabilities/drop': no items match contains schema",
        ),
        ({"podSecurityContext": {"runAsNonRoot": None}}, "at '/podSecurityContext': missing property 'runAsNonRoot'"),
        ({"podSecurityContext": {"runAsUser": 0}}, "at '/podSecurityContext/runAsUser': minimum: got 0, want 1"),
        (
            {"watchNamespaces": ["Streams_A"]},
            "at '/watchNamespaces/0': 'Streams_A' does not match pattern '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'",
        ),
        ({"image": {"digest": "latest"}}, "at '/image/digest': 'latest' does not match pattern"),
    ],
)
def test_schema_refuses_bad_values(values: dict[str, Any], message: str) -> None:
    """Helm refuses values that break the schema (typos, `--no-reload`, a weakened security context) and says where."""
    import helm_python

    with pytest.raises(helm_python.HelmValuesError) as raised:
        render(values)
    assert message in str(raised.value)


@pytest.mark.usefixtures("helm")
@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"replicaCount": 2},
            "replicaCount=2 needs leaderElection.enabled=true: without leader election every replica would act on "
            "every stream",
        ),
        (
            {"rules": {"existingConfigMap": "mine", "extra": {"x": "y"}}},
            "rules.extra cannot be combined with rules.existingConfigMap: put the extra rule files in that ConfigMap",
        ),
        (
            {"serviceAccount": {"create": False}},
            "serviceAccount.name is required when serviceAccount.create is false: name the existing ServiceAccount "
            "the operator runs as",
        ),
    ],
)
def test_templates_refuse_contradictory_values(values: dict[str, Any], message: str) -> None:
    """Value combinations the schema cannot explain fail rendering with a message that says what to change."""
    import helm_python

    with pytest.raises(helm_python.HelmRenderError) as raised:
        render(values)
    assert message in str(raised.value)


def test_scenario_files_are_plain_values() -> None:
    """Each ci/ scenario starts with a comment saying what it covers, and parses as a YAML map."""
    for case in SCENARIOS:
        text = case.path.read_text(encoding="utf-8")
        assert text.startswith("# Scenario: "), case.path.name
        assert isinstance(yaml.safe_load(text) or {}, dict)
