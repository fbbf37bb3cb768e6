"""What an HTTP collector receives, as the project's event envelope.

Two shapes are accepted per event: the envelope itself (``event_id``, ``type``, ``user_id``,
``ts``, ...; see docs/api.md), and Segment's tracking calls (``track``, ``identify``,
``page``, ``screen``; ``messageId``, ``userId`` or ``anonymousId``, ``timestamp``), mapped
field by field. Segment's semantic e-commerce events map onto the project's types; another
``track`` name is kept as the type when it is one (``offer_click``), else the ingestion gate
refuses it. Segment's nested values (a ``products`` array) have no place in the envelope's
flat maps: they are left out and named in :attr:`Mapped.ignored`, so the caller is told.

Examples
--------

>>> m = to_envelope({"type": "track", "event": "Order Completed", "userId": "u1",
...                  "messageId": "m1", "timestamp": "2026-01-01T00:00:00Z",
...                  "properties": {"revenue": 30.5, "products": [{"sku": "a"}]}}, now_ms=0)
>>> m.event["type"], m.event["event_id"], m.event["properties"]["value"], m.ignored
('purchase', 'm1', 30.5, ('properties.products',))
>>> to_envelope({"event_id": "e1", "type": "page_view"}, now_ms=0).event["event_id"]
'e1'

"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from schemas.event import EventType

#: Segment's e-commerce spec names → the project's event types.
SEGMENT_EVENTS = {
    "Product Viewed": "product_view",
    "Product Clicked": "product_view",
    "Product Added": "add_to_cart",
    "Product Removed": "remove_from_cart",
    "Order Completed": "purchase",
    "Page Viewed": "page_view",
    "Unsubscribed": "unsubscribe",
}
SEGMENT_CALLS = frozenset({"track", "identify", "page", "screen"})
_TYPES = frozenset(t.value for t in EventType)
#: Ids a tracked event may carry in its properties that the envelope keeps at top level.
_LIFTED = ("decision_id", "campaign_id", "channel")


@dataclass(frozen=True)
class Mapped:
    """One received item as an envelope, and the Segment fields that had no place in it."""

    event: Any
    ignored: tuple[str, ...] = field(default=())


def to_envelope(item: Any, now_ms: int) -> Mapped:
    """``item`` as the project's envelope; an item in neither shape passes unchanged, for the
    ingestion gate to refuse with its reason."""
    if not isinstance(item, dict) or item.get("type") not in SEGMENT_CALLS:
        return Mapped(item)
    if "user_id" in item or "event_id" in item:
        return Mapped(item)  # an envelope whose type merely collides with a call name
    call = item["type"]
    ignored: list[str] = []
    props = _flat(item.get("properties"), "properties", ignored)
    traits = _flat(item.get("traits"), "traits", ignored)
    if call == "track":
        name = item.get("event")
        kind = SEGMENT_EVENTS.get(name) if isinstance(name, str) else None
        if kind is None and isinstance(name, str):
            snake = name.strip().lower().replace(" ", "_")
            kind = snake if snake in _TYPES else name
    else:
        kind = {"identify": "identify", "page": "page_view", "screen": "page_view"}[call]
        if call != "identify" and isinstance(item.get("name"), str):
            props.setdefault("name", item["name"])
    if kind == "purchase" and "value" not in props:
        for name in ("revenue", "total", "value"):
            if isinstance(props.get(name), int | float):
                props["value"] = props[name]
                break
    event = {
        "event_id": item.get("messageId") or f"api-{uuid.uuid4()}",
        "type": kind,
        "user_id": item.get("userId") or item.get("anonymousId"),
        "ts": item.get("timestamp") or now_ms,
        "properties": props,
        "context": _context(item.get("context")),
        "traits": traits,
    }
    for name in _LIFTED:
        if name in props:
            event[name] = props.pop(name)
    return Mapped(event, tuple(ignored))


def _flat(value: Any, where: str, ignored: list[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    flat = {}
    for k, v in value.items():
        if isinstance(v, dict | list):
            ignored.append(f"{where}.{k}")
        else:
            flat[k] = v
    return flat


def _context(value: Any) -> dict[str, Any]:
    """The few context fields a profile uses (device, country, locale); Segment's context
    also carries the IP and user agent, which are not kept."""
    if not isinstance(value, dict):
        return {}
    out = {}
    device, location = value.get("device"), value.get("location")
    if isinstance(device, dict) and isinstance(device.get("type"), str):
        out["device"] = device["type"]
    if isinstance(location, dict) and isinstance(location.get("country"), str):
        out["country"] = location["country"]
    if isinstance(value.get("locale"), str):
        out["locale"] = value["locale"]
    return out
