"""The ingestion gate: whatever the bytes, exactly one outcome and never an exception."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offerflow.devstack.sample import email_of, generate, phone_of
from operators.dead_letter import DeadLetter, Origin
from operators.ingest import Ingestor
from operators.pseudonymize import Pseudonymizer
from schemas import codec
from schemas.event import Event
from schemas.rejection import Reason

NOW_S = 1_767_225_600.0
NOW_MS = int(NOW_S * 1000)
GATE = Ingestor(Pseudonymizer(b"k" * 32), clock=lambda: NOW_S)
REDACTING = Ingestor(Pseudonymizer(b"k" * 32), clock=lambda: NOW_S, redact=True)
VALID = {
    "event_id": "e1",
    "type": "identify",
    "user_id": "raw-user-1",
    "ts": NOW_MS - 5,
    "traits": {"email": "raw@example.com", "plan": "gold"},
    "channel": "web",
}


def outcome(result: Event | DeadLetter) -> str:
    """Accepted or dead; a dead letter must name a specific reason, never ``internal_error``
    (the gate's catch-all for its own bugs), and say what was wrong."""
    assert isinstance(result, Event | DeadLetter)
    if isinstance(result, Event):
        return "accepted"
    assert result.reason is not Reason.INTERNAL_ERROR, result.detail
    assert result.detail
    return "dead"


def test_valid_event_is_pseudonymized_and_scrubbed() -> None:
    result = GATE(b"k", orjson.dumps(VALID))
    assert isinstance(result, Event)
    assert result.user_id == Pseudonymizer(b"k" * 32).user("raw-user-1")
    assert "email" not in result.traits and "email_hash" in result.traits


def test_dead_letter_keeps_origin_and_original_bytes() -> None:
    origin = Origin("offerflow.events", 3, 77, 1234)
    result = GATE(b"key", b"{broken", (), origin)
    assert isinstance(result, DeadLetter)
    record = result.to_record()
    assert record["reason"] == "unparseable" and record["original_value"] == b"{broken"
    assert record["original_key"] == b"key" and record["dead_letter_id"] == "offerflow.events:3:77"
    assert codec.decode("dead_letter", codec.encode("dead_letter", record, "json")) == record


def test_time_window_is_configurable() -> None:
    gate = Ingestor(Pseudonymizer(b"k" * 32), max_age_s=60, max_future_s=1, clock=lambda: NOW_S)
    old = gate(None, orjson.dumps({**VALID, "ts": NOW_MS - 61_000}))
    future = gate(None, orjson.dumps({**VALID, "ts": NOW_MS + 2_000}))
    edge = gate(None, orjson.dumps({**VALID, "ts": NOW_MS - 60_000}))
    assert old.reason is future.reason is Reason.TIMESTAMP_OUT_OF_RANGE  # type: ignore[union-attr]
    assert isinstance(edge, Event)


def test_size_limit_applies_before_parsing() -> None:
    gate = Ingestor(Pseudonymizer(b"k" * 32), max_bytes=100, clock=lambda: NOW_S)
    result = gate(None, b"{" * 101)
    assert isinstance(result, DeadLetter) and result.reason is Reason.TOO_LARGE


def test_forced_input_format() -> None:
    avro = codec.encode(
        "event",
        {
            **VALID,
            "channel": None,
            "campaign_id": None,
            "decision_id": None,
            "properties": {},
            "context": {},
            "consent": {},
        },
        "avro",
    )
    gate = Ingestor(Pseudonymizer(b"k" * 32), input_format="avro", clock=lambda: NOW_S)
    assert isinstance(gate(None, avro), Event)
    assert isinstance(GATE(None, avro, [("content-type", b"avro/binary")]), Event)
    assert isinstance(GATE(None, avro), DeadLetter)  # sniffed as JSON without the header


def test_generated_samples_get_their_expected_outcome() -> None:
    for sample in generate(3_000, seed=3, malformed_rate=0.2, now_ms=NOW_MS):
        result = GATE(sample.key, sample.value)
        if sample.expect in ("valid", "duplicate"):
            assert isinstance(result, Event), (sample, result)
            assert sample.user not in repr(result)
            assert email_of(sample.user) not in repr(result)
            assert phone_of(sample.user) not in repr(result)
        else:
            assert isinstance(result, DeadLetter) and result.reason.value == sample.expect


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_never_raise(data: bytes) -> None:
    outcome(GATE(b"k", data))
    outcome(REDACTING(b"k", data))  # redaction never raises either


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_behind_a_wire_header_never_raise(body: bytes) -> None:
    assert outcome(GATE(None, b"\x00\x00\x00\x00\x01" + body)) in ("accepted", "dead")


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=1500, deadline=None)
@given(
    field=st.sampled_from([*VALID, "properties", "context", "consent", "decision_id", "extra"]),
    value=_json_values,
    drop=st.booleans(),
)
def test_mutated_valid_events_never_raise(field: str, value: object, drop: bool) -> None:
    raw = dict(VALID)
    if drop:
        raw.pop(field, None)
    else:
        raw[field] = value
    try:
        data = orjson.dumps(raw)
    except TypeError:  # e.g. an integer orjson cannot encode: mutate the bytes instead
        data = orjson.dumps(VALID)[:-3]
    outcome(REDACTING(b"raw-user-1", data))
    result = GATE(b"k", data)
    if outcome(result) == "accepted":
        assert "raw-user-1" not in repr(result) and "raw@example.com" not in repr(result)
    else:
        assert result.value == data


@settings(max_examples=500, deadline=None)
@given(cut=st.integers(min_value=0, max_value=400), flip=st.integers(min_value=0, max_value=255))
def test_corrupted_avro_never_raises(cut: int, flip: int) -> None:
    record = {
        **VALID,
        "campaign_id": None,
        "decision_id": None,
        "properties": {"v": 1.5},
        "context": {},
        "consent": {},
    }
    data = bytearray(codec.encode("event", record, "confluent"))
    if cut < len(data):
        data[cut] ^= flip
    assert outcome(GATE(None, bytes(data[: max(5, len(data) - cut % 7)]))) in ("accepted", "dead")
