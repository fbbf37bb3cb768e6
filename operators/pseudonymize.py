"""Keyed pseudonyms for user ids and event ids, and scrubbing of PII from event payloads.

User ids become ``HMAC-SHA256(key, "user:" + id)`` truncated to 128 bits (32 hex characters):
stable for a key, so the same user always lands on the same state, and not reversible or
linkable without the key. 128 bits keep collisions negligible (birthday bound ~2^64 users) while
halving the bytes every key, Redis entry and record carries. Event ids are hashed too, with
128-bit keyed BLAKE2b under a subkey derived from the same key (``"event:" + id``): apps often
build them from the user id, and they travel into consent sources, audits, decisions and dead
letters.

Payload maps (``traits``, ``properties``, ``context``) are scrubbed by what a key names (any
spelling: ``phoneNumber``, ``phone_number``; see :mod:`operators.pii`) and by what a value holds:

- contact points become ``email_hash`` or ``phone_hash``, a keyed hash of the normalized value,
  so campaigns can still match on them without holding them;
- other direct identifiers (names, postal address, birth date, IP, card and national numbers,
  credentials) are dropped;
- ids of the same user (``anonymous_id``, ``previous_id``, ``customer_id``, ``userId``, ...) are
  pseudonymized like ``user_id``, so identity stitching works on pseudonyms;
- in any other string, emails, phones, card numbers, IP addresses and the raw user id itself are
  replaced by a tag (``[email]``, ..., ``[user]``); a value that is only an email address
  becomes its keyed hash. Keys that themselves hold such data are dropped.

Examples
--------

>>> from schemas.event import Event, EventType
>>> p = Pseudonymizer(b"0123456789abcdef0123456789abcdef")
>>> p.user("alice")
'7cfd7689ca1fc0511c9da15d790db8bc'
>>> e = Event("alice-1", EventType.IDENTIFY, "alice", 0,
...           traits={"email": " Alice@Example.com", "givenName": "Alice", "plan": "gold"},
...           properties={"note": "alice asked: call +1 555 010 9999"})
>>> clean = p.scrub(e)
>>> clean.user_id == p.user("alice"), clean.event_id == p.event("alice-1"), sorted(clean.traits)
(True, True, ['email_hash', 'plan'])
>>> clean.traits["email_hash"] == p.contact("email", "alice@example.com")
True
>>> clean.properties["note"]
'[user] asked: call [phone]'

"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

from operators.pii import KeyKind, key_kind, may_hold_pii, normalize, redact
from schemas.event import Event, Scalar

#: Minimum key length: shorter HMAC keys make the pseudonyms guessable by brute force.
MIN_KEY_BYTES = 16
#: Raw user ids shorter than this are not searched for inside other strings (too common).
MIN_SEARCHED_ID = 4
_PHONE_KEEP = re.compile(r"[^\d+]")


class Pseudonymizer:
    """Keyed pseudonymization of user and event ids, and PII scrubbing of events.

    Parameters
    ----------
    key
        The secret HMAC key, at least :data:`MIN_KEY_BYTES` long. Rotating it re-keys every
        user: all state and history is then under new pseudonyms.

    """

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the pseudonymization key needs at least {MIN_KEY_BYTES} bytes")
        self.key = key
        self._mac = hmac.new(key, digestmod=hashlib.sha256)
        # event ids and digests need a keyed hash, not HMAC's compatibility: keyed BLAKE2b
        # under a subkey is a third of the cost on the per-event path
        self._subkey = hmac.new(key, b"offerflow:event-key", hashlib.sha256).digest()

    def _hash(self, data: str) -> str:
        mac = self._mac.copy()
        mac.update(data.encode("utf-8", "surrogatepass"))
        return mac.hexdigest()[:32]

    def user(self, user_id: str) -> str:
        """The pseudonym of a raw user id."""
        return self._hash("user:" + user_id)

    def event(self, event_id: str) -> str:
        """The keyed hash an app's event id is stored and sent under."""
        return self.digest(b"event:" + event_id.encode("utf-8", "surrogatepass"))

    def digest(self, data: bytes) -> str:
        """A keyed 128-bit digest (BLAKE2b), e.g. of withheld bytes, so equal originals can
        still be matched."""
        return hashlib.blake2b(data, key=self._subkey, digest_size=16).hexdigest()

    def contact(self, kind: str, value: str) -> str:
        """Keyed hash of a normalized contact point (``email`` or a phone kind)."""
        value = normalize(value)
        if kind == "email" or "@" in value:
            normalized = value.strip().casefold()
            kind = "email"
        else:
            normalized = _PHONE_KEEP.sub("", value)
            kind = "phone"
        return self._hash(f"{kind}:{normalized}")

    def scrub(self, event: Event, pseudonymous: bool = False) -> Event:
        """The event with its user pseudonymized (unless its id already is a pseudonym: channel
        senders echo the decisions' ids), its event id hashed, and PII removed from its maps
        and free strings. Unknown top-level fields are dropped: nothing reads them."""
        raw = None if pseudonymous else event.user_id
        return Event(
            self.event(event.event_id),
            event.type,
            event.user_id if pseudonymous else self.user(event.user_id),
            event.ts,
            event.channel,
            event.campaign_id and self.text(event.campaign_id, raw),
            event.decision_id,
            self.scrub_map(event.properties, raw),
            self.scrub_map(event.context, raw),
            self.scrub_map(event.traits, raw),
            event.consent,
        )

    def text(self, value: str | None, raw_user: str | None = None) -> str | None:
        """A free string with PII and the raw user id replaced by tags."""
        if not value:
            return value
        if raw_user and len(raw_user) >= MIN_SEARCHED_ID and raw_user in value:
            value = value.replace(raw_user, "[user]")
        return redact(value)[0] if may_hold_pii(value) else value

    def scrub_map(
        self, values: Mapping[str, Scalar], raw_user: str | None = None
    ) -> Mapping[str, Scalar]:
        """A payload map with PII keys hashed, pseudonymized or dropped, and PII in string
        values replaced by tags."""
        if not values:
            return values
        searched = raw_user if raw_user and len(raw_user) >= MIN_SEARCHED_ID else None
        out: dict[str, Scalar] = {}
        for key, value in values.items():
            kind = key_kind(key)
            if kind is None:  # the common case, kept cheap: it runs on every entry
                if searched and searched in key:
                    continue
                if type(value) is str and (may_hold_pii(value) or (searched and searched in value)):
                    value = self._value(value, searched)
                out[key] = value
                continue
            if kind is KeyKind.DROP or (searched and searched in key):
                continue
            if kind is KeyKind.EMAIL or kind is KeyKind.PHONE:
                if value is not None and value != "":
                    out[f"{kind.value}_hash"] = self.contact(kind.value, str(value))
                continue
            if isinstance(value, str):
                if kind is KeyKind.USER_ID:
                    value = self.user(value)
                else:
                    value = self._value(value, raw_user)
            elif kind is KeyKind.USER_ID and value is not None:
                value = self.user(str(value))
            out[key] = value
        return out

    def _value(self, value: str, raw_user: str | None) -> str:
        clean = self.text(value, raw_user) or value
        if clean == "[email]":  # the whole value was an address: keep it matchable
            return self.contact("email", value)
        return clean
