"""Pseudonyms are keyed HMACs; PII never survives scrubbing."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from operators.pseudonymize import Pseudonymizer
from schemas.event import Event, EventType

KEY = b"k" * 32


def test_pseudonym_is_truncated_hmac_sha256() -> None:
    expected = hmac.new(KEY, b"user:alice@example.com", hashlib.sha256).hexdigest()[:32]
    assert Pseudonymizer(KEY).user("alice@example.com") == expected


def test_pseudonym_depends_on_key() -> None:
    assert Pseudonymizer(KEY).user("u1") != Pseudonymizer(b"j" * 32).user("u1")


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        Pseudonymizer(b"short")


def test_scrub_hashes_contacts_drops_identifiers_and_pseudonymizes_ids() -> None:
    p = Pseudonymizer(KEY)
    event = Event(
        "e1",
        EventType.IDENTIFY,
        "known-42",
        0,
        traits={
            "Email": "Bob@Example.COM ",
            "phone": "+1 (555) 010-9999",
            "first_name": "Bob",
            "address": "1 Main St",
            "anonymous_id": "anon-7",
            "plan": "gold",
            "age": 40,
        },
        context={"ip": "203.0.113.9", "device": "ios"},
        properties={"note": "write to bob@example.com", "mobile": 5550109999},
    )
    clean = p.scrub(event)
    assert clean.user_id == p.user("known-42")
    assert clean.traits == {
        "email_hash": p.contact("email", "bob@example.com"),
        "phone_hash": p.contact("phone", "+15550109999"),
        "anonymous_id": p.user("anon-7"),
        "plan": "gold",
        "age": 40,
    }
    assert clean.context == {"device": "ios"}
    assert clean.properties == {
        "note": "write to [email]",
        "phone_hash": p.contact("phone", "5550109999"),
    }
    text = repr(clean)
    for secret in ("known-42", "Bob", "bob@", "555", "Main", "203.0.113", "anon-7"):
        assert secret not in text


def test_contact_normalization_matches_equivalent_spellings() -> None:
    p = Pseudonymizer(KEY)
    assert p.contact("email", " A@B.co ") == p.contact("email", "a@b.co")
    assert p.contact("phone", "+1 555-0100") == p.contact("phone", "+15550100")


RAW = "cust-8812"


def scrubbed(**maps: dict) -> Event:
    return Pseudonymizer(KEY).scrub(Event(f"{RAW}-0001", EventType.IDENTIFY, RAW, 0, **maps))


def test_pii_keys_are_recognized_in_any_spelling() -> None:
    p = Pseudonymizer(KEY)
    clean = scrubbed(
        traits={
            "phoneNumber": "+33 6 12 34 56 78",
            "tel": "0612345678",
            "cell": "06-12-34-56-78",
            "userId": RAW,
            "customer_id": "C-778812",
            "surname": "Durand",
            "given_name": "Zoé",
            "display_name": "Zoé D.",
            "ssn": "078-05-1120",
            "credit_card": "4111 1111 1111 1111",
            "client_ip": "198.51.100.23",
            "address_line_1": "12 rue de la Paix",
            "EMAIL_ADDRESS": "zoe@example.org",
            "plan": "gold",
        }
    )
    assert clean.traits == {
        "phone_hash": p.contact("phone", "06-12-34-56-78"),  # the last phone-like key wins
        "userId": p.user(RAW),
        "customer_id": p.user("C-778812"),
        "email_hash": p.contact("email", "zoe@example.org"),
        "plan": "gold",
    }
    assert p.contact("phone", "+33 6 12 34 56 78") == p.contact("phone", "+33612345678")


def test_pii_inside_free_text_urls_and_the_raw_id_is_replaced() -> None:
    clean = scrubbed(
        properties={
            "notes": "zoe\uff20example.org asked to be called on +44 20 7946 0958",
            "referrer": "https://shop.example/r?u=zoe%40example.org&from=10.0.0.7",
            "comment": f"order for {RAW}, card 5500-0000-0000-0004",
            "page": "/products/42",
            "ts_text": "2026-12-02 06:05:52",
        },
        context={"user_agent": "Mozilla/5.0", "ip6": "2001:db8::1"},
    )
    assert clean.properties == {
        "notes": "[email] asked to be called on [phone]",
        "referrer": "https://shop.example/r?u=[email]&from=[ip]",
        "comment": "order for [user], card [card]",
        "page": "/products/42",
        "ts_text": "2026-12-02 06:05:52",
    }
    assert clean.context == {"user_agent": "Mozilla/5.0", "ip6": "[ip]"}


def test_event_ids_campaign_ids_and_pii_keys_are_not_kept_raw() -> None:
    p = Pseudonymizer(KEY)
    event = Event(
        f"{RAW}-0001",
        EventType.PAGE_VIEW,
        RAW,
        0,
        campaign_id=f"winback-{RAW}",
        properties={"zoe@example.org": True, f"seen_by_{RAW}": 1, "category": "shoes"},
    )
    clean = p.scrub(event)
    assert clean.event_id == p.event(f"{RAW}-0001") != p.user(f"{RAW}-0001")
    assert clean.campaign_id == "winback-[user]"
    assert clean.properties == {"category": "shoes"}
    assert RAW not in repr(clean) and "zoe" not in repr(clean)


def test_pseudonymous_events_keep_their_id_and_unknown_fields_go() -> None:
    p = Pseudonymizer(KEY)
    pid = p.user(RAW)
    event = Event("e1", EventType.OFFER_CLICK, pid, 0, extra={"email": "zoe@example.org"})
    clean = p.scrub(event, pseudonymous=True)
    assert clean.user_id == pid and clean.extra == {}
