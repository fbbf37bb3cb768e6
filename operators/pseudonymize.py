"""Keyed pseudonyms for user ids, and scrubbing of PII from event payloads.

User ids become ``HMAC-SHA256(key, "user:" + id)`` truncated to 128 bits (32 hex characters):
stable for a key, so the same user always lands on the same state, and not reversible or
linkable without the key. 128 bits keep collisions negligible (birthday bound ~2^64 users) while
halving the bytes every key, Redis entry and record carries.

Payload maps (``traits``, ``properties``, ``context``) are scrubbed by key name:

- contact points (``email``, ``phone``, ...) are replaced by ``<key>_hash``, a keyed hash of the
  normalized value, so campaigns can still match on them without holding them;
- other direct identifiers (names, postal address, birth date, IP) are dropped;
- ids of the same user (``anonymous_id``, ``previous_id``, ``user_id``) are pseudonymized like
  ``user_id``, so identity stitching works on pseudonyms;
- any other string value that looks like an email address is replaced by its keyed hash.

Examples
--------

>>> from schemas.event import Event, EventType
>>> p = Pseudonymizer(b"0123456789abcdef0123456789abcdef")
>>> p.user("alice")
'7cfd7689ca1fc0511c9da15d790db8bc'
>>> e = Event("e1", EventType.IDENTIFY, "alice", 0,
...           traits={"email": " Alice@Example.com", "first_name": "Alice", "plan": "gold"})
>>> clean = p.scrub(e)
>>> clean.user_id == p.user("alice"), sorted(clean.traits)
(True, ['email_hash', 'plan'])
>>> clean.traits["email_hash"] == p.contact("email", "alice@example.com")
True

"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

from schemas.event import Event, Scalar

#: Minimum key length: shorter HMAC keys make the pseudonyms guessable by brute force.
MIN_KEY_BYTES = 16

HASHED_KEYS = frozenset({"email", "phone", "mobile", "phone_number", "mobile_number"})
DROPPED_KEYS = frozenset(
    {
        "name",
        "first_name",
        "last_name",
        "full_name",
        "firstname",
        "lastname",
        "address",
        "street",
        "street_address",
        "address_line1",
        "address_line2",
        "postcode",
        "postal_code",
        "zip",
        "zipcode",
        "birthday",
        "birth_date",
        "date_of_birth",
        "dob",
        "ip",
        "ip_address",
    }
)
ID_KEYS = frozenset({"anonymous_id", "previous_id", "user_id"})
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE_KEEP = re.compile(r"[^\d+]")


class Pseudonymizer:
    """Keyed pseudonymization of user ids and PII scrubbing of events.

    Parameters
    ----------
    key
        The secret HMAC key, at least :data:`MIN_KEY_BYTES` long. Rotating it re-keys every
        user: all state and history is then under new pseudonyms.

    """

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the pseudonymization key needs at least {MIN_KEY_BYTES} bytes")
        self._mac = hmac.new(key, digestmod=hashlib.sha256)

    def _hash(self, data: str) -> str:
        mac = self._mac.copy()
        mac.update(data.encode("utf-8", "surrogatepass"))
        return mac.hexdigest()[:32]

    def user(self, user_id: str) -> str:
        """The pseudonym of a raw user id."""
        return self._hash("user:" + user_id)

    def contact(self, kind: str, value: str) -> str:
        """Keyed hash of a normalized contact point (``email`` or a phone kind)."""
        if kind == "email" or "@" in value:
            normalized = value.strip().lower()
            kind = "email"
        else:
            normalized = _PHONE_KEEP.sub("", value)
            kind = "phone"
        return self._hash(f"{kind}:{normalized}")

    def scrub(self, event: Event, pseudonymous: bool = False) -> Event:
        """The event with its user pseudonymized (unless its id already is a pseudonym: channel
        senders echo the decisions' ids) and PII removed from its maps."""
        return Event(
            event.event_id,
            event.type,
            event.user_id if pseudonymous else self.user(event.user_id),
            event.ts,
            event.channel,
            event.campaign_id,
            event.decision_id,
            self._scrub_map(event.properties),
            self._scrub_map(event.context),
            self._scrub_map(event.traits),
            event.consent,
            event.extra,
        )

    def _scrub_map(self, values: Mapping[str, Scalar]) -> Mapping[str, Scalar]:
        if not values:
            return values
        out: dict[str, Scalar] = {}
        for key, value in values.items():
            lowered = key.lower()
            if lowered in DROPPED_KEYS:
                continue
            if isinstance(value, str):
                if lowered in HASHED_KEYS:
                    out[f"{lowered}_hash"] = self.contact(lowered, value)
                    continue
                if lowered in ID_KEYS:
                    value = self.user(value)
                elif "@" in value and _EMAIL.search(value):
                    value = self.contact("email", value)
            elif lowered in HASHED_KEYS and value is not None:
                out[f"{lowered}_hash"] = self.contact(lowered, str(value))
                continue
            out[key] = value
        return out
