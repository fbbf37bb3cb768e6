"""Envelope validation: every rule, with the reason code it must produce."""

from __future__ import annotations

import pytest

from schemas.event import EventType, parse_event, parse_timestamp
from schemas.rejection import Reason, Rejected

BASE = {"event_id": "e1", "type": "page_view", "user_id": "u1", "ts": 1_767_225_600_000}


def reject(raw: object) -> Reason:
    with pytest.raises(Rejected) as info:
        parse_event(raw)
    return info.value.reason


def test_minimal_event_parses_with_defaults() -> None:
    e = parse_event(dict(BASE))
    assert (e.event_id, e.type, e.user_id, e.ts) == ("e1", EventType.PAGE_VIEW, "u1", BASE["ts"])
    assert e.channel is None and e.properties == {} and e.extra == {}


def test_unknown_fields_are_kept_in_extra_and_ignored() -> None:
    e = parse_event({**BASE, "sdk": "ios-3.1", "properties": {"value": 3}})
    assert e.extra == {"sdk": "ios-3.1"}
    assert e.to_record()["sdk"] == "ios-3.1"
    assert "sdk" not in e.to_record(with_extra=False)


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("2026-01-01T00:00:00Z", 1_767_225_600_000),
        ("2026-01-01T01:00:00+01:00", 1_767_225_600_000),
        ("2026-01-01T00:00:00", 1_767_225_600_000),  # naive: UTC
        ("2026-01-01T00:00:00.250Z", 1_767_225_600_250),
        (1_767_225_600_000, 1_767_225_600_000),
        (1_767_225_600_000.0, 1_767_225_600_000),
    ],
)
def test_timestamps_normalize_to_utc_millis(ts: object, expected: int) -> None:
    assert parse_timestamp(ts) == expected


@pytest.mark.parametrize("ts", [True, "soon", "", float("nan"), float("inf"), [1], {"s": 1}, 2**70])
def test_bad_timestamps_are_rejected(ts: object) -> None:
    assert reject({**BASE, "ts": ts}) is Reason.BAD_TIMESTAMP


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"event_id": None}, Reason.MISSING_FIELD),
        ({"user_id": None}, Reason.MISSING_FIELD),
        ({"ts": None}, Reason.MISSING_FIELD),
        ({"type": None}, Reason.MISSING_FIELD),
        ({"user_id": 7}, Reason.WRONG_TYPE),
        ({"event_id": ["e"]}, Reason.WRONG_TYPE),
        ({"user_id": ""}, Reason.INVALID_VALUE),
        ({"user_id": "u" * 257}, Reason.INVALID_VALUE),
        ({"type": "teleport"}, Reason.UNKNOWN_EVENT_TYPE),
        ({"channel": 3}, Reason.WRONG_TYPE),
        ({"properties": [1]}, Reason.WRONG_TYPE),
        ({"properties": {"a": {"b": 1}}}, Reason.WRONG_TYPE),
        ({"properties": {"a": [1]}}, Reason.WRONG_TYPE),
        ({"properties": {"value": float("nan")}}, Reason.NON_FINITE_NUMBER),
        ({"context": {"x": 2**64}}, Reason.INVALID_VALUE),
        ({"consent": {"email": "yes"}}, Reason.WRONG_TYPE),
        ({"type": "consent"}, Reason.MISSING_FIELD),
        ({"type": "offer_click"}, Reason.MISSING_FIELD),
        ({"type": "unsubscribe"}, Reason.MISSING_FIELD),
    ],
)
def test_each_rule_has_its_reason(change: dict, reason: Reason) -> None:
    raw = {**BASE, **change}
    raw = {k: v for k, v in raw.items() if not (k in change and change[k] is None)}
    assert reject(raw) is reason


@pytest.mark.parametrize("raw", [[], "event", 3, None])
def test_non_objects_are_rejected(raw: object) -> None:
    assert reject(raw) is Reason.NOT_AN_OBJECT


def test_type_specific_fields_accepted_when_present() -> None:
    click = parse_event({**BASE, "type": "offer_click", "decision_id": "d1", "channel": "email"})
    consent = parse_event({**BASE, "type": "consent", "consent": {"email": False}})
    assert click.decision_id == "d1" and consent.consent == {"email": False}
