"""What the profile step publishes about a user besides the profile itself: segment changes,
privacy audits, dead letters for the user's own events, and product interactions for the
recommender. Plain functions of the pseudonymous user id and the event, so the records'
shapes live in one place (docs/profiles.md and docs/privacy.md describe them).

Examples
--------

>>> from schemas.event import parse_event
>>> event = parse_event({"event_id": "e1", "user_id": "u", "type": "add_to_cart",
...                      "ts": 1_700_000_000_000, "properties": {"sku": "A-1", "price": 9.5}})
>>> interaction("u", event, ("vip",))[0][1][1]["item"]
'A-1'
>>> segment_change("u", "e1", 1, ("a", "b"), ("b", "c"))["added"]
['c']

"""

from __future__ import annotations

from typing import Any

from models.taste import EVENT_WEIGHTS
from operators.dead_letter import DeadLetter, Origin
from schemas import codec
from schemas.event import PRODUCT_KEYS, Event, EventType, amount
from schemas.rejection import Reason


def erased_letter(user: str, event: Event, grace_ms: int) -> DeadLetter:
    """An event for a user erased less than ``grace_ms`` ago: refused, not a new profile."""
    detail = f"user erased less than {grace_ms // 1000} s ago"
    return letter(user, event, Reason.ERASED_USER, detail, "erased")


def letter(
    user: str, event: Event, reason: Reason, detail: str, prefix: str | None = None
) -> DeadLetter:
    """A dead letter for one of the user's accepted events."""
    # The pseudonymous, scrubbed event, not the raw bytes: those are gone after ingestion
    # (and this user may have asked to be erased).
    value = codec.encode("event", event.to_record(with_extra=False), "json")
    return DeadLetter(
        reason, detail, user.encode(), value, Origin(), f"{prefix or reason}:{event.event_id}"
    )


def segment_change(
    user: str, cause: str, ts: int, before: tuple[str, ...], after: tuple[str, ...]
) -> dict[str, Any]:
    """A record for the segments topic: the user's segments now, and what moved."""
    return {
        "change_id": f"{user}:{cause}",
        "user_id": user,
        "ts": ts,
        "segments": list(after),
        "added": [s for s in after if s not in before],
        "removed": [s for s in before if s not in after],
    }


def consent_audit(user: str, event: Event) -> dict[str, Any]:
    """The privacy-topic record of a consent change or an unsubscribe."""
    if event.type is EventType.UNSUBSCRIBE:
        details = {str(event.channel): "withdrawn"}
    else:
        details = {p: "granted" if g else "withdrawn" for p, g in event.consent.items()}
    action = event.type.value
    return audit(user, f"{action}:{event.event_id}", event.ts, action, event.event_id, details)


def audit(
    user: str, audit_id: str, ts: int, action: str, source: str | None, details: dict[str, str]
) -> dict[str, Any]:
    """A privacy-topic record (consent, erasure, expiry)."""
    return {
        "audit_id": audit_id,
        "user_id": user,
        "ts": ts,
        "action": action,
        "source_event_id": source,
        "details": details,
    }


def interaction(user: str, event: Event, segments: tuple[str, ...]) -> list[tuple[str, Any]]:
    """A product event naming its product, as a ``("reco", ("learn", ...))`` output."""
    weight = EVENT_WEIGHTS.get(event.type.value)
    if weight is None:  # most events: not about a product
        return []
    props = event.properties
    item = next((props[k] for k in PRODUCT_KEYS if isinstance(props.get(k), str | int)), None)
    if item is None or item == "":
        return []
    learn = {
        "user": user,
        "item": str(item),
        "weight": weight,
        "ts": event.ts,
        "segment": segments[0] if segments else None,
        "category": props.get("category") if isinstance(props.get("category"), str) else None,
        "price": amount(props.get("price")) or None,
    }
    return [("reco", ("learn", learn))]
