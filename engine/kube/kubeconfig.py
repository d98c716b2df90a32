"""Plain kubeconfigs and the in-cluster service account, read without the `kubernetes` package.

Where this sits: under engine.kube.config, which asks here first. Importing the official package costs an
operator about 26 MiB of memory (its client models come with it), which is a fifth of what the operator
needs for 10,000 streams. Most kubeconfigs need none of it: a server, a CA, a token, a token file or a client
certificate. Those are read here; anything else (exec plugins, auth providers, basic auth, impersonation,
proxies, several files in $KUBECONFIG) makes `plain_kubeconfig` answer None and the official loader runs.

The results are the official loader's for the same file (tests/kube/test_config.py compares them): data
fields are written to private temporary files, removed at exit, as the official loader does.
"""

from __future__ import annotations

import atexit
import base64
import os
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any

import yaml

CLUSTER_FIELDS = frozenset(
    {
        "server",
        "certificate-authority",
        "certificate-authority-data",
        "insecure-skip-tls-verify",
        "tls-server-name",
        "extensions",
    }
)
USER_FIELDS = frozenset(
    {"token", "tokenFile", "client-certificate", "client-certificate-data", "client-key", "client-key-data"}
)
_TEMP: list[str] = []


class PlainError(Exception):
    """A plain kubeconfig that cannot be used (the message says why)."""


def plain_kubeconfig(path: str, context: str | None) -> dict[str, Any] | None:
    """The settings of a kubeconfig that uses only plain fields, as keyword arguments of `KubeSettings`
    (without `source` and `authorization`, plus `token` and `context`), or None when the official loader
    must read it. Raises `PlainError` for a file that is plain but wrong (unknown context, no server)."""
    if os.pathsep in path:
        return None
    with open(path, encoding="utf-8") as f:
        document = yaml.safe_load(f)
    if not isinstance(document, dict):
        return None
    name = context or document.get("current-context")
    if not name:
        raise PlainError("no current-context is set and none was given")
    ctx = _named(document, "contexts", "context", str(name))
    cluster = _named(document, "clusters", "cluster", str(ctx.get("cluster") or ""))
    user = _named(document, "users", "user", str(ctx.get("user") or "")) if ctx.get("user") else {}
    if set(cluster) - CLUSTER_FIELDS or set(user) - USER_FIELDS:
        return None
    server = str(cluster.get("server") or "")
    if not server:
        raise PlainError(f"cluster {ctx.get('cluster')!r} has no server")
    base = os.path.dirname(os.path.abspath(path))
    token_file = _resolve(base, user.get("tokenFile")) if "token" not in user else None
    return {
        "host": server.rstrip("/"),
        "ca_file": _file(base, cluster, "certificate-authority"),
        "verify": not bool(cluster.get("insecure-skip-tls-verify")),
        "cert_file": _file(base, user, "client-certificate"),
        "key_file": _file(base, user, "client-key"),
        "token": str(user["token"]) if user.get("token") else None,
        "token_file": token_file,
        "tls_server_name": cluster.get("tls-server-name") or None,
        "namespace": str(ctx.get("namespace") or "default"),
        "context": str(name),
    }


def in_cluster_host(env: Mapping[str, str]) -> str:
    """https://host:port of the API server from the pod's service environment (IPv6 in brackets)."""
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise PlainError("Service host/port is not set.")
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def _named(document: dict[str, Any], section: str, field: str, name: str) -> dict[str, Any]:
    for entry in document.get(section) or ():
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(field)
            if not isinstance(value, dict):
                raise PlainError(f"{field} {name!r} has no {field} settings")
            return value
    raise PlainError(f"{field} {name!r} not found in {section}")


def _resolve(base: str, value: object) -> str | None:
    return os.path.normpath(os.path.join(base, str(value))) if value else None


def _file(base: str, node: dict[str, Any], field: str) -> str | None:
    """The path of `field`, or of `field-data` written to a private temporary file."""
    data = node.get(f"{field}-data")
    if data:
        return _temporary(base64.standard_b64decode(str(data)))
    return _resolve(base, node.get(field))


def _temporary(content: bytes) -> str:
    if not _TEMP:
        _TEMP.append(tempfile.mkdtemp(prefix="engine-kubeconfig-"))
        atexit.register(shutil.rmtree, _TEMP[0], True)
    descriptor, path = tempfile.mkstemp(dir=_TEMP[0])
    with os.fdopen(descriptor, "wb") as f:
        f.write(content)
    return path
