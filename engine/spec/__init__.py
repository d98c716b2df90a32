"""Rule files: loading (YAML with positions), the schema, and the compiler to a frozen `RuleSet`."""

from __future__ import annotations

from engine.spec.compiler import compile_ruleset, compile_texts, lint
from engine.spec.ruleset import RuleSet

__all__ = ["RuleSet", "compile_ruleset", "compile_texts", "lint"]
