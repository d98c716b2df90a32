"""Every rule fixture under tests/fixtures/ (Arcane's behaviour, as RuleTest documents) is its own test case.

Fixtures name their rules (`spec.rules`); those that do not are tested against rules/. The format and the
command line equivalent (`arcane rules test tests/fixtures --rules rules`) are in docs/testing-rules.md.
While the folder is absent or empty, the case is reported as skipped, never as passed.
"""

from __future__ import annotations

from pathlib import Path

from engine.testing.pytest_plugin import rule_fixture_test

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"

test_rule_fixtures = rule_fixture_test(*([FIXTURES] if FIXTURES.is_dir() else []), rules=ROOT / "rules")
