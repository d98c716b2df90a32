"""The Pod Security Standards' `restricted` profile, as a checker for pod specs rendered by the chart.

Where it sits: the Deployment tests run every rendered pod spec through `restricted_violations`, which lists each
control of the restricted profile (Kubernetes 1.32, which includes the baseline controls) the pod breaks, worded
like the admission controller's messages. An empty list means a namespace labelled
`pod-security.kubernetes.io/enforce=restricted` admits the pod.

What it does not do: AppArmor and SELinux options (the chart sets none) or Windows pods. The read-only root
filesystem is not part of the profile; the chart's own tests check it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Obj = dict[str, Any]

# Volume types the restricted profile allows.
ALLOWED_VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
SECCOMP_ALLOWED = frozenset({"RuntimeDefault", "Localhost"})
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)


def _containers(pod: Obj) -> Iterator[Obj]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from pod.get(key) or []


def restricted_violations(pod: Obj) -> list[str]:
    """Every control of the restricted profile that the pod spec `pod` violates."""
    return list(_baseline(pod)) + list(_restricted(pod))


def _baseline(pod: Obj) -> Iterator[str]:
    pod_sc = pod.get("securityContext") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            yield f"host namespaces ({key}=true)"
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl["name"] not in SAFE_SYSCTLS:
            yield f"forbidden sysctls ({sysctl['name']})"
    if (pod_sc.get("seccompProfile") or {}).get("type") == "Unconfined":
        yield "seccompProfile (pod must not set securityContext.seccompProfile.type to Unconfined)"
    if (pod_sc.get("windowsOptions") or {}).get("hostProcess"):
        yield "hostProcess (pod must not set securityContext.windowsOptions.hostProcess=true)"
    for volume in pod.get("volumes") or []:
        if "hostPath" in volume:
            yield f"hostPath volumes ({volume['name']})"
    for container in _containers(pod):
        sc = container.get("securityContext") or {}
        name = container["name"]
        if sc.get("privileged"):
            yield f'privileged (container "{name}" must not set securityContext.privileged=true)'
        if any(port.get("hostPort") for port in container.get("ports") or []):
            yield f'hostPort (container "{name}" uses hostPort)'
        if sc.get("procMount", "Default") != "Default":
            yield f'procMount (container "{name}" must not set securityContext.procMount)'
        if (sc.get("seccompProfile") or {}).get("type") == "Unconfined":
            yield f'seccompProfile (container "{name}" must not set seccompProfile.type to Unconfined)'


def _restricted(pod: Obj) -> Iterator[str]:
    pod_sc = pod.get("securityContext") or {}
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUME_TYPES:
            yield f"restricted volume types ({volume['name']} uses {', '.join(sorted(kinds))})"
    if pod_sc.get("runAsUser") == 0:
        yield "runAsUser=0 (pod must not set runAsUser=0)"
    pod_non_root = pod_sc.get("runAsNonRoot")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    for container in _containers(pod):
        sc = container.get("securityContext") or {}
        name = container["name"]
        if sc.get("allowPrivilegeEscalation") is not False:
            yield f'allowPrivilegeEscalation != false (container "{name}" must set allowPrivilegeEscalation=false)'
        non_root = sc.get("runAsNonRoot", pod_non_root)
        if non_root is not True:
            yield f'runAsNonRoot != true (container "{name}" must set runAsNonRoot=true, or the pod)'
        if sc.get("runAsUser") == 0:
            yield f'runAsUser=0 (container "{name}" must not set runAsUser=0)'
        seccomp = (sc.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in SECCOMP_ALLOWED:
            yield f'seccompProfile (container "{name}" must set seccompProfile.type to RuntimeDefault or Localhost)'
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            yield f'unrestricted capabilities (container "{name}" must set capabilities.drop=["ALL"])'
        added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            yield f'unrestricted capabilities (container "{name}" must not add {", ".join(sorted(added))})'
