"""The generic watch-and-evaluate engine: rules in YAML, compiled once, evaluated purely, executed at the edge.

Nothing in this package knows what the rules are about. See docs/architecture.md for the flow.
"""
