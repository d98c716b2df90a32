"""Render the arcane-operator chart offline and hand its objects to tests.

Where it sits: the chart tests (and, later, the kubesim acceptance tests, which apply these objects with kubectl
and start the operator as the Deployment would) get the chart's objects from here, never by re-parsing YAML
themselves. Rendering is real Helm (helm-python-sdk binds Helm's Go SDK), offline: `lookup` returns nothing and
`crds/` is read as files, as `helm install` would apply them.

What it does not do: talk to a cluster, or judge the objects (the tests do).
"""

from __future__ import annotations

import copy
import functools
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "arcane-operator"
CI_DIR = CHART_DIR / "ci"
CRD_DIR = CHART_DIR / "crds"
RULES_DIR = REPO_ROOT / "rules"
CHART_RULES_DIR = CHART_DIR / "files" / "rules"
# Read-only inputs shared by every checkout (never copied into the project).
REAL_FIXTURES = REPO_ROOT.parent / "shared" / "real-fixtures"

RELEASE = "arcane"
NAMESPACE = "arcane"
# The Kubernetes version the manifests are validated for, and the oldest one Chart.yaml accepts.
KUBE_VERSION = "1.32.0"
MIN_KUBE_VERSION = "1.31.0"

Obj = dict[str, Any]


@functools.cache
def helm_unavailable_reason() -> str | None:
    """Why helm-python-sdk cannot render here, or None when it can (its native library loads)."""
    try:
        import helm_python

        helm_python.helm_sdk_version()
    except (ImportError, OSError) as exc:  # a missing wheel, or a libhelm_c.so this machine cannot load
        return f"helm-python-sdk cannot be loaded on this machine ({type(exc).__name__}: {exc})"
    return None


@dataclass(frozen=True)
class Scenario:
    """One `ci/*-values.yaml` file: a values set the chart must render, lint and validate with."""

    name: str
    path: Path
    values: Mapping[str, Any]


def scenarios() -> list[Scenario]:
    """Every values scenario of the chart's ci/ directory, sorted by name."""
    found = []
    for path in sorted(CI_DIR.glob("*-values.yaml")):
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        found.append(Scenario(path.name.removesuffix("-values.yaml"), path, values))
    return found


