"""Screening: consent, unsubscribe, quiet hours, caps (per campaign and across campaigns),
targeting, priority, and the reasons of a "no offer"."""

from __future__ import annotations

from operators.eligibility import screen
from state.campaign_file import parse_campaigns
from state.contacts import Contact, ContactLedger
from state.tables import parse_time

CATALOG = parse_campaigns(
    """
caps = [{ channel = "*", max = 3, window = "1d" }]

[[campaign]]
id = "vip"
priority = 5
segments = ["high_value"]
channels = ["email"]
[[campaign.offer]]
id = "vip_offer"

[[campaign]]
id = "promo"
channels = ["email", "sms", "push"]
rule = ["purchases >= 1"]
timezone = "UTC"
quiet_hours = { sms = ["21:00", "08:00"] }
caps = [{ channel = "email", max = 1, window = "1h" }]
[[campaign.offer]]
id = "a"
[[campaign.offer]]
id = "push_only"
channels = ["push"]
"""
)
NOON = parse_time("2026-03-02T12:00:00Z")
CONSENT = {"marketing": [True, 0, "c"]}
BUYER = {"purchases": 2}


def contact(did: str, campaign: str, channel: str, ts: int) -> Contact:
    return Contact(did, campaign, (channel,), ts, "s", "click", "first", 100.0, 60_000)


def test_priority_and_targeting() -> None:
    assert (
        screen(CATALOG, BUYER, ("high_value",), CONSENT, ContactLedger(), "email", NOON).campaign
        == "vip"
    )
    got = screen(CATALOG, BUYER, ("new",), CONSENT, ContactLedger(), "email", NOON)
    assert (got.campaign, got.offers) == ("promo", ("a",))
    got = screen(CATALOG, {}, ("new",), CONSENT, ContactLedger(), "email", NOON)
    assert got.campaign == "" and got.reason == "vip:not_targeted,promo:rule"


def test_best_channel_lists_open_channels_and_their_offers() -> None:
    got = screen(CATALOG, BUYER, (), CONSENT, ContactLedger(), None, NOON)
    assert got.channels == ("email", "sms", "push") and got.offers == ("a", "push_only")


def test_consent_and_unsubscribe() -> None:
    none = screen(CATALOG, BUYER, (), {}, ContactLedger(), "email", NOON)
    assert none.reason == "vip:not_targeted,promo:no_consent:marketing"
    withdrawn = {"marketing": [False, 5, "c2"]}
    assert (
        "no_consent" in screen(CATALOG, BUYER, (), withdrawn, ContactLedger(), "sms", NOON).reason
    )
    unsubscribed = {**CONSENT, "email": [False, 9, "unsubscribe:e"]}
    got = screen(CATALOG, BUYER, (), unsubscribed, ContactLedger(), "email", NOON)
    assert got.reason.endswith("promo:unsubscribed")
    assert screen(CATALOG, BUYER, (), unsubscribed, ContactLedger(), None, NOON).channels == (
        "sms",
        "push",
    )


def test_quiet_hours() -> None:
    night = parse_time("2026-03-02T22:30:00Z")
    assert screen(CATALOG, BUYER, (), CONSENT, ContactLedger(), "sms", night).reason.endswith(
        "quiet_hours"
    )
    assert screen(CATALOG, BUYER, (), CONSENT, ContactLedger(), "push", night).campaign == "promo"


def test_campaign_cap_counts_pending_and_sent_and_expires_with_its_window() -> None:
    ledger = ContactLedger()
    ledger.reserve(contact("d1", "promo", "email", NOON - 1000))  # pending still counts
    got = screen(CATALOG, BUYER, (), CONSENT, ledger, "email", NOON)
    assert got.reason.endswith("promo:frequency_cap")
    assert screen(CATALOG, BUYER, (), CONSENT, ledger, "sms", NOON).campaign == "promo"
    later = NOON + 3_600_000
    assert screen(CATALOG, BUYER, (), CONSENT, ledger, "email", later).campaign == "promo"
    ledger.release("d1")  # no offer after all: the slot is free again
    assert screen(CATALOG, BUYER, (), CONSENT, ledger, "email", NOON).campaign == "promo"


def test_cross_campaign_cap() -> None:
    ledger = ContactLedger()
    for i, (campaign, channel) in enumerate((("vip", "email"), ("other", "sms"), ("x", "push"))):
        ledger.reserve(contact(f"d{i}", campaign, channel, NOON - 10))
        ledger.confirm(f"d{i}", "o", channel)
    got = screen(CATALOG, BUYER, (), CONSENT, ledger, "push", NOON)
    assert got.reason.endswith("promo:frequency_cap")
