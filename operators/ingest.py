"""Ingestion: raw Kafka bytes in, a clean pseudonymous :class:`Event` or a dead letter out.

This is the single gate every inbound record passes. In order it checks size, decodes (JSON,
schemaless Avro or Confluent-framed Avro), validates the envelope, checks that the event time
lies within the accepted window around now, checks the client-controlled sizes and names
(:mod:`operators.gate_policy`), pseudonymizes the user and the event id and scrubs PII, then
maps channels, sources and traits onto their allow-lists. It never raises: whatever the bytes,
the result is exactly one of an ``Event`` or a ``DeadLetter``.

A feedback event may carry a user id that already is a pseudonym (channel senders echo the
decision's) only if it is signed: the ``offerflow-user-id: pseudonymous`` header must come with
``offerflow-signature``, a keyed hash of the pseudonym and the event id under the senders' key
(:func:`sign`). Anyone who can only write the events topic cannot sign, so cannot act on a
pseudonym (erase it, change its consent) without knowing the raw id.

With ``redact`` on (the default in production), a dead letter keeps no raw personal data: its
key is pseudonymized, a decodable value is kept scrubbed (user id pseudonymized, event id
hashed, PII replaced by tags), anything else is withheld and named by a keyed digest.

Examples
--------

>>> from operators.pseudonymize import Pseudonymizer
>>> ingest = Ingestor(Pseudonymizer(b"k" * 32), clock=lambda: 1_767_225_600.0)
>>> ok = ingest(b"u1", b'{"event_id": "e1", "type": "page_view", "user_id": "u1",'
...             b' "ts": "2026-01-01T00:00:00Z"}')
>>> ok.type, ok.ts, ok.user_id != "u1"
(<EventType.PAGE_VIEW: 'page_view'>, 1767225600000, True)
>>> bad = ingest(b"u1", b'{"event_id": "e2", "type": "page_view", "user_id": "u1", "ts": 5}')
>>> bad.reason, bad.value[:20]
(<Reason.TIMESTAMP_OUT_OF_RANGE: 'timestamp_out_of_range'>, b'{"event_id": "e2", "')
>>> ingest.redact = True
>>> hidden = ingest(b"u1", b'{"event_id": "u1-2", "type": "page_view", "user_id": "u1", "ts": 5}')
>>> b"u1" in hidden.value + hidden.key, hidden.reason.value
(False, 'timestamp_out_of_range')

"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Literal

import orjson

from operators import metrics
from operators.dead_letter import DeadLetter, Origin
from operators.gate_policy import GatePolicy
from operators.pseudonymize import Pseudonymizer
from schemas import codec
from schemas.event import Event, parse_event
from schemas.rejection import Reason, Rejected

InputFormat = Literal["auto", "json", "avro", "confluent"]
_NO_ORIGIN = Origin()


#: Header that channel senders set (value ``pseudonymous``) on feedback events whose
#: ``user_id`` is the pseudonym a decision carried, not an app's raw id.
PSEUDONYMOUS_HEADER = "offerflow-user-id"
#: Header with :func:`sign`'s signature; without a valid one the pseudonym is not trusted.
SIGNATURE_HEADER = "offerflow-signature"
_PSEUDONYM = re.compile(r"[0-9a-f]{32}")
#: The ids :func:`operators.eligibility.decision_id` makes; feedback may name nothing else.
_DECISION_ID = re.compile(r"[da]_[0-9a-f]{24}")  # the flow's, and the API's


def sender_key(id_key: bytes) -> bytes:
    """The senders' signing key derived from the id key, for deployments that set no key of
    their own for the senders (``OFFERFLOW_SENDER_KEY``). It cannot pseudonymize anyone.

    >>> len(sender_key(b"k" * 32)), sender_key(b"k" * 32) != b"k" * 32
    (64, True)
    """
    return hmac.new(id_key, b"offerflow:sender-key", hashlib.sha256).hexdigest().encode()


def sign(key: bytes, user_id: str, event_id: str) -> bytes:
    """The signature a sender puts in :data:`SIGNATURE_HEADER` of a pseudonymous event."""
    message = f"{user_id}\x00{event_id}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32].encode()


class Ingestor:
    """Decode, validate, time-check and pseudonymize one inbound record.

    Parameters
    ----------
    pseudonymizer
        Keyed pseudonymization of user ids and PII scrubbing.
    max_bytes
        Larger payloads are refused before any parsing (protects memory and the parser).
    max_age_s
        Oldest accepted event time, in seconds before now (raise it for backfills).
    max_future_s
        Newest accepted event time, in seconds after now (client clock skew).
    input_format
        ``auto`` tells JSON from Confluent-framed Avro by the payload (a ``content-type:
        avro/binary`` header marks schemaless Avro); the others force one format.
    clock
        Wall clock in epoch seconds; tests pass a fixed one.
    policy
        Allow-lists and size bounds for client-sent values.
    signing_key
        Key that signs pseudonymous feedback (:func:`sign`); ``None`` derives it from the
        pseudonymizer's key as :func:`sender_key` does.
    redact
        Keep no raw personal data in dead letters (see the module docstring).

    """

    def __init__(
        self,
        pseudonymizer: Pseudonymizer,
        *,
        max_bytes: int = 65_536,
        max_age_s: float = 30 * 86_400,
        max_future_s: float = 3_600,
        input_format: InputFormat = "auto",
        clock: Callable[[], float] = time.time,
        policy: GatePolicy | None = None,
        signing_key: bytes | None = None,
        redact: bool = False,
    ) -> None:
        self.pseudonymizer = pseudonymizer
        self.max_bytes = max_bytes
        self.max_age_ms = int(max_age_s * 1000)
        self.max_future_ms = int(max_future_s * 1000)
        self.input_format = input_format
        self.clock = clock
        self.policy = policy or GatePolicy()
        self.signing_key = signing_key or sender_key(pseudonymizer.key)
        self.redact = redact

    def __call__(
        self,
        key: bytes | None,
        value: bytes | None,
        headers: Iterable[tuple[str, bytes | None]] = (),
        origin: Origin = _NO_ORIGIN,
    ) -> Event | DeadLetter:
        """Ingest one record; never raises."""
        try:
            return self._ingest(value, headers)
        except Rejected as err:
            letter = DeadLetter(err.reason, err.detail, key, value, origin)
        except Exception as exc:  # a bug must cost one record, not the whole flow
            detail = f"{type(exc).__name__}: {exc}"[:300]
            letter = DeadLetter(Reason.INTERNAL_ERROR, detail, key, value, origin)
        return self.redacted(letter) if self.redact else letter

    def redacted(self, letter: DeadLetter) -> DeadLetter:
        """``letter`` with no raw personal data: key pseudonymized, value scrubbed or withheld,
        PII in the detail replaced by tags. Never raises: whatever cannot be scrubbed is
        withheld."""
        p = self.pseudonymizer
        raw_key = letter.key.decode("utf-8", "replace") if letter.key else None
        key = p.user(raw_key).encode() if raw_key else letter.key
        try:
            detail = p.text(letter.detail, raw_key) or ""
        except Exception:  # a detail that defeats the scan is dropped, not shown raw
            detail = "(detail withheld)"
        value = letter.value
        if value:
            try:
                scrubbed = self._scrubbed_value(value)
            except Exception:  # e.g. a value the JSON encoder refuses: withheld
                scrubbed = None
            if scrubbed is None:
                detail += f" (value withheld: {len(value)} bytes, digest {p.digest(value)})"
            value = scrubbed
        return replace(letter, key=key, value=value, detail=detail)

    def _scrubbed_value(self, value: bytes) -> bytes | None:
        try:
            raw = codec.decode("event", value, codec.sniff_format(value, ()))
        except Exception:  # undecodable bytes cannot be scrubbed: they are withheld
            return None
        if not isinstance(raw, dict):
            return None
        p = self.pseudonymizer
        user = raw.get("user_id") if isinstance(raw.get("user_id"), str) else None
        out: dict[str, Any] = {}
        for name, item in raw.items():
            if name == "user_id" and user:
                out[name] = p.user(user)
            elif name == "event_id" and isinstance(item, str):
                out[name] = p.event(item)
            elif isinstance(item, dict):
                scalars = {str(k): v for k, v in item.items() if not isinstance(v, dict | list)}
                out[name] = p.scrub_map(scalars, user)
            elif isinstance(item, str):
                out[name] = p.text(item, user)
            elif item is None or isinstance(item, bool | int | float):
                out[name] = item
        return orjson.dumps(out, option=orjson.OPT_NON_STR_KEYS)

    def _ingest(self, value: bytes | None, headers: Iterable[tuple[str, bytes | None]]) -> Event:
        if not value:
            raise Rejected(Reason.EMPTY, "the record has no value")
        if len(value) > self.max_bytes:
            raise Rejected(Reason.TOO_LARGE, f"{len(value)} bytes exceeds {self.max_bytes}")
        fmt = (
            codec.sniff_format(value, headers)
            if self.input_format == "auto"
            else (self.input_format)
        )
        if fmt == "confluent" and codec.schema_name_of(value) != "event":
            raise Rejected(Reason.UNKNOWN_SCHEMA_ID, "the schema id is not the event schema's")
        event = parse_event(codec.decode("event", value, fmt))
        now_ms = int(self.clock() * 1000)
        if not now_ms - self.max_age_ms <= event.ts <= now_ms + self.max_future_ms:
            raise Rejected(
                Reason.TIMESTAMP_OUT_OF_RANGE,
                f"ts {event.ts} is outside [now - {self.max_age_ms // 1000} s, "
                f"now + {self.max_future_ms // 1000} s] (OFFERFLOW_MAX_EVENT_AGE_S, "
                "OFFERFLOW_MAX_FUTURE_S)",
            )
        pseudonymous = self._pseudonymous(event, headers)
        if event.decision_id is not None and not _DECISION_ID.fullmatch(event.decision_id):
            raise Rejected(Reason.INVALID_VALUE, "decision_id is not one OfferFlow issued")
        self.policy.check(event)
        bounded = self.policy.bound(self.pseudonymizer.scrub(event, pseudonymous))
        for note in bounded.adjustments:
            metrics.count_bounded(note)
        return bounded.event

    def _pseudonymous(self, event: Event, headers: Iterable[tuple[str, bytes | None]]) -> bool:
        found = dict(headers or ())
        if found.get(PSEUDONYMOUS_HEADER) != b"pseudonymous":
            return False
        if not _PSEUDONYM.fullmatch(event.user_id):
            raise Rejected(Reason.INVALID_VALUE, "user_id is not a pseudonym (32 hex digits)")
        expected = sign(self.signing_key, event.user_id, event.event_id)
        if not hmac.compare_digest(found.get(SIGNATURE_HEADER) or b"", expected):
            raise Rejected(
                Reason.UNTRUSTED_PSEUDONYM,
                f"{PSEUDONYMOUS_HEADER} needs a valid {SIGNATURE_HEADER} (the senders' key)",
            )
        return True