@dataclass(frozen=True)
class Rendered:
    """The objects of one rendering, in template order, with the NOTES kept apart."""

    objects: list[Obj]
    notes: str
    manifests: Mapping[str, str] = field(repr=False)

    def of_kind(self, kind: str) -> list[Obj]:
        """Every object of `kind`."""
        return [obj for obj in self.objects if obj["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> Obj:
        """The only object of `kind` (named `name` when given); fails when there are none or several."""
        matches = [obj for obj in self.of_kind(kind) if name is None or obj["metadata"]["name"] == name]
        if len(matches) != 1:
            names = [obj["metadata"]["name"] for obj in self.of_kind(kind)]
            raise LookupError(f"expected one {kind} named {name!r}, found {len(matches)} among {names}")
        return matches[0]

    @property
    def deployment(self) -> Obj:
        """The operator's Deployment."""
        return self.one("Deployment")

    @property
    def container(self) -> Obj:
        """The operator container of the Deployment."""
        containers: list[Obj] = self.deployment["spec"]["template"]["spec"]["containers"]
        return next(c for c in containers if c["name"] == "operator")


def render(
    values: Mapping[str, Any] | None = None,
    *,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
    chart_dir: Path = CHART_DIR,
) -> Rendered:
    """Render the chart as `helm install <release> -n <namespace>` would, without its CRDs (see `crds()`)."""
    import helm_python

    with helm_python.Chart.load(chart_dir) as chart:
        manifests = chart.render(dict(values or {}), name=release, namespace=namespace, is_install=True)
    objects: list[Obj] = []
    notes = ""
    for path in sorted(manifests, key=_template_order):
        if path.endswith("NOTES.txt"):
            notes = manifests[path]
            continue
        objects.extend(doc for doc in yaml.safe_load_all(manifests[path]) if doc)
    return Rendered(objects, notes, manifests)


def render_scenario(scenario: Scenario) -> Rendered:
    """Render the chart with one ci/ scenario's values."""
    return render(scenario.values)


def _template_order(path: str) -> tuple[int, str]:
    # Helm's install order matters for kubectl apply too: ServiceAccount and RBAC before the Deployment.
    order = ["serviceaccount", "rbac", "configmap", "service", "deployment"]
    stem = path.rsplit("/", 1)[-1]
    rank = next((i for i, prefix in enumerate(order) if stem.startswith(prefix)), len(order))
    return rank, stem


def crds() -> list[Obj]:
    """The chart's CustomResourceDefinitions, as `helm install` applies them from crds/ (fresh copies)."""
    return copy.deepcopy(_crds())


@functools.cache
def _crds() -> list[Obj]:
    return [yaml.load(p.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader) for p in sorted(CRD_DIR.glob("*.yaml"))]


def crd(kind: str) -> Obj:
    """The chart's CRD for `kind`."""
    return next(c for c in crds() if c["spec"]["names"]["kind"] == kind)


def manifest_yaml(rendered: Rendered, *, include_crds: bool = True) -> str:
    """One multi-document YAML stream of the CRDs and rendered objects, for `kubectl apply -f -`."""
    objects = [*crds(), *rendered.objects] if include_crds else rendered.objects
    return "---\n".join(yaml.safe_dump(obj, sort_keys=False) for obj in objects)


def package_version() -> str:
    """The operator's version, from pyproject.toml."""
    with (REPO_ROOT / "pyproject.toml").open("rb") as f:
        version: str = tomllib.load(f)["project"]["version"]
    return version


def values_yaml() -> Obj:
    """The chart's default values, as written in values.yaml."""
    values: Obj = yaml.safe_load((CHART_DIR / "values.yaml").read_text(encoding="utf-8"))
    return values


def iter_pod_specs(rendered: Rendered) -> Iterator[tuple[str, Obj]]:
    """Every pod spec the rendering would create, with the name of its owner."""
    for obj in rendered.objects:
        if obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]


@dataclass(frozen=True)
class OperatorInvocation:
    """How the Deployment starts the operator: the command, its environment and the mounted rules."""

    argv: list[str]
    env: dict[str, str]
    rules_mount_path: str
    # The ConfigMap mounted at rules_mount_path: its name and, when the chart renders it, its files.
    rules_configmap: str
    rules_files: dict[str, str] | None


# The image's ENTRYPOINT (checked against the Dockerfile by test_dockerfile.py).
ENTRYPOINT = ["arcane", "run"]


def operator_invocation(rendered: Rendered, *, pod_name: str = "arcane-operator-0") -> OperatorInvocation:
    """What the operator container runs: ENTRYPOINT + args, env with the downward API resolved, rules volume."""
    deployment = rendered.deployment
    pod = deployment["spec"]["template"]["spec"]
    container = rendered.container
    namespace = deployment["metadata"]["namespace"]
    downward = {"metadata.name": pod_name, "metadata.namespace": namespace}
    env: dict[str, str] = {}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "fieldRef" in var.get("valueFrom", {}):
            env[var["name"]] = downward[var["valueFrom"]["fieldRef"]["fieldPath"]]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "rules")
    volume = next(v for v in pod["volumes"] if v["name"] == "rules")
    configmap_name = volume["configMap"]["name"]
    rendered_maps = {cm["metadata"]["name"]: cm for cm in rendered.of_kind("ConfigMap")}
    files = (rendered_maps[configmap_name].get("data") or {}) if configmap_name in rendered_maps else None
    return OperatorInvocation(
        argv=[*container.get("command", ENTRYPOINT), *container.get("args", [])],
        env=env,
        rules_mount_path=mount["mountPath"],
        rules_configmap=configmap_name,
        rules_files=files,
    )
