"""Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) into JSON.

kubectl 1.32+ and Helm send protobuf for typed-client writes (`create secret|configmap|namespace`,
`auth can-i`, release Secrets, DeleteOptions) and do not fall back to JSON on 415. The envelope is
`k8s\\x00` + runtime.Unknown{typeMeta, raw}; the raw bytes are decoded by a small per-kind field table
(Secret, ConfigMap, Namespace, ServiceAccount, DeleteOptions, SelfSubjectAccessReview,
SelfSubjectRulesReview, Job, CronJob, Role, ClusterRole, RoleBinding, ClusterRoleBinding). Responses are
always JSON; encoding protobuf is out of scope.

The field numbers are those of k8s.io/api's generated.proto. Go's protobuf writes every non-pointer
field, zero or not, while its JSON omits the zero ones (`omitempty`): the `*0` kinds drop zero values so
that a decoded object equals the JSON a client would have sent. The Pod template tables cover the fields
Jobs commonly use; they are strict, since silently dropping, say, an affinity would create a different
Job: a field they do not know is a 415 that says which one.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from kubesim.errors import ApiError, Reason
from kubesim.meta import JSON, rfc3339

MAGIC = b"k8s\x00"
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5

# Field tables: number -> (json name, type). Types: str (omitted when empty), bytes, int, bool (pointer
# fields: zero is a value), int0, bool0 (non-pointer fields: zero is omitted), quantity, time,
# msg:<name>, inline:<name> (an embedded struct whose fields JSON inlines), map:<type>, rep:<type>.
_TABLES: dict[str, dict[int, tuple[str, str]]] = {
    "ObjectMeta": {
        1: ("name", "str"),
        2: ("generateName", "str"),
        3: ("namespace", "str"),
        5: ("uid", "str"),
        6: ("resourceVersion", "str"),
        7: ("generation", "int0"),
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
    "Quantity": {1: ("string", "str")},
    "SelfSubjectRulesReview": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:SelfSubjectRulesReviewSpec")},
    "SelfSubjectRulesReviewSpec": {1: ("namespace", "str")},
}

# Strict tables (see the module docstring): an unknown field number is a 415, not a silent drop.
_STRICT_TABLES: dict[str, dict[int, tuple[str, str]]] = {
    "Role": {1: ("metadata", "msg:ObjectMeta"), 2: ("rules", "rep:msg:PolicyRule")},
    "ClusterRole": {
        1: ("metadata", "msg:ObjectMeta"),
        2: ("rules", "rep:msg:PolicyRule"),
        3: ("aggregationRule", "msg:AggregationRule"),
    },
    "AggregationRule": {1: ("clusterRoleSelectors", "rep:msg:LabelSelector")},
    "PolicyRule": {
        1: ("verbs", "rep:str"),
        2: ("apiGroups", "rep:str"),
        3: ("resources", "rep:str"),
        4: ("resourceNames", "rep:str"),
        5: ("nonResourceURLs", "rep:str"),
    },
    "RoleBinding": {
        1: ("metadata", "msg:ObjectMeta"),
        2: ("subjects", "rep:msg:Subject"),
        3: ("roleRef", "msg:RoleRef"),
    },
    "ClusterRoleBinding": {
        1: ("metadata", "msg:ObjectMeta"),
        2: ("subjects", "rep:msg:Subject"),
        3: ("roleRef", "msg:RoleRef"),
    },
    "Subject": {1: ("kind", "str"), 2: ("apiGroup", "str"), 3: ("name", "str"), 4: ("namespace", "str")},
    "RoleRef": {1: ("apiGroup", "str"), 2: ("kind", "str"), 3: ("name", "str")},
    "LabelSelector": {1: ("matchLabels", "map:str"), 2: ("matchExpressions", "rep:msg:LabelSelectorRequirement")},
    "LabelSelectorRequirement": {1: ("key", "str"), 2: ("operator", "str"), 3: ("values", "rep:str")},
    "CronJob": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:CronJobSpec"), 3: ("status", "skip")},
    "CronJobSpec": {
        1: ("schedule", "str"),
        2: ("startingDeadlineSeconds", "int"),
        3: ("concurrencyPolicy", "str"),
        4: ("suspend", "bool"),
        5: ("jobTemplate", "msg:JobTemplateSpec"),
        6: ("successfulJobsHistoryLimit", "int"),
        7: ("failedJobsHistoryLimit", "int"),
        8: ("timeZone", "str"),
    },
    "JobTemplateSpec": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:JobSpec")},
    "Job": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:JobSpec"), 3: ("status", "skip")},
    "JobSpec": {
        1: ("parallelism", "int"),
        2: ("completions", "int"),
        3: ("activeDeadlineSeconds", "int"),
        4: ("selector", "msg:LabelSelector"),
        5: ("manualSelector", "bool"),
        6: ("template", "msg:PodTemplateSpec"),
        7: ("backoffLimit", "int"),
        8: ("ttlSecondsAfterFinished", "int"),
        9: ("completionMode", "str"),
        10: ("suspend", "bool"),
        11: ("podFailurePolicy", "msg:PodFailurePolicy"),
        12: ("backoffLimitPerIndex", "int"),
        13: ("maxFailedIndexes", "int"),
        14: ("podReplacementPolicy", "str"),
        15: ("managedBy", "str"),
        16: ("successPolicy", "msg:SuccessPolicy"),
    },
    "PodFailurePolicy": {1: ("rules", "rep:msg:PodFailurePolicyRule")},
    "PodFailurePolicyRule": {
        1: ("action", "str"),
        2: ("onExitCodes", "msg:PodFailurePolicyOnExitCodesRequirement"),
        3: ("onPodConditions", "rep:msg:PodFailurePolicyOnPodConditionsPattern"),
    },
    "PodFailurePolicyOnExitCodesRequirement": {
        1: ("containerName", "str"),
        2: ("operator", "str"),
        3: ("values", "rep:int"),
    },
    "PodFailurePolicyOnPodConditionsPattern": {1: ("type", "str"), 2: ("status", "str")},
    "SuccessPolicy": {1: ("rules", "rep:msg:SuccessPolicyRule")},
    "SuccessPolicyRule": {1: ("succeededIndexes", "str"), 2: ("succeededCount", "int")},
    "PodTemplateSpec": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:PodSpec")},
    "PodSpec": {
        1: ("volumes", "rep:msg:Volume"),
        2: ("containers", "rep:msg:Container"),
        3: ("restartPolicy", "str"),
        4: ("terminationGracePeriodSeconds", "int"),
        5: ("activeDeadlineSeconds", "int"),
        6: ("dnsPolicy", "str"),
        7: ("nodeSelector", "map:str"),
        8: ("serviceAccountName", "str"),
        9: ("serviceAccount", "str"),
        10: ("nodeName", "str"),
        11: ("hostNetwork", "bool0"),
        12: ("hostPID", "bool0"),
        13: ("hostIPC", "bool0"),
        14: ("securityContext", "msg:PodSecurityContext"),
        15: ("imagePullSecrets", "rep:msg:LocalObjectReference"),
        16: ("hostname", "str"),
        17: ("subdomain", "str"),
        19: ("schedulerName", "str"),
        20: ("initContainers", "rep:msg:Container"),
        21: ("automountServiceAccountToken", "bool"),
        22: ("tolerations", "rep:msg:Toleration"),
        24: ("priorityClassName", "str"),
        25: ("priority", "int"),
        27: ("shareProcessNamespace", "bool"),
        29: ("runtimeClassName", "str"),
        30: ("enableServiceLinks", "bool"),
        31: ("preemptionPolicy", "str"),
        35: ("setHostnameAsFQDN", "bool"),
        37: ("hostUsers", "bool"),
    },
    "Container": {
        1: ("name", "str"),
        2: ("image", "str"),
        3: ("command", "rep:str"),
        4: ("args", "rep:str"),
        5: ("workingDir", "str"),
        6: ("ports", "rep:msg:ContainerPort"),
        7: ("env", "rep:msg:EnvVar"),
        8: ("resources", "msg:ResourceRequirements"),
        9: ("volumeMounts", "rep:msg:VolumeMount"),
        13: ("terminationMessagePath", "str"),
        14: ("imagePullPolicy", "str"),
        15: ("securityContext", "msg:SecurityContext"),
        16: ("stdin", "bool0"),
        17: ("stdinOnce", "bool0"),
        18: ("tty", "bool0"),
        19: ("envFrom", "rep:msg:EnvFromSource"),
        20: ("terminationMessagePolicy", "str"),
        24: ("restartPolicy", "str"),
    },
    "ContainerPort": {
        1: ("name", "str"),
        2: ("hostPort", "int0"),
        3: ("containerPort", "int"),
        4: ("protocol", "str"),
        5: ("hostIP", "str"),
    },
    "EnvVar": {1: ("name", "str"), 2: ("value", "str"), 3: ("valueFrom", "msg:EnvVarSource")},
    "EnvVarSource": {
        1: ("fieldRef", "msg:ObjectFieldSelector"),
        2: ("resourceFieldRef", "msg:ResourceFieldSelector"),
        3: ("configMapKeyRef", "msg:KeySelector"),
        4: ("secretKeyRef", "msg:KeySelector"),
    },
    "ObjectFieldSelector": {1: ("apiVersion", "str"), 2: ("fieldPath", "str")},
    "ResourceFieldSelector": {1: ("containerName", "str"), 2: ("resource", "str"), 3: ("divisor", "quantity")},
    "KeySelector": {1: ("", "inline:LocalObjectReference"), 2: ("key", "str"), 3: ("optional", "bool")},
    "EnvFromSource": {1: ("prefix", "str"), 2: ("configMapRef", "msg:EnvSource"), 3: ("secretRef", "msg:EnvSource")},
    "EnvSource": {1: ("", "inline:LocalObjectReference"), 2: ("optional", "bool")},
    "LocalObjectReference": {1: ("name", "str")},
    "ResourceRequirements": {1: ("limits", "map:quantity"), 2: ("requests", "map:quantity")},
    "VolumeMount": {
        1: ("name", "str"),
        2: ("readOnly", "bool0"),
        3: ("mountPath", "str"),
        4: ("subPath", "str"),
        5: ("mountPropagation", "str"),
        6: ("subPathExpr", "str"),
        7: ("recursiveReadOnly", "str"),
    },
    "Volume": {1: ("name", "str"), 2: ("", "inline:VolumeSource")},
    "VolumeSource": {
        1: ("hostPath", "msg:HostPathVolumeSource"),
        2: ("emptyDir", "msg:EmptyDirVolumeSource"),
        6: ("secret", "msg:SecretVolumeSource"),
        10: ("persistentVolumeClaim", "msg:PersistentVolumeClaimVolumeSource"),
        19: ("configMap", "msg:ConfigMapVolumeSource"),
    },
    "HostPathVolumeSource": {1: ("path", "str"), 2: ("type", "str")},
    "EmptyDirVolumeSource": {1: ("medium", "str"), 2: ("sizeLimit", "quantity")},
    "SecretVolumeSource": {
        1: ("secretName", "str"),
        2: ("items", "rep:msg:KeyToPath"),
        3: ("defaultMode", "int"),
        4: ("optional", "bool"),
    },
    "ConfigMapVolumeSource": {
        1: ("", "inline:LocalObjectReference"),
        2: ("items", "rep:msg:KeyToPath"),
        3: ("defaultMode", "int"),
        4: ("optional", "bool"),
    },
    "KeyToPath": {1: ("key", "str"), 2: ("path", "str"), 3: ("mode", "int")},
    "PersistentVolumeClaimVolumeSource": {1: ("claimName", "str"), 2: ("readOnly", "bool0")},
    "Toleration": {
        1: ("key", "str"),
        2: ("operator", "str"),
        3: ("value", "str"),
        4: ("effect", "str"),
        5: ("tolerationSeconds", "int"),
    },
    "PodSecurityContext": {
        1: ("seLinuxOptions", "msg:SELinuxOptions"),
        2: ("runAsUser", "int"),
        3: ("runAsNonRoot", "bool"),
        4: ("supplementalGroups", "rep:int"),
        5: ("fsGroup", "int"),
        6: ("runAsGroup", "int"),
        7: ("sysctls", "rep:msg:Sysctl"),
        9: ("fsGroupChangePolicy", "str"),
        10: ("seccompProfile", "msg:SeccompProfile"),
        11: ("appArmorProfile", "msg:SeccompProfile"),
        12: ("supplementalGroupsPolicy", "str"),
    },
    "SecurityContext": {
        1: ("capabilities", "msg:Capabilities"),
        2: ("privileged", "bool"),
        3: ("seLinuxOptions", "msg:SELinuxOptions"),
        4: ("runAsUser", "int"),
        5: ("runAsNonRoot", "bool"),
        6: ("readOnlyRootFilesystem", "bool"),
        7: ("allowPrivilegeEscalation", "bool"),
        8: ("runAsGroup", "int"),
        9: ("procMount", "str"),
        11: ("seccompProfile", "msg:SeccompProfile"),
        12: ("appArmorProfile", "msg:SeccompProfile"),
    },
    "Capabilities": {1: ("add", "rep:str"), 2: ("drop", "rep:str")},
    "SELinuxOptions": {1: ("user", "str"), 2: ("role", "str"), 3: ("type", "str"), 4: ("level", "str")},
    # SeccompProfile and AppArmorProfile share their shape: {type, localhostProfile}.
    "SeccompProfile": {1: ("type", "str"), 2: ("localhostProfile", "str")},
    "Sysctl": {1: ("name", "str"), 2: ("value", "str")},
}
_TABLES.update(_STRICT_TABLES)
# The kinds a protobuf body may carry (the other tables are parts of them).
KINDS = frozenset(
    {
        "Secret",
        "ConfigMap",
        "Namespace",
        "ServiceAccount",
        "DeleteOptions",
        "SelfSubjectAccessReview",
        "SelfSubjectRulesReview",
        "Job",
        "CronJob",
        "Role",
        "ClusterRole",
        "RoleBinding",
        "ClusterRoleBinding",
    }
)


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
    length_delimited = kind in ("str", "bytes", "time", "quantity") or kind.startswith(("msg:", "inline:"))
    if length_delimited != isinstance(value, bytes):
        raise _fail(f"wrong wire type for a {kind} field")
    if kind == "str":
        return value.decode("utf-8")
    if kind == "bytes":
        return base64.b64encode(value).decode()
    if kind in ("int", "int0"):
        return value - (1 << 64) if value >= 1 << 63 else value
    if kind in ("bool", "bool0"):
        return bool(value)
    if kind == "time":
        seconds = decode_message("Time", value).get("seconds", 0)
        # Go writes a zero Time (a template's creationTimestamp) as an empty message: no timestamp.
        return rfc3339(float(seconds)) if seconds else None
    if kind == "quantity":
        return decode_message("Quantity", value).get("string", "0")
    if kind.startswith(("msg:", "inline:")):
        return decode_message(kind.split(":", 1)[1], value)
    raise _fail(f"unknown field kind {kind}")


def _omitted(kind: str, decoded: Any) -> bool:
    """Whether JSON would leave this value out (`omitempty` of a non-pointer field, or nothing sent)."""
    if decoded is None or decoded == "":  # proto2 writes empty strings; JSON omits them
        return True
    return kind in ("int0", "bool0") and not decoded


def _repeated(kind: str, wire: int, value: Any) -> list[Any]:
    """One occurrence of a repeated field; numbers may come packed into one length-delimited field."""
    if wire == _LEN and kind in ("int", "int0", "bool", "bool0"):
        numbers: list[Any] = []
        pos = 0
        while pos < len(value):
            number, pos = _varint(value, pos)
            numbers.append(_scalar(kind, number))
        return numbers
    return [_scalar(kind, value)]


def decode_message(name: str, data: bytes) -> JSON:
    """Decode one message by its field table (unknown fields are skipped, or refused by strict tables)."""
    table = _TABLES[name]
    out: JSON = {}
    for number, wire, value in _fields(data):
        spec = table.get(number)
        if spec is None:
            if name in _STRICT_TABLES:
                raise UnknownFieldError(name, number)
            continue
        key, kind = spec
        if kind == "skip":
            continue
        if kind.startswith("map:"):
            entry = {n: v for n, _w, v in _fields(bytes(value))}
            map_key = bytes(entry.get(1, b"")).decode()
            out.setdefault(key, {})[map_key] = _scalar(kind[4:], entry.get(2, b""))
        elif kind.startswith("rep:"):
            out.setdefault(key, []).extend(_repeated(kind[4:], wire, value))
        elif kind.startswith("inline:"):
            out.update(_scalar(kind, value))
        else:
            decoded = _scalar(kind, value)
            if not _omitted(kind, decoded):
                out[key] = decoded
    return out


class UnknownFieldError(Exception):
    """A field a strict table does not know (`decode` turns it into a 415 naming the kind)."""

    def __init__(self, message: str, number: int) -> None:
        super().__init__(f"field {number} of {message}")


def _unsupported(what: str) -> ApiError:
    return ApiError(
        415,
        Reason.UNSUPPORTED_MEDIA_TYPE,
        f"kubesim cannot decode protobuf {what}; send application/json",
        {},
    )


def decode(body: bytes) -> JSON:
    """Decode a protobuf request body into the equivalent JSON object."""
    if not body.startswith(MAGIC):
        raise _fail("missing the k8s protobuf prefix")
    unknown = decode_message("Unknown", body[len(MAGIC) :])
    type_meta = unknown.get("typeMeta", {})
    kind = str(type_meta.get("kind", ""))
    if kind not in KINDS:
        raise _unsupported(f"for kind {kind!r}")
    raw = base64.b64decode(unknown.get("raw", ""))
    try:
        obj = decode_message(kind, raw)
    except UnknownFieldError as error:
        raise _unsupported(f"{error} in a {kind}") from error
    if type_meta.get("apiVersion"):
        obj = {"apiVersion": type_meta["apiVersion"], "kind": kind, **obj}
    elif kind:
        obj = {"kind": kind, **obj}
    return obj
