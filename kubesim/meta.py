"""Object-metadata helpers shared by every layer: JSON, timestamps, uids, names, label maps.

Objects are plain JSON dicts. Once committed to the store they are never mutated: whoever changes an
object works on `deep_copy(obj)` first. This module does no I/O and knows no resource types.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import string
from typing import Any, TypeVar

import orjson

JSON = dict[str, Any]
T = TypeVar("T")

_RFC3339 = "%Y-%m-%dT%H:%M:%SZ"
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def dumps(obj: Any) -> bytes:
    """Encode JSON the fast way (orjson)."""
    return orjson.dumps(obj)


def loads(data: bytes | str) -> Any:
    """Decode JSON the fast way (orjson)."""
    return orjson.loads(data)


def deep_copy(obj: T) -> T:
    """A deep copy of a JSON value (an orjson round trip is faster than `copy.deepcopy`)."""
    copied: T = orjson.loads(orjson.dumps(obj))
    return copied


_LAST_STAMP: list[Any] = [None, ""]


def rfc3339(epoch: float) -> str:
    """Seconds since the epoch as `2024-01-02T03:04:05Z` (the last second is cached: this is a hot path)."""
    second = int(epoch)
    if _LAST_STAMP[0] != second:
        _LAST_STAMP[0], _LAST_STAMP[1] = second, dt.datetime.fromtimestamp(second, dt.UTC).strftime(_RFC3339)
    return str(_LAST_STAMP[1])


def rfc3339_micro(epoch: float) -> str:
    """Seconds since the epoch as `2024-01-02T03:04:05.123456Z` (MicroTime)."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> float | None:
    """An RFC 3339 timestamp as seconds since the epoch, or None when it does not parse."""
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)


def new_uid() -> str:
    """A random (version 4) UUID string, as the API server assigns."""
    text = "%032x" % ((random.getrandbits(128) & _UUID_CLEAR) | _UUID_SET)
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def generate_suffix(length: int = 5) -> str:
    """The random suffix that `generateName` gets (the API server's alphabet, no vowels)."""
    return "".join(random.choice(_GENERATE_ALPHABET) for _ in range(length))


def random_token(length: int = 32) -> str:
    """A random bearer token."""
    return "".join(random.choice(string.ascii_letters + string.digits) for _ in range(length))


def is_dns1123_label(name: str) -> bool:
    """A DNS-1123 label: lowercase alphanumerics and `-`, at most 63 characters."""
    return len(name) <= 63 and bool(_DNS1123_LABEL.match(name))


def is_dns1123_subdomain(name: str) -> bool:
    """A DNS-1123 subdomain: labels joined by dots, at most 253 characters."""
    return len(name) <= 253 and bool(_DNS1123_SUBDOMAIN.match(name))


def dns1123_subdomain_error(name: str) -> str:
    """The API server's message for a name that is not a DNS-1123 subdomain."""
    if len(name) > 253:
        return "must be no more than 253 characters"
    return (
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
        "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    )


def dns1123_label_error(name: str) -> str:
    """The API server's message for a name that is not a DNS-1123 label."""
    if len(name) > 63:
        return "must be no more than 63 characters"
    return (
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
        "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    )


def label_key_error(key: str) -> str | None:
    """Why a label or annotation key is not a qualified name, or None when it is one."""
    prefix, _, name = key.rpartition("/")
    if prefix and not is_dns1123_subdomain(prefix):
        return "prefix part " + dns1123_subdomain_error(prefix)
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        return (
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        )
    return None


def label_value_error(value: str) -> str | None:
    """Why a label value is invalid, or None when it is valid."""
    if len(value) > 63:
        return "must be no more than 63 characters"
    if not _LABEL_VALUE.match(value):
        return (
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
            "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
            "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        )
    return None


def split_api_version(api_version: str) -> tuple[str, str]:
    """`batch/v1` -> (`batch`, `v1`); `v1` -> (``, `v1`)."""
    group, _, version = api_version.rpartition("/")
    return group, version


def join_api_version(group: str, version: str) -> str:
    """(`batch`, `v1`) -> `batch/v1`; (``, `v1`) -> `v1`."""
    return f"{group}/{version}" if group else version


def labels_of(obj: JSON) -> dict[str, str]:
    """The object's labels (empty when none)."""
    labels = obj.get("metadata", {}).get("labels")
    return labels if isinstance(labels, dict) else {}


def get_path(obj: Any, path: tuple[str, ...]) -> Any:
    """The value at a field path, or None."""
    for part in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj
