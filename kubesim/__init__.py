"""kubesim: an in-process Kubernetes API server faithful enough for kubectl and the official Python client."""
