"""Logs: JSON lines with extra fields, the text format, levels from flag or LOG_LEVEL, and redaction."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from engine.runtime.logs import REDACTED, LogFormat, configure_logging, parse_level, redact, redact_text


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_json_lines_carry_extra_fields_and_redact_them(restore_root: None) -> None:
    """Each record is one JSON object: ts, level, logger, msg, the extra fields (redacted), exc on errors."""
    out = io.StringIO()
    configure_logging("debug", LogFormat.JSON, out=out, environ={})
    log = logging.getLogger("engine.test")
    log.info("created %s", "Job/ns/a", extra={"rule": "r1", "object": {"data": {"password": "hunter2"}}})
    try:
        raise RuntimeError("Authorization: Bearer abc.def")
    except RuntimeError:
        log.exception("failed")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert set(first) == {"ts", "level", "logger", "msg", "rule", "object"}
    assert (first["level"], first["logger"], first["msg"], first["rule"]) == (
        "info",
        "engine.test",
        "created Job/ns/a",
        "r1",
    )
    assert first["object"] == {"data": {"password": REDACTED}}
    assert first["ts"].endswith("Z")
    assert "abc.def" not in second["exc"]
    assert "Bearer [REDACTED]" in second["exc"]


def test_text_format_and_level_filtering(restore_root: None) -> None:
    """The text format is one readable line with key=value extras; records below the level are dropped."""
    out = io.StringIO()
    configure_logging(None, "text", out=out, environ={"LOG_LEVEL": "warning"})
    log = logging.getLogger("engine.test")
    log.info("hidden")
    log.warning("shown", extra={"retry_in": 0.8})
    (line,) = out.getvalue().splitlines()
    assert line.endswith("WARNING engine.test: shown retry_in=0.8")


def test_level_flag_wins_and_bad_levels_are_named() -> None:
    """The flag beats LOG_LEVEL; an unknown level says what is accepted."""
    assert parse_level("error", {"LOG_LEVEL": "debug"}) == logging.ERROR
    assert parse_level(None, {}) == logging.INFO
    with pytest.raises(ValueError, match=r"^log level must be one of debug, info, warning, error \(got 'loud'\)$"):
        parse_level("loud", {})


def test_redact_hides_secret_values_and_keeps_the_shape() -> None:
    """data/stringData values, credential-like env values and fields, and tokens in text are replaced; names,
    references and ordinary values stay."""
    obj = {
        "kind": "Secret",
        "metadata": {"name": "db", "annotations": {"note": "use Bearer xyz123 here"}},
        "data": {"user": "YWRtaW4=", "password": "c2VjcmV0"},
        "stringData": "raw",
        "spec": {
            "containers": [
                {
                    "env": [
                        {"name": "DB_PASSWORD", "value": "hunter2"},
                        {"name": "AWS_ACCESS_KEY_ID", "value": "AKIA"},
                        {"name": "MODE", "value": "batch"},
                        {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "token"}}},
                    ]
                }
            ],
            "token": "t0k",
            "apiKey": "k",
        },
    }
    clean = redact(obj)
    assert clean["data"] == {"user": REDACTED, "password": REDACTED}
    assert clean["stringData"] == REDACTED
    env = clean["spec"]["containers"][0]["env"]
    assert [e.get("value") for e in env] == [REDACTED, REDACTED, "batch", None]
    assert env[3]["valueFrom"] == {"secretKeyRef": {"name": "s", "key": "token"}}
    assert (clean["spec"]["token"], clean["spec"]["apiKey"]) == (REDACTED, REDACTED)
    assert clean["metadata"]["annotations"]["note"] == "use Bearer [REDACTED] here"
    assert obj["data"]["password"] == "c2VjcmV0"
    assert redact_text("Authorization: Basic dXNlcjpwdw==") == "Authorization: Basic [REDACTED]"
