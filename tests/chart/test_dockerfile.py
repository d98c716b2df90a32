"""The Dockerfile, read statically (no container engine here): stages, base, user, entrypoint, no build tools."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass

from .rendering import ENTRYPOINT, REPO_ROOT, values_yaml

DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|clang|make|build-essential|apt-get|apk|rustc|cargo)\b")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def instructions() -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        pending += " " + stripped.removesuffix("\\").strip() if pending else stripped.removesuffix("\\").strip()
        if not stripped.endswith("\\"):
            logical.append(pending)
            pending = ""
    assert not pending, "a continuation line ends the file"
    parsed = []
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        parsed.append(Instruction(keyword.upper(), arguments.strip()))
    return parsed


def stages() -> list[list[Instruction]]:
    """The instructions of each build stage (global ARGs before the first FROM are dropped)."""
    found: list[list[Instruction]] = []
    for instruction in instructions():
        if instruction.keyword == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def arg_defaults() -> dict[str, str]:
    defaults = {}
    for instruction in instructions():
        if instruction.keyword == "FROM":
            break
        if instruction.keyword == "ARG" and "=" in instruction.arguments:
            name, _, value = instruction.arguments.partition("=")
            defaults[name] = value
    return defaults


def base_image(stage: list[Instruction]) -> str:
    image = stage[0].arguments.split()[0]
    for name, value in arg_defaults().items():
        image = image.replace(f"${{{name}}}", value)
    return image


def only(stage: list[Instruction], keyword: str) -> Instruction:
    matches = [i for i in stage if i.keyword == keyword]
    assert len(matches) == 1, f"{keyword}: {matches}"
    return matches[0]


def test_builds_in_two_stages_from_slim_python_311() -> None:
    """A builder stage makes the wheels; the final stage starts again from the same slim Python 3.11 base."""
    builder, final = stages()
    assert builder[0].arguments.endswith(" AS builder")
    assert base_image(final) == base_image(builder)
    assert re.fullmatch(r"python:3\.11-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", base_image(final))
    assert DOCKERFILE.read_text(encoding="utf-8").startswith("# syntax=docker/dockerfile:1\n")


def test_builder_makes_wheels_at_the_pinned_versions() -> None:
    """The builder builds our wheel and every dependency's, constrained by constraints.txt."""
    builder = stages()[0]
    commands = [i.arguments for i in builder if i.keyword == "RUN"]
    assert commands == ["pip wheel --wheel-dir /wheels --constraint constraints.txt ."]
    copied = {i.arguments.split()[0] for i in builder if i.keyword == "COPY"}
    assert {"pyproject.toml", "engine/", "kubesim/", "arcane/"} <= copied


def test_final_stage_installs_offline_from_the_wheels() -> None:
    """The final stage installs arcane-operator from the builder's wheels only (--no-index, pinned constraints),
    bind-mounted so the wheels never become a layer."""
    final = stages()[1]
    [install] = [i.arguments for i in final if i.keyword == "RUN"]
    assert "--mount=type=bind,from=builder,source=/wheels,target=/wheels" in install
    assert "pip install --no-index --find-links /wheels --constraint /tmp/constraints.txt arcane-operator" in install
    assert not [i for i in final if i.keyword in {"COPY", "ADD"} and "--from=builder" in i.arguments]


def test_final_stage_has_no_build_tools() -> None:
    """The final stage installs no compiler or package manager packages, and removes pip, setuptools and wheel."""
    final = stages()[1]
    for instruction in final:
        if instruction.keyword == "RUN":
            assert not BUILD_TOOLS.search(instruction.arguments), instruction.arguments
    [install] = [i.arguments for i in final if i.keyword == "RUN"]
    assert "pip uninstall --yes setuptools wheel pip" in install


def test_final_stage_runs_as_the_charts_numeric_non_root_user() -> None:
    """The image's USER is numeric and non-root (so runAsNonRoot can be enforced) and is the chart's default uid."""
    final = stages()[1]
    user = only(final, "USER").arguments
    assert re.fullmatch(r"[1-9][0-9]*:[1-9][0-9]*", user)
    uid, gid = (int(part) for part in user.split(":"))
    pod = values_yaml()["podSecurityContext"]
    assert (uid, gid) == (pod["runAsUser"], pod["runAsGroup"])
    assert final.index(only(final, "USER")) > max(i for i, x in enumerate(final) if x.keyword in {"RUN", "COPY"})


def test_entrypoint_is_arcane_run_with_the_rules_directory() -> None:
    """ENTRYPOINT is `arcane run` (exec form), CMD its default `--rules` (the chart's mount path), and `arcane` is a
    console script of the package."""
    final = stages()[1]
    assert json.loads(only(final, "ENTRYPOINT").arguments) == ENTRYPOINT
    assert json.loads(only(final, "CMD").arguments) == ["--rules", values_yaml()["rules"]["mountPath"]]
    with (REPO_ROOT / "pyproject.toml").open("rb") as f:
        scripts = tomllib.load(f)["project"]["scripts"]
    assert scripts["arcane"] == "arcane.cli:main"


def test_python_runs_without_writing_bytecode() -> None:
    """PYTHONDONTWRITEBYTECODE=1 in the final stage (the root filesystem is read-only at run time)."""
    final = stages()[1]
    env = " ".join(i.arguments for i in final if i.keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in shlex.split(env)


def test_exposes_the_chart_ports() -> None:
    """The image exposes the health and metrics ports the chart probes and scrapes."""
    values = values_yaml()
    assert only(stages()[1], "EXPOSE").arguments.split() == [
        str(values["health"]["port"]),
        str(values["metrics"]["port"]),
    ]


def test_dockerignore_allows_only_what_the_build_copies() -> None:
    """.dockerignore excludes everything, then re-includes exactly the paths the Dockerfile copies (no .venv, .git,
    tests or kubeconfigs in the build context)."""
    lines = [ln for ln in DOCKERIGNORE.read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == "*"
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    copied = set()
    for instruction in instructions():
        if instruction.keyword == "COPY" and "--from=" not in instruction.arguments:
            sources = [a for a in instruction.arguments.split() if not a.startswith("--")][:-1]
            copied |= {s.rstrip("/") for s in sources}
        for mount in re.findall(r"--mount=type=bind,source=([^,\s]+)", instruction.arguments):
            copied.add(mount)
    assert copied == allowed
    assert not allowed & {".venv", ".git", "tests", "charts", "bench", "docs"}
