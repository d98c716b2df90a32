"""Label selectors in their text form: the API server's grammar, and what each requirement matches."""

from __future__ import annotations

import pytest

from engine.spec.selectors import SelectorError, parse_selector


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("tier=gold", {"tier": "gold"}, True),
        ("tier==gold", {"tier": "silver"}, False),
        ("tier=gold", {}, False),
        ("tier!=gold", {}, True),
        ("tier!=gold", {"tier": "gold"}, False),
        ("env in (prod, staging)", {"env": "staging"}, True),
        ("env in (prod,staging)", {"env": "dev"}, False),
        ("env notin (dev)", {}, True),
        ("env notin (dev)", {"env": "dev"}, False),
        ("legacy", {"legacy": ""}, True),
        ("legacy", {}, False),
        ("!legacy", {}, True),
        ("!legacy", {"legacy": "yes"}, False),
        ("app.kubernetes.io/name=orders, tier = gold", {"app.kubernetes.io/name": "orders", "tier": "gold"}, True),
        ("app.kubernetes.io/name=orders,tier=gold", {"app.kubernetes.io/name": "orders"}, False),
        ("", {}, True),
        ("empty=", {"empty": ""}, True),
    ],
)
def test_a_selector_matches_as_the_api_server_does(text: str, labels: dict[str, str], expected: bool) -> None:
    """Every requirement must hold; `!=` and `notin` also match objects without the key; an empty selector matches all."""
    assert parse_selector(text).matches(labels) is expected


def test_objects_without_labels_match_only_what_absent_labels_satisfy() -> None:
    """An object whose metadata has no labels (None) is an object without any label."""
    assert parse_selector("!legacy,tier!=gold").matches(None)
    assert not parse_selector("tier").matches(None)


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("tier in (gold", "label selector 'tier in (gold': expected `,` between requirements, found 'in (gold'", 6),
        ("a=b c", "label selector 'a=b c': expected `,` between requirements, found 'c'", 5),
        ("=x", "label selector '=x': cannot read '=x'", 1),
        ("a=b,", "label selector 'a=b,': a requirement is missing after the last `,`", 5),
        ("tier=gold!", "label selector 'tier=gold!': expected `,` between requirements, found '!'", 10),
    ],
)
def test_a_selector_that_does_not_parse_says_where(text: str, message: str, column: int) -> None:
    """The error names the selector and what could not be read, and its column is that of the first character not read."""
    with pytest.raises(SelectorError) as raised:
        parse_selector(text)
    assert str(raised.value) == message
    assert raised.value.column == column
