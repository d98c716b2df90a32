"""Benchmarks: the operator measured end to end against kubesim, beside a kopf peer (`python -m bench`).

Where this sits: outside the product. Each scenario starts kubesim in its own process (bench.simserver),
the operator under test in another (ours, `python -m arcane.cli run`, or the kopf peer in bench/peers/),
and drives them over HTTP from this process, as a user and a cluster would. Figures come from kubesim's
request log, the operators' /readyz and /metrics, and /proc. Results go to bench/results/*.json and a
Markdown table appended to docs/benchmark-runs.md. Nothing here is imported by the product.
"""
