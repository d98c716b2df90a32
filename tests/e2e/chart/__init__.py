"""The Helm chart end to end: rendered, applied to kubesim with kubectl, the operator run as its Deployment would."""
