"""JSON text exactly as Go's `encoding/json` writes an unstructured value.

Rules hash and embed JSON that other programs (written in Go) compute too, so the bytes must agree:
object keys sorted, no whitespace, UTF-8 kept as is, `<`, `>`, `&`, U+2028 and U+2029 escaped as
`\\u003c`, `\\u003e`, `\\u0026`, `\\u2028`, `\\u2029`, integers as integers and other numbers in Go's
shortest form (`1` for 1.0, `1e-7` for 1e-07, `1e+21` from 1e21 up). The fast path is the C encoder of
the standard library; floats that Python would print differently take a slower exact path.

This module only encodes; it does not decode and knows nothing of where the text goes.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})
# A float Python writes unlike Go: an integral float (`1.0`) or an exponent (`1e-07`, `1e+16`).
_PYTHON_ONLY_FLOAT = re.compile(r"[0-9]\.0(?![0-9])|[0-9]e[+-]")


def go_json(value: Any, *, sort_keys: bool = True) -> str:
    """Encode `value` as Go's encoding/json does for unstructured data (keys sorted unless told otherwise)."""
    text = json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    if _PYTHON_ONLY_FLOAT.search(text):
        text = "".join(_encode(value, sort_keys))
    return text.translate(_GO_ESCAPES)


def go_float(number: float) -> str:
    """Format a float as Go's `strconv.AppendFloat(f, 'f' or 'e', -1, 64)` does inside encoding/json."""
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"json: unsupported value: {number!r}")
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    exact = Decimal(repr(number))
    magnitude = abs(number)
    if 1e-6 <= magnitude < 1e21:
        return format(exact.normalize(), "f")
    sign, digits, exponent = exact.normalize().as_tuple()
    assert isinstance(exponent, int)
    text_digits = "".join(map(str, digits))
    mantissa = text_digits[0] + ("." + text_digits[1:] if len(text_digits) > 1 else "")
    power = exponent + len(text_digits) - 1
    suffix = f"e{'-' if power < 0 else '+'}{abs(power):02d}"
    if suffix.startswith("e-0"):
        suffix = "e-" + suffix[3:]
    return ("-" if sign else "") + mantissa + suffix


def _encode(value: Any, sort_keys: bool) -> list[str]:
    out: list[str] = []
    _emit(value, sort_keys, out)
    return out


def _emit(value: Any, sort_keys: bool, out: list[str]) -> None:
    if isinstance(value, dict):
        out.append("{")
        items = sorted(value.items()) if sort_keys else value.items()
        for index, (key, item) in enumerate(items):
            if index:
                out.append(",")
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(":")
            _emit(item, sort_keys, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _emit(item, sort_keys, out)
        out.append("]")
    elif isinstance(value, float):
        out.append(go_float(value))
    else:
        out.append(json.dumps(value, ensure_ascii=False))
