"""Security: secret values never leave their Secrets, the operator asks only for what the chart grants, and rule
files cannot run code, read files or exhaust memory.

- One operator (debug logging) runs streams through their lifecycle with Secrets holding marker values, referenced
  both ways the rules support (`envFrom` from a spec field, `secretKeyRef` from `spec.secretRef`). Then every
  version of every object kubesim ever stored (Secrets aside), every Event, every operator log line and the
  /metrics text are scanned for the markers (raw and base64), and the request log must show no request for
  Secrets at all.
- The same run's requests are checked against the RBAC of the rendered chart (tests/chart renders it and already
  pins the grants, least privilege and the restricted Pod Security profile of the operator's pod; this adds: what
  the operator really does is granted, and stream kinds are only read and their status patched).
- Rule files with YAML that would construct Python objects, alias bombs, oversized or over-nested documents, and
  expressions that try attribute access, dunder names, functions that do not exist or formatting tricks are
  refused with a located message or evaluate to plain data.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e.harness import NAMESPACE, RULES, OperatorProcess, operator_command, operator_env, wait_for

from engine.errors import ExpressionError, RuleSetError
from engine.expr import ExpressionSyntaxError, compile_expression, compile_path, template
from engine.spec import compile_ruleset
from kubesim import KubeSim, RequestRecord, SimOptions

from .bed import DEMO, LOOSE, Bed, backfill_request, stream, wait_ready
from .conftest import attach_module_operator
from .history import operator_requests

MARKERS = ("s3cr3t-MARKER-envfrom-7f3a9c", "s3cr3t-MARKER-keyref-42d1e8", "s3cr3t-MARKER-data-b64-19ac0f")
SECRETS: list[dict[str, Any]] = [
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "marked-envfrom", "namespace": NAMESPACE, "annotations": {"note": "not secret"}},
        "stringData": {"CONNECTION_STRING": MARKERS[0]},
    },
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "marked-keyref", "namespace": NAMESPACE},
        "stringData": {"connectionSecretRef": MARKERS[1]},
        "data": {"TOKEN": base64.b64encode(MARKERS[2].encode()).decode()},
    },
]


def needles() -> list[str]:
    """Each marker as text and base64 (a copied `data` value would be base64: each Secret value is a whole marker,
    so its base64 form appears as it is)."""
    return [form for marker in MARKERS for form in (marker, base64.b64encode(marker.encode()).decode())]


@dataclass
class Run:
    bed: Bed
    operator: OperatorProcess
    metrics: str
    requests: list[RequestRecord]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """Streams referencing marked Secrets taken through create, backfill, suspend, resume, a second backfill, an edit and deletion, by one operator logging at debug level."""
    sim = KubeSim(SimOptions(job_default_outcome="succeed-after=0.5s", job_backoff=0.1)).start()
    log = tmp_path_factory.mktemp("security") / "operator.log"
    command = operator_command(RULES, sim.kubeconfig_path, ["--log-level", "debug"])
    operator = OperatorProcess("operator", command, log, operator_env())
    try:
        bed = Bed.install(sim, (DEMO, LOOSE))
        sim.apply_many(SECRETS)
        operator.start()
        wait_ready(operator)
        wait_ready(operator, LOOSE)
        envfrom = stream(DEMO, "envfrom")
        envfrom["spec"]["connectionSecretRef"] = {"name": "marked-envfrom"}
        keyref = stream(LOOSE, "keyref")
        del keyref["spec"]["connectionSecretRef"]
        keyref["spec"]["secretRef"] = {"name": "marked-keyref"}
        for body, kind in ((envfrom, DEMO), (keyref, LOOSE)):
            sim.apply(body)
            bed.streams[(kind, body["metadata"]["name"])] = "Running"
        bed.converge()
        bed.suspend(DEMO, "envfrom")
        bed.converge()
        bed.suspend(DEMO, "envfrom", False)
        sim.apply(backfill_request("again", "keyref", LOOSE, payload={"from": "2024-01-01"}))
        bed.edit(LOOSE, "keyref", "edited-db")
        bed.converge()
        wait_for("the second backfill", lambda: (bed.request("again") or {}).get("spec", {}).get("completed"))
        bed.converge()
        bed.delete(DEMO, "envfrom")
        wait_for("the deleted stream's Job to go", lambda: bed.jobs("envfrom") == [])
        bed.quiet()
        yield Run(bed, operator, operator.metrics_text(), operator_requests(sim))
    finally:
        operator.close()
        sim.stop()


@pytest.fixture(autouse=True)
def _operator_log(request: pytest.FixtureRequest) -> None:
    attach_module_operator(request, "run")


@pytest.mark.e2e
@pytest.mark.slow
def test_secret_values_are_never_read_copied_logged_or_put_in_events(run: Run) -> None:
    """No version of any stored object but the Secrets themselves, no Event, no operator log line (at debug level) and no metric holds a secret value, raw or base64, and the operator never even requests a Secret."""
    found: list[str] = []
    for change in run.bed.history.changes():
        if change.resource == "secrets":
            continue
        text = json.dumps(change.obj)
        found.extend(f"{change.resource}/{change.name}@{change.rv}" for needle in needles() if needle in text)
    logs = run.operator.logs()
    found.extend(f"operator log: {needle}" for needle in needles() if needle in logs)
    found.extend(f"/metrics: {needle}" for needle in needles() if needle in run.metrics)
    assert found == [], f"secret values leaked: {found}"
    assert [r.path for r in run.requests if r.resource == "secrets"] == []
    assert len(logs.splitlines()) > 50, "the operator logged too little for the scan to mean anything"
    events = run.bed.history.changes("events")
    assert events, "no Event was recorded"


@pytest.mark.e2e
@pytest.mark.slow
def test_jobs_carry_secret_references_not_values(run: Run) -> None:
    """The stream's Jobs name the Secrets (envFrom for a spec field holding a name, secretKeyRef for spec.secretRef): the values stay where they are."""
    by_name = {c.name: c.obj for c in run.bed.history.changes("jobs") if c.type == "ADDED"}
    envfrom = by_name["envfrom"]["spec"]["template"]["spec"]["containers"][0]
    assert envfrom["envFrom"] == [{"secretRef": {"name": "marked-envfrom"}}]
    keyref = by_name["keyref"]["spec"]["template"]["spec"]["containers"][0]
    (entry,) = [e for e in keyref["env"] if e["name"] == "connectionSecretRef"]
    assert entry == {
        "name": "connectionSecretRef",
        "valueFrom": {"secretKeyRef": {"name": "marked-keyref", "key": "connectionSecretRef"}},
    }


