"""Synthetic event traffic with known answers, for the demo, the tests and the benchmarks.

Each :class:`Sample` says what the ingestion gate must do with it: accept it, see it as a
redelivery of an earlier event, or dead-letter it with a given reason. Valid events mix the
event types, JSON and Confluent-framed Avro, and PII in traits; malformed ones cycle through
the failure kinds the gate must catch.

Examples
--------

>>> samples = generate(200, seed=7, malformed_rate=0.1, now_ms=1_767_225_600_000)
>>> len(samples), sum(s.expect == "valid" for s in samples) > 150
(200, True)
>>> sorted({s.expect for s in samples if s.expect not in ("valid", "duplicate")})[:3]
['avro_decode_error', 'empty', 'invalid_utf8']

"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from schemas import codec
from schemas.event import EventType
from schemas.units import DAY_MS

_MIX = (
    (EventType.PAGE_VIEW, 40),
    (EventType.PRODUCT_VIEW, 25),
    (EventType.ADD_TO_CART, 10),
    (EventType.PURCHASE, 4),
    (EventType.IDENTIFY, 3),
    (EventType.CONSENT, 2),
    (EventType.DECISION_REQUEST, 5),
    # Deliveries and opens of messages sent outside OfferFlow: they shape the profile's
    # channel engagement and fatigue, but name no OfferFlow decision (an offer_impression or
    # offer_click must, and one with a made-up id would be dead-lettered as unknown).
    (EventType.MESSAGE_DELIVERED, 6),
    (EventType.MESSAGE_OPEN, 5),
)
_CATEGORIES = ("shoes", "bags", "outerwear", "beauty", "home", "kids", "sport", "tech")
_CHANNELS = ("email", "sms", "push", "web")


@dataclass(frozen=True, slots=True)
class Sample:
    """One record to produce, the raw user it belongs to, and the expected outcome:
    ``valid``, ``duplicate`` or a dead-letter reason code."""

    key: bytes | None
    value: bytes | None
    user: str
    expect: str
    event_id: str = ""


def email_of(user: str) -> str:
    """The (fake) email address the generator puts in ``user``'s identify traits."""
    return f"{user}@example.com"


def phone_of(user: str) -> str:
    """The (fake) phone number the generator puts in ``user``'s identify traits."""
    return f"+1 555 {zlib.crc32(user.encode()) % 10_000_000:07d}"


def generate(
    n: int,
    *,
    seed: int = 42,
    users: int = 500,
    malformed_rate: float = 0.05,
    duplicate_rate: float = 0.005,
    avro_rate: float = 0.1,
    now_ms: int,
) -> list[Sample]:
    """``n`` samples with event times in the last day before ``now_ms``."""
    rng = random.Random(seed)
    types = [t for t, w in _MIX for _ in range(w)]
    out: list[Sample] = []
    valid: list[Sample] = []
    for i in range(n):
        user = f"user-{rng.randrange(users):06d}"
        roll = rng.random()
        if roll < malformed_rate:
            reason, value = _MALFORMED[i % len(_MALFORMED)](rng, user, now_ms)
            out.append(Sample(user.encode(), value, user, reason))
        elif roll < malformed_rate + duplicate_rate and valid:
            again = rng.choice(valid)
            out.append(Sample(again.key, again.value, again.user, "duplicate", again.event_id))
        else:
            event = _event(rng, f"evt-{seed}-{i}", rng.choice(types), user, now_ms)
            fmt = "confluent" if rng.random() < avro_rate else "json"
            value = codec.encode("event", event, fmt)  # type: ignore[arg-type]
            sample = Sample(user.encode(), value, user, "valid", event["event_id"])
            valid.append(sample)
            out.append(sample)
    return out


def _event(rng: random.Random, event_id: str, kind: EventType, user: str, now_ms: int) -> dict:
    props: dict = {}
    event: dict = {
        "event_id": event_id,
        "type": kind.value,
        "user_id": user,
        "ts": now_ms - rng.randrange(DAY_MS),
        "channel": None,
        "campaign_id": None,
        "decision_id": None,
        "properties": props,
        "context": {
            "device": rng.choice(("ios", "android", "desktop")),
            "country": rng.choice(("US", "DE", "FR", "GB")),
        },
        "traits": {},
        "consent": {},
    }
    if kind in (EventType.PRODUCT_VIEW, EventType.ADD_TO_CART, EventType.PURCHASE):
        props.update(product_id=f"sku-{rng.randrange(2000)}", category=rng.choice(_CATEGORIES))
    if kind is EventType.PURCHASE:
        props.update(value=round(rng.uniform(5, 300), 2), currency="USD")
    if kind is EventType.IDENTIFY:
        event["traits"] = {
            "email": email_of(user),
            "phone": phone_of(user),
            "first_name": "Test",
            "plan": rng.choice(("free", "gold")),
        }
    if kind is EventType.CONSENT:
        event["consent"] = {c: rng.random() < 0.8 for c in ("personalization", *_CHANNELS)}
    if kind in (
        EventType.MESSAGE_DELIVERED,
        EventType.MESSAGE_OPEN,
        EventType.DECISION_REQUEST,
    ):
        event["channel"] = rng.choice(_CHANNELS)
    if kind in (EventType.MESSAGE_DELIVERED, EventType.MESSAGE_OPEN):
        event["campaign_id"] = f"camp-{rng.randrange(5)}"
    return event


def _json(obj: object) -> bytes:
    return orjson.dumps(obj)


def _base(rng: random.Random, user: str, now_ms: int) -> dict:
    return {
        "event_id": f"bad-{rng.randrange(10**12)}",
        "type": "page_view",
        "user_id": user,
        "ts": now_ms - 1000,
    }


_Malformed = Callable[[random.Random, str, int], tuple[str, bytes | None]]
_MALFORMED: tuple[_Malformed, ...] = (
    lambda r, u, t: ("unparseable", b'{"event_id": "x", "type": "page_view", "user'),
    lambda r, u, t: ("invalid_utf8", b"\xff\xfe{not json"),
    lambda r, u, t: ("not_an_object", _json([1, 2, 3])),
    lambda r, u, t: (
        "missing_field",
        _json({k: v for k, v in _base(r, u, t).items() if k != "user_id"}),
    ),
    lambda r, u, t: ("wrong_type", _json({**_base(r, u, t), "user_id": 12345})),
    lambda r, u, t: ("unknown_event_type", _json({**_base(r, u, t), "type": "teleport"})),
    lambda r, u, t: ("bad_timestamp", _json({**_base(r, u, t), "ts": "yesterday-ish"})),
    lambda r, u, t: ("timestamp_out_of_range", _json({**_base(r, u, t), "ts": DAY_MS})),
    lambda r, u, t: ("timestamp_out_of_range", _json({**_base(r, u, t), "ts": t + 400 * DAY_MS})),
    lambda r, u, t: ("wrong_type", _json({**_base(r, u, t), "properties": {"nested": {"a": 1}}})),
    lambda r, u, t: ("empty", b""),
    lambda r, u, t: ("avro_decode_error", b"\x00\x00\x00\x00\x01\xff\xff\xff"),
    lambda r, u, t: ("unknown_schema_id", b"\x00\x00\x00\x03\xe7" + bytes(8)),
    lambda r, u, t: ("too_large", _json({**_base(r, u, t), "properties": {"blob": "x" * 70_000}})),
)
