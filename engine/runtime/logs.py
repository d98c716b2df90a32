"""Logging set-up and redaction: one JSON object per line by default, `text` for humans, no secrets ever.

Where this sits: the operator calls `configure_logging()` once at start (`--log-level`, `--log-format`,
`LOG_LEVEL`); every module logs through the standard `logging` package with `extra={...}` fields. The
formatters pass every message and extra field through `redact_text()` / `redact()`, so secret values do
not reach the output even when a caller logs a whole object:
- values under `data` and `stringData` (Secrets, and ConfigMaps, which sometimes hold secrets too);
- container env entries whose name looks like *PASSWORD*, *TOKEN*, *SECRET*, *KEY*, *CREDENTIAL*;
- fields named like a credential (password, token, secret, authorization, apiKey...);
- bearer and basic credentials inside text.
Callers should still log references (kind/namespace/name, field paths), not objects.

What it does not do: no log shipping, no sampling.
"""

from __future__ import annotations

import enum
import logging
import os
import re
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

import orjson

REDACTED = "[REDACTED]"

_SECRET_ENV = re.compile(r"PASSWORD|PASSWD|TOKEN|SECRET|KEY|CREDENTIAL", re.IGNORECASE)
_SECRET_FIELD = re.compile(r"^(password|passwd|token|secret|authorization|api_?key|access_?key|private_?key)$", re.I)
_SECRET_TEXT = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_DATA_FIELDS = frozenset({"data", "stringData", "binaryData"})

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class LogFormat(enum.StrEnum):
    """`--log-format`: JSON lines for machines, text for people."""

    JSON = "json"
    TEXT = "text"


def redact_text(text: str) -> str:
    """Hide bearer/basic credentials inside free text."""
    return _SECRET_TEXT.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


def redact(value: Any) -> Any:
    """A copy of `value` (JSON-like) with secret values replaced by `[REDACTED]` (keys are kept)."""
    if isinstance(value, Mapping):
        name = value.get("name")
        secret_env = isinstance(name, str) and "value" in value and bool(_SECRET_ENV.search(name))
        result: dict[Any, Any] = {}
        for key, item in value.items():
            if key in _DATA_FIELDS:
                result[key] = dict.fromkeys(item, REDACTED) if isinstance(item, Mapping) else REDACTED
            elif (secret_env and key == "value") or (isinstance(key, str) and _SECRET_FIELD.match(key) and item):
                result[key] = REDACTED
            else:
                result[key] = redact(item)
        return result
    if isinstance(value, (list, tuple)):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    fields = vars(record)
    if fields.keys() <= _STANDARD:
        return {}
    return {key: redact(value) for key, value in fields.items() if key not in _STANDARD}


_second: list[Any] = [None, ""]
"""The last whole second formatted, and its text: strftime once per second, not once per line."""


def _timestamp(record: logging.LogRecord) -> str:
    whole = int(record.created)
    if _second[0] != whole:
        _second[:] = [whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))]
    return f"{_second[1]}.{int(record.msecs):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the extra fields, and exc when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact_text(record.getMessage()),
        }
        entry.update(_extras(record))
        if record.exc_info:
            entry["exc"] = redact_text(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """`ts level logger: msg key=value ...` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={orjson.dumps(v, default=str).decode()}" for k, v in _extras(record).items())
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {redact_text(record.getMessage())}"
        if fields:
            line = f"{line} {fields}"
        if record.exc_info:
            line = f"{line}\n{redact_text(self.formatException(record.exc_info))}"
        return line


class _LineHandler(logging.Handler):
    """Writes each formatted record as one line to a text file object (stderr by default)."""

    def __init__(self, out: TextIO) -> None:
        super().__init__()
        self.out = out
        self._flush = not getattr(out, "line_buffering", False)  # a line-buffered stream (stderr) flushes itself

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.out.write(self.format(record) + "\n")
            if self._flush:
                self.out.flush()
        except Exception:
            self.handleError(record)


def parse_level(level: str | None, environ: Mapping[str, str] | None = None) -> int:
    """`level`, else $LOG_LEVEL, else info. Raises ValueError naming the accepted values."""
    env = os.environ if environ is None else environ
    name = (level or env.get("LOG_LEVEL") or "info").strip().lower()
    levels = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
    if name not in levels:
        raise ValueError(f"log level must be one of debug, info, warning, error (got {name!r})")
    return levels[name]


def configure_logging(
    level: str | None = None,
    fmt: LogFormat | str = LogFormat.JSON,
    *,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> logging.Handler:
    """Replace the root logger's handlers with one that writes `fmt` lines to `out`; return the handler."""
    # No formatter prints where a call came from, nor its thread or process: the logging HOWTO's optimization
    # flags skip collecting them (a stack walk and three lookups per line; about a third of a line's cost).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = _LineHandler(out if out is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if LogFormat(fmt) is LogFormat.JSON else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(parse_level(level, environ))
    return handler
