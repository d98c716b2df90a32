"""Connection settings: which API server, how to trust it, and how to authenticate, from kubeconfig or the pod.

Where this sits: the first thing the operator does. `load_settings()` turns `--kubeconfig/--context` (or the
in-cluster service account) into a frozen `KubeSettings`; `KubeClient` (engine.kube.client) builds its TLS
context and its `Credentials` from it. Plain kubeconfigs and the service account are read by
engine.kube.kubeconfig (importing the official package costs ~26 MiB); anything more (exec plugins, auth
providers, merged files) by the official `kubernetes` package (pinned), loaded into a private `Configuration`
object, never the package's global default.

Order, as controller-runtime does it: an explicit kubeconfig path, then `$KUBECONFIG`, then the in-cluster
service account (when `KUBERNETES_SERVICE_HOST` is set and no context was asked for), then `~/.kube/config`.

What it does not do: no HTTP. Tokens are re-read by `Credentials` (from their file, on 401 and every
`refresh_interval` seconds; projected service-account tokens rotate hourly), not cached here for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from engine.errors import EngineError
from engine.kube.kubeconfig import PlainError, in_cluster_host, plain_kubeconfig
from engine.kube.timing import SYSTEM_CLOCK, Clock

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
IN_CLUSTER = "in-cluster"


class ConfigError(EngineError):
    """Connection settings could not be loaded (no kubeconfig, unknown context, unreadable token...)."""


@dataclass(frozen=True, slots=True)
class KubeSettings:
    """Everything needed to open a connection to one API server. Secrets are kept out of `repr`."""

    host: str
    ca_file: str | None = None
    verify: bool = True
    cert_file: str | None = None
    key_file: str | None = None
    authorization: str | None = field(default=None, repr=False)
    """The Authorization header value as loaded ("Bearer ..." or "Basic ...")."""
    token_file: str | None = None
    """When set, the bearer token is re-read from this file (rotation)."""
    tls_server_name: str | None = None
    namespace: str = "default"
    """The context's namespace, or the pod's own namespace in-cluster."""
    source: str = ""
    """Where the settings came from, for logs: `in-cluster` or `kubeconfig PATH (context NAME)`."""
    refresh: Callable[[], str | None] | None = field(default=None, repr=False, compare=False)
    """Blocking re-authentication (kubeconfig exec plugins, auth providers); returns the new header value."""


def load_settings(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    service_account_dir: str = SERVICE_ACCOUNT_DIR,
) -> KubeSettings:
    """Load settings as described in the module docstring. Raises `ConfigError` with the reason."""
    env = os.environ if environ is None else environ
    path = kubeconfig or env.get("KUBECONFIG") or ""
    if not path and not context and env.get("KUBERNETES_SERVICE_HOST"):
        return _in_cluster(env, service_account_dir)
    return _from_kubeconfig(path or os.path.expanduser("~/.kube/config"), context)


def _in_cluster(env: Mapping[str, str], directory: str) -> KubeSettings:
    """The pod's service account, read directly (the official loader's checks and messages)."""
    token_file = os.path.join(directory, "token")
    ca_file = os.path.join(directory, "ca.crt")
    try:
        host = in_cluster_host(env)
        if not os.path.isfile(token_file):
            raise PlainError("Service token file does not exist.")
        if not os.path.isfile(ca_file):
            raise PlainError("Service certification file does not exists.")
        authorization = _bearer(_read_token(token_file))
    except (PlainError, ConfigError, OSError) as exc:
        raise ConfigError(f"in-cluster configuration: {exc}") from exc
    namespace = "default"
    try:
        with open(os.path.join(directory, "namespace"), encoding="utf-8") as f:
            namespace = f.read().strip() or namespace
    except OSError:
        pass
    return KubeSettings(
        host=host,
        ca_file=ca_file,
        authorization=authorization,
        token_file=token_file,
        namespace=namespace,
        source=IN_CLUSTER,
    )


def _from_kubeconfig(path: str, context: str | None) -> KubeSettings:
    if not os.path.isfile(path) and os.pathsep not in path:
        raise ConfigError(f"no kubeconfig found at {path}")
    try:
        plain = plain_kubeconfig(path, context)
    except PlainError as exc:
        raise ConfigError(f"kubeconfig {path}: {exc}") from exc
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"kubeconfig {path}: {type(exc).__name__}: {exc}") from exc
    if plain is None:
        return _official(path, context)
    token, token_file, name = plain.pop("token"), plain["token_file"], plain.pop("context")
    try:
        authorization = _bearer(_read_token(token_file)) if token_file else (_bearer(token) if token else None)
    except OSError as exc:
        raise ConfigError(f"kubeconfig {path}: token file: {exc}") from exc
    return KubeSettings(**plain, authorization=authorization, source=f"kubeconfig {path} (context {name})")


def _official(path: str, context: str | None) -> KubeSettings:
    """What only the official loader reads (exec plugins, auth providers, merged files...)."""
    from kubernetes.config import kube_config
    from kubernetes.config.config_exception import ConfigException

    package: Any = kube_config  # untyped in the package
    try:
        merger = package.KubeConfigMerger(path)
        if merger.config is None:
            raise ConfigError(f"no kubeconfig found at {path}")
        loader = package.KubeConfigLoader(config_dict=merger.config, active_context=context, config_base_path=None)
        config = _configuration()
        loader.load_and_set(config)
        current = loader.current_context
    except ConfigException as exc:
        raise ConfigError(f"kubeconfig {path}: {exc}") from exc
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"kubeconfig {path}: {type(exc).__name__}: {exc}") from exc
    ctx = current.get("context") or {}
    token_file = _token_file(merger.config, ctx.get("user"))
    try:
        authorization = _bearer(_read_token(token_file)) if token_file else config.api_key.get("BearerToken")
    except OSError as exc:
        raise ConfigError(f"kubeconfig {path}: token file: {exc}") from exc
    refresh = None
    if authorization and not token_file and config.refresh_api_key_hook is not None:

        def refresh() -> str | None:
            config.refresh_api_key_hook(config)
            value = config.api_key.get("BearerToken")
            return str(value) if value else None

    return KubeSettings(
        host=str(config.host),
        ca_file=config.ssl_ca_cert,
        verify=bool(config.verify_ssl),
        cert_file=config.cert_file,
        key_file=config.key_file,
        authorization=str(authorization) if authorization else None,
        token_file=token_file,
        tls_server_name=config.tls_server_name,
        namespace=str(ctx.get("namespace") or "default"),
        source=f"kubeconfig {path} (context {current.get('name')})",
        refresh=refresh,
    )


def _configuration() -> Any:
    """A fresh Configuration that is not (and does not become) the package's global default."""
    from kubernetes.client import Configuration

    return Configuration()


