"""Tests of the Helm chart, the container image and the install guide (no cluster: Helm runs in-process)."""
