"""Round trips for every schema in every wire format, and decoding failures."""

from __future__ import annotations

import io
import json
from importlib import resources
from pathlib import Path

import fastavro
import pytest

from schemas import codec, registry
from schemas.event import parse_event
from schemas.rejection import Reason, Rejected

EXAMPLES = {
    "event": {
        "event_id": "e1",
        "type": "purchase",
        "user_id": "u1",
        "ts": 1_767_225_600_000,
        "channel": "web",
        "campaign_id": None,
        "decision_id": "d1",
        "properties": {"value": 19.5, "qty": 2, "gift": False, "note": None, "sku": "s"},
        "context": {"device": "ios"},
        "traits": {},
        "consent": {"email": True},
    },
    "decision": {
        "decision_id": "d1",
        "user_id": "p1",
        "ts": 1,
        "expires_at": 2,
        "request_event_id": "e1",
        "trigger": "request",
        "channel": "email",
        "campaign_id": "c1",
        "offer_id": "o1",
        "payload": {"subject": "Hi"},
        "segment": "high_value",
        "policy": "thompson",
        "propensity": 0.25,
        "experiment_id": None,
        "variant": None,
        "model_version": "v1",
        "reason": None,
    },
    "attribution": {
        "attribution_id": "e9:linear",
        "conversion_id": "e9",
        "user_id": "p1",
        "ts": 5,
        "model": "linear",
        "conversion_value": 30.0,
        "currency": "EUR",
        "credits": [
            {
                "channel": "email",
                "campaign_id": "c1",
                "decision_id": "d1",
                "ts": 1,
                "fraction": 0.5,
                "value": 15.0,
            },
            {
                "channel": "direct",
                "campaign_id": None,
                "decision_id": None,
                "ts": None,
                "fraction": 0.5,
                "value": 15.0,
            },
        ],
    },
    "segment_change": {
        "change_id": "p1:e1",
        "user_id": "p1",
        "ts": 3,
        "segments": ["new", "vip"],
        "added": ["vip"],
        "removed": [],
    },
    "privacy_audit": {
        "audit_id": "a1",
        "user_id": "p1",
        "ts": 4,
        "action": "erase",
        "source_event_id": "e7",
        "details": {"redis_keys": "3"},
    },
    "drift_detection": {
        "campaign_id": "spring_sale",
        "segment": "student",
        "stream": "reward",
        "offer_id": "pct20",
        "ts": 5,
        "detector": "adwin",
        "response": "shrink",
        "mean_before": 0.11,
        "recent_mean": 0.04,
        "detections": 1,
        "rewards": 4000,
    },
    "dead_letter": {
        "dead_letter_id": "t:0:5",
        "reason": "unparseable",
        "detail": "bad",
        "source_topic": "t",
        "source_partition": 0,
        "source_offset": 5,
        "source_ts": 123,
        "original_key": b"k\x00",
        "original_value": b"\xff{",
    },
}


def test_every_schema_has_an_example() -> None:
    assert set(EXAMPLES) == set(registry.names())


@pytest.mark.parametrize("name", sorted(EXAMPLES))
@pytest.mark.parametrize("fmt", codec.FORMATS)
def test_round_trip(name: str, fmt: codec.Format) -> None:
    record = EXAMPLES[name]
    assert fastavro.validate(record, registry.schema(name), raise_errors=True)
    assert codec.decode(name, codec.encode(name, record, fmt), fmt) == record


@pytest.mark.parametrize("fmt", codec.FORMATS)
def test_json_and_avro_events_map_to_the_same_event(fmt: codec.Format) -> None:
    event = parse_event(codec.decode("event", codec.encode("event", EXAMPLES["event"], fmt), fmt))
    assert event == parse_event(EXAMPLES["event"])
    assert event.to_record() == EXAMPLES["event"]


def test_dead_letter_bytes_are_base64_in_json() -> None:
    data = codec.encode("dead_letter", EXAMPLES["dead_letter"], "json")
    assert b'"original_value":"/3s="' in data


def test_confluent_header_carries_the_schema_id() -> None:
    data = codec.encode("decision", EXAMPLES["decision"], "confluent")
    assert data[:5] == b"\x00\x00\x00\x00\x02"
    assert codec.schema_name_of(data) == "decision"


