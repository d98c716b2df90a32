"""Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) into JSON.

kubectl 1.32+ and Helm send protobuf for typed-client writes (`create secret|configmap|namespace`,
`auth can-i`, release Secrets, DeleteOptions) and do not fall back to JSON on 415. The envelope is
`k8s\\x00` + runtime.Unknown{typeMeta, raw}; the raw bytes are decoded by a small per-kind field table
(Secret, ConfigMap, Namespace, ServiceAccount, DeleteOptions, SelfSubjectAccessReview). Responses are
always JSON; encoding protobuf is out of scope.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from kubesim.errors import ApiError, Reason
from kubesim.meta import JSON, rfc3339

MAGIC = b"k8s\x00"
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5

# Field tables: number -> (json name, type). Types: str, bytes, int, bool, msg:<name>, map:<str|bytes>,
# rep:<type> (repeated), time.
_TABLES: dict[str, dict[int, tuple[str, str]]] = {
    "ObjectMeta": {
        1: ("name", "str"),
        2: ("generateName", "str"),
        3: ("namespace", "str"),
        5: ("uid", "str"),
        6: ("resourceVersion", "str"),
        7: ("generation", "int"),
        8: ("creationTimestamp", "time"),
        9: ("deletionTimestamp", "time"),
        10: ("deletionGracePeriodSeconds", "int"),
        11: ("labels", "map:str"),
        12: ("annotations", "map:str"),
        13: ("ownerReferences", "rep:msg:OwnerReference"),
        14: ("finalizers", "rep:str"),
    },
    "OwnerReference": {
        1: ("kind", "str"),
        3: ("name", "str"),
        4: ("uid", "str"),
        5: ("apiVersion", "str"),
        6: ("controller", "bool"),
        7: ("blockOwnerDeletion", "bool"),
    },
    "Secret": {
        1: ("metadata", "msg:ObjectMeta"),
        2: ("data", "map:bytes"),
        3: ("type", "str"),
        4: ("stringData", "map:str"),
        5: ("immutable", "bool"),
    },
    "ConfigMap": {
        1: ("metadata", "msg:ObjectMeta"),
        2: ("data", "map:str"),
        3: ("binaryData", "map:bytes"),
        4: ("immutable", "bool"),
    },
    "Namespace": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", "rep:str")},
    "ServiceAccount": {
        1: ("metadata", "msg:ObjectMeta"),
        2: ("secrets", "rep:msg:ObjectReference"),
        3: ("imagePullSecrets", "rep:msg:LocalObjectReference"),
        4: ("automountServiceAccountToken", "bool"),
    },
    "ObjectReference": {1: ("kind", "str"), 2: ("namespace", "str"), 3: ("name", "str"), 4: ("uid", "str")},
    "LocalObjectReference": {1: ("name", "str")},
    "DeleteOptions": {
        1: ("gracePeriodSeconds", "int"),
        2: ("preconditions", "msg:Preconditions"),
        3: ("orphanDependents", "bool"),
        4: ("propagationPolicy", "str"),
        5: ("dryRun", "rep:str"),
    },
    "Preconditions": {1: ("uid", "str"), 2: ("resourceVersion", "str")},
    "SelfSubjectAccessReview": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:SelfSubjectAccessReviewSpec")},
    "SelfSubjectAccessReviewSpec": {
        1: ("resourceAttributes", "msg:ResourceAttributes"),
        2: ("nonResourceAttributes", "msg:NonResourceAttributes"),
    },
    "ResourceAttributes": {
        1: ("namespace", "str"),
        2: ("verb", "str"),
        3: ("group", "str"),
        4: ("version", "str"),
        5: ("resource", "str"),
        6: ("subresource", "str"),
        7: ("name", "str"),
    },
    "NonResourceAttributes": {1: ("path", "str"), 2: ("verb", "str")},
    "TypeMeta": {1: ("apiVersion", "str"), 2: ("kind", "str")},
    "Unknown": {
        1: ("typeMeta", "msg:TypeMeta"),
        2: ("raw", "bytes"),
        3: ("contentEncoding", "str"),
        4: ("contentType", "str"),
    },
    "Time": {1: ("seconds", "int"), 2: ("nanos", "int")},
}


def _fail(message: str) -> ApiError:
    return ApiError(400, Reason.BAD_REQUEST, f"unable to decode protobuf body: {message}")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise _fail("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == _VARINT:
            value, pos = _varint(data, pos)
        elif wire == _LEN:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire == _I64:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == _I32:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise _fail(f"unsupported wire type {wire}")
        yield number, wire, value


def _scalar(kind: str, value: Any) -> Any:
    if kind == "str":
        return bytes(value).decode("utf-8")
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode()
    if kind == "int":
        return value - (1 << 64) if value >= 1 << 63 else value
    if kind == "bool":
        return bool(value)
    if kind == "time":
        seconds = decode_message("Time", bytes(value)).get("seconds", 0)
        return rfc3339(float(seconds))
    if kind.startswith("msg:"):
        return decode_message(kind[4:], bytes(value))
    raise _fail(f"unknown field kind {kind}")


def decode_message(name: str, data: bytes) -> JSON:
    """Decode one message by its field table (unknown fields are skipped)."""
    table = _TABLES[name]
    out: JSON = {}
    for number, _wire, value in _fields(data):
        spec = table.get(number)
        if spec is None:
            continue
        key, kind = spec
        if kind.startswith("map:"):
            entry = {n: v for n, _w, v in _fields(bytes(value))}
            map_key = bytes(entry.get(1, b"")).decode()
            out.setdefault(key, {})[map_key] = _scalar(kind[4:], entry.get(2, b""))
        elif kind.startswith("rep:"):
            out.setdefault(key, []).append(_scalar(kind[4:], value))
        else:
            decoded = _scalar(kind, value)
            if decoded != "":  # proto3 writes empty strings; JSON omits them
                out[key] = decoded
    return out


def decode(body: bytes) -> JSON:
    """Decode a protobuf request body into the equivalent JSON object."""
    if not body.startswith(MAGIC):
        raise _fail("missing the k8s protobuf prefix")
    unknown = decode_message("Unknown", body[len(MAGIC) :])
    type_meta = unknown.get("typeMeta", {})
    kind = str(type_meta.get("kind", ""))
    if kind not in _TABLES or kind in ("Unknown", "TypeMeta", "Time"):
        raise ApiError(
            415,
            Reason.UNSUPPORTED_MEDIA_TYPE,
            f"kubesim cannot decode protobuf for kind {kind!r}; send application/json",
            {},
        )
    raw = base64.b64decode(unknown.get("raw", ""))
    obj = decode_message(kind, raw)
    if type_meta.get("apiVersion"):
        obj = {"apiVersion": type_meta["apiVersion"], "kind": kind, **obj}
    elif kind:
        obj = {"kind": kind, **obj}
    return obj