def _token_file(merged: Any, user_name: object) -> str | None:
    """The `tokenFile` of the context's user, resolved against its kubeconfig's directory."""
    users = merged["users"]
    node = users.get_with_name(user_name, safe=True) if user_name else None
    if not node or "user" not in node:
        return None
    user = node["user"]
    if "token" in user or "tokenFile" not in user:
        return None
    base = os.path.dirname(os.path.abspath(node.path)) if getattr(node, "path", None) else ""
    return os.path.normpath(os.path.join(base, str(user["tokenFile"])))


def _read_token(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        token = f.read().strip()
    if not token:
        raise ConfigError(f"token file {path} is empty")
    return token


def _bearer(token: str) -> str:
    return f"Bearer {token}"


class Credentials:
    """The current Authorization header. Re-reads the token file every `refresh_interval` seconds (cheap: a
    small file) and on demand after a 401; runs exec-plugin refreshes in a thread (they spawn a process)."""

    def __init__(self, settings: KubeSettings, *, refresh_interval: float = 60.0, clock: Clock = SYSTEM_CLOCK) -> None:
        self._settings = settings
        self._interval = refresh_interval
        self._clock = clock
        self._header = settings.authorization
        self._read_at = clock.monotonic()

    def header(self) -> str | None:
        """The value to send now, re-read from the token file when the refresh interval has passed."""
        if self._settings.token_file and self._clock.monotonic() - self._read_at >= self._interval:
            self._reload_file()
        return self._header

    async def refresh(self) -> bool:
        """Re-read the credentials now (after a 401). True when the header changed."""
        before = self._header
        if self._settings.token_file:
            self._reload_file()
        elif self._settings.refresh is not None:
            self._header = await asyncio.to_thread(self._settings.refresh) or self._header
        return self._header != before

    def _reload_file(self) -> None:
        assert self._settings.token_file is not None
        self._read_at = self._clock.monotonic()
        # On failure keep the last good token: a rotation in progress (the kubelet swaps a symlink) must
        # not turn into unauthenticated requests.
        with contextlib.suppress(OSError, ConfigError):
            self._header = _bearer(_read_token(self._settings.token_file))
