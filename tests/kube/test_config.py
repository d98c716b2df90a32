"""Connection settings from kubeconfig (contexts, token files) and from the pod's service account."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from engine.kube.config import ConfigError, Credentials, KubeSettings, load_settings
from engine.kube.timing import ManualClock

KUBECONFIG = """
apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev
  cluster: {{server: "https://dev.example:6443", certificate-authority-data: "{ca}"}}
- name: lab
  cluster: {{server: "https://lab.example", insecure-skip-tls-verify: true}}
contexts:
- name: dev
  context: {{cluster: dev, user: alice, namespace: team}}
- name: lab
  context: {{cluster: lab, user: robot}}
users:
- name: alice
  user: {{token: "alice-token"}}
- name: robot
  user: {{tokenFile: "robot.token"}}
"""


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n").decode()
    path = tmp_path / "config"
    path.write_text(KUBECONFIG.format(ca=ca))
    (tmp_path / "robot.token").write_text("robot-token\n")
    return path


def test_kubeconfig_current_context(kubeconfig: Path) -> None:
    """The current context gives host, CA (written to a file), bearer token and namespace; repr hides the token."""
    settings = load_settings(str(kubeconfig), environ={})
    assert settings.host == "https://dev.example:6443"
    assert settings.ca_file is not None
    assert Path(settings.ca_file).read_bytes().startswith(b"-----BEGIN")
    assert settings.authorization == "Bearer alice-token"
    assert settings.namespace == "team"
    assert settings.verify is True
    assert settings.source == f"kubeconfig {kubeconfig} (context dev)"
    assert "alice-token" not in repr(settings)


def test_kubeconfig_named_context_with_token_file(kubeconfig: Path) -> None:
    """`--context lab` picks the other cluster; a tokenFile is resolved next to the kubeconfig, read without
    its newline, and kept for rotation."""
    settings = load_settings(str(kubeconfig), "lab", environ={})
    assert (settings.host, settings.verify, settings.namespace) == ("https://lab.example", False, "default")
    assert settings.token_file == str(kubeconfig.parent / "robot.token")
    assert settings.authorization == "Bearer robot-token"


def test_kubeconfig_env_wins_over_in_cluster(kubeconfig: Path, tmp_path: Path) -> None:
    """$KUBECONFIG is used even inside a pod; the global default Configuration is left alone."""
    from kubernetes.client import Configuration

    env = {"KUBECONFIG": str(kubeconfig), "KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    assert load_settings(environ=env).host == "https://dev.example:6443"
    assert Configuration._default is None


def test_in_cluster_service_account(tmp_path: Path) -> None:
    """In a pod: host from the service env vars, CA, token file (for rotation) and the pod's namespace."""
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "namespace").write_text("operators\n")
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    settings = load_settings(environ=env, service_account_dir=str(tmp_path))
    assert settings.host == "https://10.0.0.1:443"
    assert settings.ca_file == str(tmp_path / "ca.crt")
    assert settings.authorization == "Bearer sa-token"
    assert settings.token_file == str(tmp_path / "token")
    assert (settings.namespace, settings.source) == ("operators", "in-cluster")


def test_in_cluster_without_token_is_an_error(tmp_path: Path) -> None:
    """A pod without its token file cannot authenticate: say so."""
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    with pytest.raises(ConfigError, match=r"^in-cluster configuration: Service token file does not exist\.$"):
        load_settings(environ=env, service_account_dir=str(tmp_path))


def test_missing_kubeconfig_and_unknown_context(kubeconfig: Path, tmp_path: Path) -> None:
    """A missing file and a context that is not in the file are reported with the path."""
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match=f"^no kubeconfig found at {missing}$"):
        load_settings(str(missing), environ={})
    with pytest.raises(ConfigError, match=f"^kubeconfig {kubeconfig}: .*prod"):
        load_settings(str(kubeconfig), "prod", environ={})


async def test_credentials_keep_the_last_token_when_the_file_is_mid_rotation(tmp_path: Path) -> None:
    """An empty or missing token file (a rotation in progress) does not replace a good token."""
    token = tmp_path / "token"
    token.write_text("good")
    credentials = Credentials(
        KubeSettings(host="h", authorization="Bearer good", token_file=str(token)), clock=ManualClock()
    )
    token.write_text("")
    assert await credentials.refresh() is False
    token.unlink()
    assert await credentials.refresh() is False
    assert credentials.header() == "Bearer good"
    token.write_text("new")
    assert await credentials.refresh() is True
    assert credentials.header() == "Bearer new"