def test_schema_id_overrides() -> None:
    try:
        registry.use_ids(registry.parse_id_overrides("event=101"))
        data = codec.encode("event", EXAMPLES["event"], "confluent")
        assert data[1:5] == (101).to_bytes(4, "big")
        assert codec.decode("event", data) == EXAMPLES["event"]
        with pytest.raises(ValueError):
            registry.use_ids({"event": 2})  # clashes with decision
    finally:
        registry.use_ids({})
    with pytest.raises(ValueError):
        registry.parse_id_overrides("nosuch=3")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00\x00\x00\x00\x01", Reason.AVRO_DECODE_ERROR),  # header, no body
        (b"\x00\x00\x00", Reason.AVRO_DECODE_ERROR),
        (b"\x00\x00\x00\x00\x09" + bytes(8), Reason.UNKNOWN_SCHEMA_ID),
        (b"\x00\x00\x00\x00\x02" + bytes(8), Reason.UNKNOWN_SCHEMA_ID),  # a decision, not event
        (b'{"a": NaN}', Reason.NON_FINITE_NUMBER),
        (b'{"a": -Infinity}', Reason.NON_FINITE_NUMBER),
        (b"[" * 2000 + b"]" * 2000, Reason.TOO_DEEP),
        (b"\xc3\x28", Reason.INVALID_UTF8),
    ],
)
def test_decode_failures_have_reasons(data: bytes, reason: Reason) -> None:
    with pytest.raises(Rejected) as info:
        codec.decode("event", data)
    assert info.value.reason is reason


def test_trailing_bytes_are_refused() -> None:
    data = codec.encode("event", EXAMPLES["event"], "avro") + b"\x00"
    with pytest.raises(Rejected, match="trailing"):
        codec.decode("event", data, "avro")


def test_content_type_header_selects_schemaless_avro() -> None:
    data = codec.encode("event", EXAMPLES["event"], "avro")
    assert codec.sniff_format(data, [("Content-Type", b"avro/binary; v=1")]) == "avro"
    assert codec.sniff_format(data, [("content-type", b"application/json")]) == "json"


def _event_schema(change) -> dict:
    """The shipped event schema, changed by ``change(fields)``: another writer's version."""
    schema = json.loads((resources.files("schemas") / "event.avsc").read_text())
    change(schema["fields"])
    return schema


def _added_field(fields: list) -> None:
    fields.append({"name": "app_version", "type": ["null", "string"], "default": None})


def _removed_field_with_default(fields: list) -> None:
    fields[:] = [f for f in fields if f["name"] != "campaign_id"]


def _removed_required_field(fields: list) -> None:
    fields[:] = [f for f in fields if f["name"] != "event_id"]


def _changed_type(fields: list) -> None:
    next(f for f in fields if f["name"] == "ts")["type"] = "string"


def _framed(schema_id: int, schema: dict, record: dict) -> bytes:
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(schema), record)
    return b"\x00" + schema_id.to_bytes(4, "big") + body.getvalue()


def test_writer_schemas_resolve_into_the_reader_or_are_refused(tmp_path: Path) -> None:
    paths = {}
    for schema_id, change in enumerate(
        (_added_field, _removed_field_with_default, _removed_required_field, _changed_type), 17
    ):
        paths[schema_id] = tmp_path / f"{schema_id}.avsc"
        paths[schema_id].write_text(json.dumps(_event_schema(change)))
    base = {"event_id": "e1", "type": "page_view", "user_id": "u", "ts": 5, "channel": "web",
            "campaign_id": "c", "decision_id": None, "properties": {}, "context": {},
            "traits": {}, "consent": {}}  # fmt: skip
    spec = ",".join(f"event={i}:{p}" for i, p in paths.items())
    registry.use_writers(registry.parse_writers(spec))
    try:
        added = codec.decode("event", _framed(17, _event_schema(_added_field),
                                              {**base, "app_version": "2.1"}))  # fmt: skip
        assert added == base  # the new field is skipped
        removed = {k: v for k, v in base.items() if k != "campaign_id"}
        got = codec.decode(
            "event", _framed(18, _event_schema(_removed_field_with_default), removed)
        )
        assert got == {**base, "campaign_id": None}  # the reader's default
        for schema_id, change, record in (
            (19, _removed_required_field, {k: v for k, v in base.items() if k != "event_id"}),
            (20, _changed_type, {**base, "ts": "yesterday"}),
        ):
            with pytest.raises(Rejected) as refused:
                codec.decode("event", _framed(schema_id, _event_schema(change), record))
            assert refused.value.reason is Reason.INCOMPATIBLE_SCHEMA
            assert "cannot be read as event" in refused.value.detail
        with pytest.raises(Rejected, match="unknown_schema_id"):
            codec.decode("event", _framed(21, _event_schema(_added_field), base))
    finally:
        registry.use_writers({})


def test_bad_writer_schema_specs_are_refused_with_their_entry(tmp_path: Path) -> None:
    for spec in ("event=x:/a.avsc", "nope=17:/a.avsc", "event=17", f"event=17:{tmp_path}/no"):
        with pytest.raises(ValueError, match="writer schema"):
            registry.parse_writers(spec)
    with pytest.raises(ValueError, match="catalogue ids"):
        (tmp_path / "e.avsc").write_text(json.dumps(_event_schema(_added_field)))
        registry.use_writers(registry.parse_writers(f"event=1:{tmp_path}/e.avsc"))
