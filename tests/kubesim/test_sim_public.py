"""The public surface: a sorted __all__, the CLI's lifecycle, units worth pinning on their own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import kubesim
from kubesim import ApiError, cron, protobuf
from kubesim.selectors import parse_field_selector, parse_label_selector
from kubesim.tables import human_duration


def test_all_is_sorted_and_complete() -> None:
    """kubesim.__all__ is sorted and every name exists."""
    assert kubesim.__all__ == sorted(kubesim.__all__)
    for name in kubesim.__all__:
        assert hasattr(kubesim, name)


def test_cli_writes_kubeconfig_once_serving_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    """`python -m kubesim --kubeconfig FILE` writes FILE once serving and exits 0 on SIGTERM."""
    path = tmp_path / "kc"
    process = subprocess.Popen(
        [sys.executable, "-m", "kubesim", "--kubeconfig", str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.exists()
        import kubernetes

        client = kubernetes.config.new_client_from_config(str(path))
        try:
            assert kubernetes.client.VersionApi(client).get_code().minor == "32"
        finally:
            client.close()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
        if process.stdout:
            process.stdout.close()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "5s"),
        (119, "119s"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600 + 600, "3h10m"),
        (9 * 3600, "9h"),
        (50 * 3600, "2d2h"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    """Ages render as apimachinery's HumanDuration does."""
    assert human_duration(seconds) == text


def test_selectors_parse_escapes_and_sets() -> None:
    """Field selectors unescape values; label selectors keep set semantics."""
    assert parse_field_selector(r"metadata.name=a\,b").terms[0].value == "a,b"
    assert parse_label_selector("a in (x, y),!b").matches({"a": "y"})


def test_cron_next_activation() -> None:
    """A */15 schedule fires at the next quarter hour (UTC)."""
    start = 1_700_000_000.0  # 2023-11-14T22:13:20Z
    assert cron.parse("*/15 * * * *").next_after(start) == 1_700_000_100.0
    with pytest.raises(cron.CronError) as exc:
        cron.parse("bad")
    assert str(exc.value) == "expected exactly 5 fields, found 1: [bad]"


def test_protobuf_secret_decodes() -> None:
    """A protobuf Secret (as kubectl 1.32 sends it) decodes to the JSON object."""

    def field(number: int, payload: bytes) -> bytes:
        return bytes([number << 3 | 2, len(payload)]) + payload

    meta = field(1, b"s1") + field(3, b"default")
    entry = field(1, b"k") + field(2, b"v")
    secret = field(1, meta) + field(2, entry) + field(3, b"Opaque")
    unknown = field(1, field(1, b"v1") + field(2, b"Secret")) + field(2, secret)
    decoded = protobuf.decode(protobuf.MAGIC + unknown)
    assert decoded == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s1", "namespace": "default"},
        "data": {"k": "dg=="},
        "type": "Opaque",
    }


def pb(number: int, payload: bytes | int) -> bytes:
    """One protobuf field: a varint for an int, else length-delimited bytes."""

    def varint(value: int) -> bytes:
        out = b""
        while value > 0x7F:
            out += bytes([value & 0x7F | 0x80])
            value >>= 7
        return out + bytes([value])

    if isinstance(payload, int):
        return varint(number << 3) + varint(payload)
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def job_body(pod_spec_extra: bytes = b"") -> bytes:
    """A protobuf Job as Go writes it: non-pointer zeros present, a zero Time as an empty message."""
    container = pb(1, b"c") + pb(2, b"busybox") + pb(8, b"") + pb(16, 0) + pb(17, 0) + pb(18, 0)
    pod_spec = pb(2, container) + pb(3, b"Never") + pb(11, 0) + pb(8, b"") + pod_spec_extra
    template = pb(1, pb(7, 0) + pb(8, b"")) + pb(2, pod_spec)
    rule = pb(1, b"Ignore") + pb(2, pb(2, b"In") + pb(3, bytes([2, 3])))
    spec = pb(7, 0) + pb(10, 0) + pb(6, template) + pb(11, pb(1, rule))
    job = pb(1, pb(1, b"j1") + pb(7, 0)) + pb(2, spec) + pb(3, pb(4, 1))
    return protobuf.MAGIC + pb(1, pb(1, b"batch/v1") + pb(2, b"Job")) + pb(2, job)


def test_protobuf_job_decodes_as_its_json() -> None:
    """A protobuf Job (`kubectl create job`) decodes to the JSON a client would send: pointer zeros kept
    (backoffLimit, suspend), non-pointer zeros and empty strings dropped, packed exit codes, status ignored."""
    assert protobuf.decode(job_body()) == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j1"},
        "spec": {
            "backoffLimit": 0,
            "suspend": False,
            "template": {
                "metadata": {},
                "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {}}], "restartPolicy": "Never"},
            },
            "podFailurePolicy": {"rules": [{"action": "Ignore", "onExitCodes": {"operator": "In", "values": [2, 3]}}]},
        },
    }


def test_protobuf_field_outside_the_tables_is_415_naming_it() -> None:
    """A Pod template field kubesim cannot decode (affinity) is refused, never silently dropped."""
    with pytest.raises(ApiError) as exc:
        protobuf.decode(job_body(pb(18, pb(1, b""))))
    assert exc.value.code == 415
    assert exc.value.message == "kubesim cannot decode protobuf field 18 of PodSpec in a Job; send application/json"


def test_no_engine_import() -> None:
    """kubesim never imports the engine."""
    root = Path(kubesim.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert "import engine" not in text, path
        assert "from engine" not in text, path
    assert "engine" not in {m.split(".")[0] for m in sys.modules if m.startswith("kubesim")}
    assert os.sep