async def test_credentials_refresh_through_the_exec_hook() -> None:
    """Without a token file, a 401 asks the kubeconfig's refresher (exec plugin) in a thread."""
    calls: list[int] = []

    def refresh() -> str:
        calls.append(1)
        return "Bearer fresh"

    credentials = Credentials(KubeSettings(host="h", authorization="Bearer stale", refresh=refresh))
    assert await credentials.refresh() is True
    assert credentials.header() == "Bearer fresh"
    assert calls == [1]


@pytest.mark.parametrize("context", ["dev", "lab"])
def test_plain_kubeconfigs_read_as_the_official_loader_reads_them(kubeconfig: Path, context: str) -> None:
    """Our reader of plain kubeconfigs (engine.kube.kubeconfig) gives what the official package gives."""
    from engine.kube.config import _official

    ours, theirs = load_settings(str(kubeconfig), context, environ={}), _official(str(kubeconfig), context)
    fields = ("host", "verify", "cert_file", "key_file", "authorization", "token_file", "tls_server_name")
    assert [getattr(ours, f) for f in fields] == [getattr(theirs, f) for f in fields]
    assert (ours.namespace, ours.source) == (theirs.namespace, theirs.source)
    assert (ours.ca_file is None) == (theirs.ca_file is None)
    if ours.ca_file and theirs.ca_file:
        assert Path(ours.ca_file).read_bytes() == Path(theirs.ca_file).read_bytes()


def test_client_certificates_and_server_names_are_read(tmp_path: Path) -> None:
    """Client certificate and key data become private files; tls-server-name and files relative to the
    kubeconfig are kept."""
    cert = base64.b64encode(b"CERT").decode()
    config = tmp_path / "config"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://10.1.1.1:6443/', certificate-authority: ca.pem,"
        " tls-server-name: api.internal}}]\n"
        f"users: [{{name: u, user: {{client-certificate-data: {cert}, client-key: keys/u.key}}}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )
    settings = load_settings(str(config), environ={})
    assert (settings.host, settings.tls_server_name) == ("https://10.1.1.1:6443", "api.internal")
    assert (settings.ca_file, settings.key_file) == (str(tmp_path / "ca.pem"), str(tmp_path / "keys" / "u.key"))
    assert settings.cert_file is not None
    assert Path(settings.cert_file).read_bytes() == b"CERT"
    assert settings.authorization is None


def test_kubeconfigs_beyond_the_plain_ones_go_to_the_official_loader(tmp_path: Path) -> None:
    """An exec-plugin user is read by the official package: its token, and a refresh hook for later."""
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {"token": "exec-token"},
    }
    plugin = {"apiVersion": "client.authentication.k8s.io/v1", "command": "sh"}
    plugin["args"] = ["-c", f"echo '{json.dumps(credential)}'"]
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://k.example", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"exec": plugin}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
    }
    config = tmp_path / "config"
    config.write_text(yaml.safe_dump(document))
    settings = load_settings(str(config), environ={})
    assert settings.authorization == "Bearer exec-token"
    assert settings.refresh is not None


def test_in_cluster_host_in_ipv6_and_a_missing_ca_are_reported(tmp_path: Path) -> None:
    """An IPv6 service host is bracketed; a pod without its CA file is told so."""
    (tmp_path / "token").write_text("sa-token")
    env = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    with pytest.raises(ConfigError, match=r"^in-cluster configuration: Service certification file"):
        load_settings(environ=env, service_account_dir=str(tmp_path))
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    assert load_settings(environ=env, service_account_dir=str(tmp_path)).host == "https://[fd00::1]:443"


def test_in_cluster_with_an_empty_token_is_an_error(tmp_path: Path) -> None:
    """An empty token file is reported once, with the in-cluster prefix and the file."""
    (tmp_path / "token").write_text("\n")
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    with pytest.raises(ConfigError, match=r"^in-cluster configuration: token file .*token is empty$"):
        load_settings(environ=env, service_account_dir=str(tmp_path))