@pytest.mark.e2e
@pytest.mark.slow
def test_every_request_the_operator_made_is_granted_by_the_chart(run: Run) -> None:
    """Every (group, resource, verb) the operator used through a whole lifecycle is granted by the default chart's RBAC (stream kinds aside: plugin charts grant those by aggregation), and stream kinds are only read and have their status patched."""
    from chart.rbac import Request, allows, grants
    from chart.rendering import NAMESPACE as RELEASE_NAMESPACE
    from chart.rendering import helm_unavailable_reason, render

    reason = helm_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    rendered = render()
    account = rendered.deployment["spec"]["template"]["spec"]["serviceAccountName"]
    granted = grants(rendered, account, RELEASE_NAMESPACE)
    streams = {DEMO.plural, LOOSE.plural}
    used = {
        (r.group, f"{r.resource}/{r.subresource}" if r.subresource else r.resource, r.verb, r.namespace or None)
        for r in run.requests
        if r.resource
    }
    missing = sorted(
        f"{verb} {group}/{resource} in {namespace}"
        for group, resource, verb, namespace in used
        if resource.split("/")[0] not in streams and not allows(granted, Request(verb, group, resource, namespace))
    )
    assert missing == [], f"the operator did what the chart does not grant: {missing}"
    on_streams = {(resource, verb) for group, resource, verb, _ in used if resource.split("/")[0] in streams}
    assert on_streams <= {(p, v) for p in streams for v in ("get", "list", "watch")} | {
        (f"{p}/status", "patch") for p in streams
    }
    assert len(used) >= 10


# --- rule files and expressions --------------------------------------------------------------------------

MARKER_FILE = "arcane-reliability-pwned"
HEADER = "apiVersion: rules.arcane.dev/v1alpha1\nkind: Rules\nmetadata: {name: evil}\n"
YAML_TRICKS: dict[str, tuple[str, str]] = {
    "python-object-apply": (
        HEADER + "spec: !!python/object/apply:os.system ['touch {marker}']\n",
        "invalid YAML: unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' (rule files hold plain data)",
    ),
    "python-name": (
        HEADER + "spec: !!python/name:os.system\n",
        "invalid YAML: unsupported YAML tag 'tag:yaml.org,2002:python/name:os.system' (rule files hold plain data)",
    ),
    "python-module": (
        HEADER + "spec: !!python/module:os\n",
        "invalid YAML: unsupported YAML tag 'tag:yaml.org,2002:python/module:os' (rule files hold plain data)",
    ),
    "python-new": (
        HEADER + "spec: !!python/object/new:subprocess.Popen [['touch', '{marker}']]\n",
        "invalid YAML: unsupported YAML tag 'tag:yaml.org,2002:python/object/new:subprocess.Popen' (rule files hold plain data)",
    ),
    "alias-bomb": (
        "a: &a [x,x,x,x,x,x,x,x,x,x]\n"
        + "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)),
        "invalid YAML: document expands to more than 200000 values (alias bomb?)",
    ),
    "huge": ("# " + "x" * (5 * 1024 * 1024) + "\n", "rule files are limited to 4194304"),
}


