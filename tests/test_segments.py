"""Every shipped segment rule, on both sides of its thresholds, and the rule grammar."""

from __future__ import annotations

import pytest

from state.segments import RuleFile, SegmentRules

RULES = RuleFile().rules


@pytest.mark.parametrize(
    ("features", "segment", "member"),
    [
        ({"revenue": 500.0, "purchases": 3}, "high_value", True),
        ({"revenue": 499.99, "purchases": 3}, "high_value", False),
        ({"revenue": 900.0, "purchases": 2}, "high_value", False),
        ({"act:add_to_cart.1d": 1.0}, "cart_abandoner", True),
        ({"act:add_to_cart.1d": 1.0, "act:purchase.1d": 0.9}, "cart_abandoner", False),
        ({"act:add_to_cart.1d": 0.4}, "cart_abandoner", False),
        ({"purchases": 1, "days_since_last_purchase": 61.0}, "lapsed", True),
        ({"purchases": 1, "days_since_last_purchase": 59.0}, "lapsed", False),
        ({"purchases": 0, "days_since_last_purchase": None}, "lapsed", False),
        ({"act:offer_click.7d": 2.0}, "engaged", True),
        ({"act:message_open.7d": 3.0}, "engaged", True),
        ({"act:offer_click.7d": 1.9, "act:message_open.7d": 2.9}, "engaged", False),
        ({"days_since_first_seen": 6.9}, "new", True),
        ({"days_since_first_seen": 6.9, "purchases": 1}, "new", False),
        ({"days_since_first_seen": 7.0}, "new", False),
        ({"days_since_first_seen": None}, "new", False),
    ],
)
def test_shipped_rule(features: dict, segment: str, member: bool) -> None:
    assert (segment in RULES.evaluate(features)) is member


def test_priority_is_file_order() -> None:
    both = {"revenue": 600.0, "purchases": 4, "act:add_to_cart.1d": 2.0}
    assert RULES.evaluate(both)[:2] == ("high_value", "cart_abandoner")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[segment]]\nall = ["a > 1"]', "no name"),
        ('[[segment]]\nname = "x"', "no conditions"),
        (
            '[[segment]]\nname = "x"\nall = ["a > 1"]\n[[segment]]\nname = "x"\nall = ["a > 1"]',
            "twice",
        ),
        ('[[segment]]\nname = "x"\nwhen = ["a > 1"]', "unknown keys"),
        ('[[segment]]\nname = "x"\nall = ["a > one"]', "not a number"),
        ("[[segment]\n", "not valid TOML"),
    ],
)
def test_bad_rule_files_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SegmentRules.parse(text)


def test_strings_and_booleans() -> None:
    rules = SegmentRules.parse(
        '[[segment]]\nname = "gold"\nall = ["trait.plan == \'gold\'", "consent.email == true"]'
    )
    assert rules.evaluate({"trait.plan": "gold", "consent.email": True}) == ("gold",)
    assert rules.evaluate({"trait.plan": "gold"}) == ()
    assert rules.evaluate({"trait.plan": 3, "consent.email": True}) == ()
