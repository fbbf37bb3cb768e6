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
        "note": p.contact("email", "write to bob@example.com"),
        "mobile_hash": p.contact("mobile", "5550109999"),
    }
    text = repr(clean)
    for secret in ("known-42", "Bob", "bob@", "555", "Main", "203.0.113", "anon-7"):
        assert secret not in text


def test_contact_normalization_matches_equivalent_spellings() -> None:
    p = Pseudonymizer(KEY)
    assert p.contact("email", " A@B.co ") == p.contact("email", "a@b.co")
    assert p.contact("phone", "+1 555-0100") == p.contact("phone", "+15550100")
