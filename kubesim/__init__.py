"""kubesim: an in-process Kubernetes API server faithful enough for kubectl and the official Python client.

Start one with `KubeSim(SimOptions(...)).start()` (or as a context manager); point clients at
`sim.kubeconfig_path`. See docs/kubesim.md for what it serves, its fault injection and its gaps.
kubesim knows Kubernetes API conventions and nothing about Arcane; the engine never imports it.
"""

from kubesim.errors import ApiError
from kubesim.faults import Faults
from kubesim.reqlog import RequestLog, RequestRecord
from kubesim.server import Controller, KubeSim, SimOptions

__all__ = ["ApiError", "Controller", "Faults", "KubeSim", "RequestLog", "RequestRecord", "SimOptions"]
