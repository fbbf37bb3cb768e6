"""The inbound event: one typed value whatever the wire format.

:func:`parse_event` turns a decoded mapping (from JSON or Avro) into an :class:`Event`, checking
required fields, types and the event type, and normalizing the timestamp to epoch milliseconds
UTC. It raises :class:`~schemas.rejection.Rejected` with a precise reason for anything else, so
the caller can dead-letter it. Unknown top-level fields are kept in ``extra`` and ignored.

Examples
--------

>>> from schemas.event import parse_event
>>> e = parse_event({"event_id": "e1", "type": "purchase", "user_id": "u1",
...                  "ts": "2026-11-23T10:00:00+01:00", "properties": {"value": 25.0}})
>>> e.type, e.ts, e.properties["value"]
(<EventType.PURCHASE: 'purchase'>, 1795424400000, 25.0)
>>> parse_event({"event_id": "e2", "type": "teleport", "user_id": "u1", "ts": 0})
Traceback (most recent call last):
...
schemas.rejection.Rejected: unknown_event_type: 'teleport' is not a known event type

"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from schemas.rejection import Reason, Rejected

#: Longest id (event, user, campaign, decision) accepted, in characters.
MAX_ID_LENGTH = 256
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1

Scalar = None | bool | int | float | str


class EventType(StrEnum):
    """Event types the flows understand; anything else is dead-lettered."""

    IDENTIFY = "identify"
    PAGE_VIEW = "page_view"
    PRODUCT_VIEW = "product_view"
    ADD_TO_CART = "add_to_cart"
    REMOVE_FROM_CART = "remove_from_cart"
    PURCHASE = "purchase"
    DECISION_REQUEST = "decision_request"
    OFFER_IMPRESSION = "offer_impression"
    OFFER_CLICK = "offer_click"
    OFFER_DISMISS = "offer_dismiss"
    MESSAGE_DELIVERED = "message_delivered"
    MESSAGE_OPEN = "message_open"
    UNSUBSCRIBE = "unsubscribe"
    CONSENT = "consent"
    ERASE = "erase"


_TYPES = {t.value: t for t in EventType}
#: Feedback on a decision is useless without the decision it answers.
_NEEDS_DECISION = frozenset(
    {EventType.OFFER_IMPRESSION, EventType.OFFER_CLICK, EventType.OFFER_DISMISS}
)
_MAPS = ("properties", "context", "traits")
_OPTIONAL_IDS = ("channel", "campaign_id", "decision_id")
_KNOWN = frozenset(("event_id", "type", "user_id", "ts", "consent", *_MAPS, *_OPTIONAL_IDS))


@dataclass(frozen=True, slots=True)
class Event:
    """A validated event. ``ts`` is epoch milliseconds UTC; ``user_id`` is whatever the
    pipeline stage holds (raw before pseudonymization, the pseudonym after)."""

    event_id: str
    type: EventType
    user_id: str
    ts: int
    channel: str | None = None
    campaign_id: str | None = None
    decision_id: str | None = None
    properties: Mapping[str, Scalar] = field(default_factory=dict)
    context: Mapping[str, Scalar] = field(default_factory=dict)
    traits: Mapping[str, Scalar] = field(default_factory=dict)
    consent: Mapping[str, bool] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_record(self, *, with_extra: bool = True) -> dict[str, Any]:
        """The event as a plain mapping in the ``event`` schema's shape (``extra`` merged in
        at top level unless ``with_extra`` is false, as Avro has no place for it)."""
        record = {
            "event_id": self.event_id,
            "type": self.type.value,
            "user_id": self.user_id,
            "ts": self.ts,
            "channel": self.channel,
            "campaign_id": self.campaign_id,
            "decision_id": self.decision_id,
            "properties": dict(self.properties),
            "context": dict(self.context),
            "traits": dict(self.traits),
            "consent": dict(self.consent),
        }
        if with_extra and self.extra:
            return {**self.extra, **record}
        return record


def parse_event(raw: Any) -> Event:
    """Validate a decoded mapping and build the :class:`Event`; raise ``Rejected`` otherwise."""
    if not isinstance(raw, dict):
        raise Rejected(Reason.NOT_AN_OBJECT, f"expected an object, got {type(raw).__name__}")
    event_id = _id(raw, "event_id")
    type_name = _id(raw, "type")
    event_type = _TYPES.get(type_name)
    if event_type is None:
        raise Rejected(Reason.UNKNOWN_EVENT_TYPE, f"{type_name!r} is not a known event type")
    user_id = _id(raw, "user_id")
    if "ts" not in raw or raw["ts"] is None:
        raise Rejected(Reason.MISSING_FIELD, "ts is required")
    ts = parse_timestamp(raw["ts"])
    channel = _optional_id(raw, "channel")
    campaign_id = _optional_id(raw, "campaign_id")
    decision_id = _optional_id(raw, "decision_id")
    if decision_id is None and event_type in _NEEDS_DECISION:
        raise Rejected(Reason.MISSING_FIELD, f"decision_id is required on {event_type.value}")
    if channel is None and event_type is EventType.UNSUBSCRIBE:
        raise Rejected(Reason.MISSING_FIELD, "channel is required on unsubscribe")
    properties = _scalar_map(raw, "properties")
    context = _scalar_map(raw, "context")
    traits = _scalar_map(raw, "traits")
    consent = _consent(raw)
    if event_type is EventType.CONSENT and not consent:
        raise Rejected(Reason.MISSING_FIELD, "consent events need a non-empty consent object")
    extra = {k: v for k, v in raw.items() if k not in _KNOWN} if not _KNOWN.issuperset(raw) else {}
    return Event(
        event_id,
        event_type,
        user_id,
        ts,
        channel,
        campaign_id,
        decision_id,
        properties,
        context,
        traits,
        consent,
        extra,
    )


def parse_timestamp(value: Any) -> int:
    """Epoch milliseconds UTC from epoch milliseconds or an ISO-8601 string (a string without
    an offset is taken as UTC).

    >>> parse_timestamp("2026-01-01T00:00:00Z"), parse_timestamp(1767225600000)
    (1767225600000, 1767225600000)

    """
    if isinstance(value, bool):
        raise Rejected(Reason.BAD_TIMESTAMP, "ts must be epoch millis or ISO-8601, got a boolean")
    if isinstance(value, int):
        if not _LONG_MIN <= value <= _LONG_MAX:
            raise Rejected(Reason.BAD_TIMESTAMP, f"ts {value} does not fit in 64 bits")
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or abs(value) >= 2**63:
            raise Rejected(Reason.BAD_TIMESTAMP, f"ts {value!r} is not a finite epoch millis")
        return int(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise Rejected(Reason.BAD_TIMESTAMP, f"ts {value[:64]!r} is not ISO-8601") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return int(parsed.timestamp() * 1000)
    raise Rejected(
        Reason.BAD_TIMESTAMP, f"ts must be epoch millis or ISO-8601, got {type(value).__name__}"
    )


def _id(raw: dict[str, Any], key: str) -> str:
    if key not in raw or raw[key] is None:
        raise Rejected(Reason.MISSING_FIELD, f"{key} is required")
    value = raw[key]
    if not isinstance(value, str):
        raise Rejected(Reason.WRONG_TYPE, f"{key} must be a string, got {type(value).__name__}")
    if not value or len(value) > MAX_ID_LENGTH:
        raise Rejected(Reason.INVALID_VALUE, f"{key} must have 1 to {MAX_ID_LENGTH} characters")
    return value


def _optional_id(raw: dict[str, Any], key: str) -> str | None:
    return None if raw.get(key) is None else _id(raw, key)


def _scalar_map(raw: dict[str, Any], key: str) -> dict[str, Scalar]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Rejected(Reason.WRONG_TYPE, f"{key} must be an object, got {type(value).__name__}")
    for name, item in value.items():
        if item is None or isinstance(item, str | bool):
            continue
        if isinstance(item, int):
            if not _LONG_MIN <= item <= _LONG_MAX:
                raise Rejected(Reason.INVALID_VALUE, f"{key}.{name} does not fit in 64 bits")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise Rejected(Reason.NON_FINITE_NUMBER, f"{key}.{name} is not a finite number")
        else:
            raise Rejected(
                Reason.WRONG_TYPE,
                f"{key}.{name} must be a string, number, boolean or null, "
                f"got {type(item).__name__}",
            )
    return value


def _consent(raw: dict[str, Any]) -> dict[str, bool]:
    value = raw.get("consent")
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, bool) for v in value.values()):
        raise Rejected(Reason.WRONG_TYPE, "consent must map purposes to true/false")
    return value


#: Event properties that name the product, in order of preference.
PRODUCT_KEYS = ("product_id", "item_id", "sku")


def amount(value: Any) -> float:
    """A money amount from an event property: finite numbers only, anything else is 0."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return 0.0