@pytest.mark.parametrize("trick", sorted(YAML_TRICKS))
def test_yaml_tricks_in_rule_files_are_refused(tmp_path: Path, trick: str) -> None:
    """Rule YAML that would construct Python objects, expand an alias bomb or exhaust memory is refused by the loader with a located message, and runs nothing."""
    marker = tmp_path / MARKER_FILE
    text, message = YAML_TRICKS[trick]
    (tmp_path / "evil.yaml").write_text(text.replace("{marker}", str(marker)))
    with pytest.raises(RuleSetError) as caught:
        compile_ruleset([tmp_path])
    assert any(
        message in str(problem) and str(problem).startswith(str(tmp_path / "evil.yaml"))
        for problem in caught.value.problems
    ), caught.value.problems
    assert not marker.exists()


def test_over_nested_yaml_is_refused_with_a_located_message(tmp_path: Path) -> None:
    """A rule file nested 600 levels deep (a few KB) is refused with a located problem, like every other bad file."""
    (tmp_path / "deep.yaml").write_text("a: " + "[" * 600 + "]" * 600 + "\n")
    with pytest.raises(RuleSetError) as caught:
        compile_ruleset([tmp_path])
    assert "deep.yaml:1:68: invalid YAML: values nest more than 64 levels deep" in str(caught.value)


DATA = {"object": {"metadata": {"name": "x"}, "spec": {"items": [1, 2]}}}
HARMLESS = [
    "object.__class__",
    "object.__class__.__mro__",
    "object.__dict__",
    "object.__init__.__globals__",
    "object.keys",
    "object.get",
    "object.spec.items.__len__",
    "object.metadata.name.upper",
    'object."__class__"',
    "object.\"x'); __import__('os').system('touch /tmp/arcane-reliability-pwned'); ('\"",
]


@pytest.mark.parametrize("source", HARMLESS)
def test_attribute_and_dunder_access_reads_plain_data_only(source: str) -> None:
    """Expressions are JMESPath over JSON data: a dunder or method name is just a missing key (null), never a Python attribute, and quoted names cannot break out of the generated code."""
    assert compile_expression(source).evaluate(DATA) is None
    assert not Path("/tmp/arcane-reliability-pwned").exists()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("__import__('os').system('id')", "unknown function __import__()"),
        ("eval('1')", "unknown function eval()"),
        ("exec('1')", "unknown function exec()"),
        ("open('/etc/passwd')", "unknown function open()"),
        ("system('id')", "unknown function system()"),
        ("getattr(object, '__class__')", "unknown function getattr()"),
    ],
)
def test_functions_that_do_not_exist_are_refused_at_compile_time(source: str, message: str) -> None:
    """Only the listed JMESPath and Arcane functions exist: any other name is a compile error naming it."""
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression(source)
    assert str(caught.value) == message


def test_functions_cannot_be_fed_python_objects() -> None:
    """A function given a missing (dunder) field gets null and fails with a type error naming the expression, not a Python object."""
    with pytest.raises(ExpressionError) as caught:
        compile_expression("length(object.__class__)").evaluate(DATA)
    assert "In function length(), invalid type for value: None" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("{{ object.__class__ }}", None),
        ("{0.__class__} {{ object.metadata.name }}", "{0.__class__} x"),
        ("%(name)s ${HOME} $(id) {{ 'a' }}", "%(name)s ${HOME} $(id) a"),
        ("{% for x in y %}{% endfor %}", "{% for x in y %}{% endfor %}"),
    ],
)
def test_templates_interpolate_jmespath_only(text: str, rendered: str | None) -> None:
    """Templates substitute `{{ expression }}` only: format fields, shell and Jinja syntax stay literal text."""
    assert template(text).render(DATA) == rendered


@pytest.mark.parametrize("source", ["$.__class__", "object.__init__.__globals__", "$.object.__dict__"])
def test_paths_address_data_only(source: str) -> None:
    """JSONPath field addressing finds keys of the data, never attributes."""
    assert compile_path(source).first(DATA) is None


def test_deeply_nested_expression_is_a_compile_error() -> None:
    """Expressions nested 2000 levels deep (parentheses, filters, a 3000-deep template) are refused as syntax errors
    naming the column where the nesting goes too deep, not a crash of the loader; a long flat chain compiles."""
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression("(" * 2000 + "object" + ")" * 2000)
    assert (caught.value.message, caught.value.column) == ("the expression nests more than 64 levels", 65)
    with pytest.raises(ExpressionSyntaxError):
        compile_expression("[?" * 2000 + "a" + "]" * 2000)
    with pytest.raises(ExpressionSyntaxError):
        template("{{ " + "(" * 3000 + "a" + ")" * 3000 + " }}")
    assert compile_expression(".".join(["a"] * 3000)).evaluate({"a": None}) is None


def test_rule_file_cannot_name_files_to_read(tmp_path: Path) -> None:
    """Rule files have no include or file function: a `$ref`, an `!include` tag or a read of /etc/passwd is refused, and nothing is read."""
    (tmp_path / "evil.yaml").write_text(HEADER + "spec: !include /etc/passwd\n")
    with pytest.raises(RuleSetError) as caught:
        compile_ruleset([tmp_path])
    assert "unsupported YAML tag '!include'" in str(caught.value)
    with pytest.raises(ExpressionSyntaxError) as syntax:
        compile_expression("read_file('/etc/passwd')")
    assert str(syntax.value) == "unknown function read_file()"
