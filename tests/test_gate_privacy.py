"""The gate's privacy and bounds: signed pseudonymous feedback, issued decision ids, allow-lists,
size bounds, and dead letters that keep no raw personal data when redaction is on."""

from __future__ import annotations

import orjson
import pytest

from operators import metrics
from operators.dead_letter import DeadLetter
from operators.gate_policy import GatePolicy
from operators.ingest import PSEUDONYMOUS_HEADER, SIGNATURE_HEADER, Ingestor, sender_key, sign
from operators.pseudonymize import Pseudonymizer
from schemas.event import Event
from schemas.rejection import Reason

KEY = b"k" * 32
NOW_S = 1_767_225_600.0
NOW_MS = int(NOW_S * 1000)
P = Pseudonymizer(KEY)
GATE = Ingestor(P, clock=lambda: NOW_S)
REDACTING = Ingestor(P, clock=lambda: NOW_S, redact=True)
PID = P.user("zoe-1")
DECISION = "d_0123456789abcdef01234567"


def event(**fields: object) -> bytes:
    body = {"event_id": "zoe-1-7", "type": "page_view", "user_id": "zoe-1", "ts": NOW_MS}
    return orjson.dumps({**body, **fields})


def click(user: str = PID, event_id: str = "offer_click:x") -> bytes:
    return event(type="offer_click", user_id=user, event_id=event_id, decision_id=DECISION)


def refused(result: Event | DeadLetter) -> Reason:
    assert isinstance(result, DeadLetter), result
    return result.reason


def test_pseudonymous_header_is_honoured_only_when_signed_with_the_senders_key() -> None:
    header = (PSEUDONYMOUS_HEADER, b"pseudonymous")
    good = sign(sender_key(KEY), PID, "offer_click:x")
    accepted = GATE(None, click(), [header, (SIGNATURE_HEADER, good)])
    assert isinstance(accepted, Event) and accepted.user_id == PID
    for headers in (
        [header],  # anyone who can write the topic, without a signature
        [header, (SIGNATURE_HEADER, b"0" * 32)],
        [header, (SIGNATURE_HEADER, sign(KEY, PID, "offer_click:x"))],  # the id key is not it
        [header, (SIGNATURE_HEADER, sign(sender_key(KEY), PID, "another-event"))],  # replayed
    ):
        assert refused(GATE(None, click(), headers)) is Reason.UNTRUSTED_PSEUDONYM
    # a separate sender key, as when senders run without the id key
    own = Ingestor(P, clock=lambda: NOW_S, signing_key=b"s" * 32)
    signed = [header, (SIGNATURE_HEADER, sign(b"s" * 32, PID, "offer_click:x"))]
    assert isinstance(own(None, click(), signed), Event)
    # without the header the id is hashed like any raw id: no way to reach the pseudonym
    unsigned = GATE(None, click())
    assert isinstance(unsigned, Event) and unsigned.user_id == P.user(PID) != PID


def test_feedback_must_name_a_decision_id_offerflow_issued() -> None:
    for bad in ("d1", "zoe@example.org", "d_" + "g" * 24, "d_" + "0" * 25):
        result = GATE(None, event(type="offer_click", decision_id=bad))
        assert refused(result) is Reason.INVALID_VALUE


def test_consent_purposes_come_from_the_allow_list() -> None:
    ok = GATE(None, event(type="consent", consent={"marketing": True, "email": False}))
    assert isinstance(ok, Event)
    for purposes in ({"zoe@example.org": True}, {"marketing": True, "x" * 40: True}):
        result = GATE(None, event(type="consent", consent=purposes))
        assert refused(result) is Reason.UNKNOWN_CONSENT_PURPOSE


def test_channels_sources_and_traits_are_mapped_onto_allow_lists_and_counted() -> None:
    before = {
        r: metrics.value("offerflow_bounded_total", reason=r)
        for r in ("channel_other", "source_other", "trait_not_allowed")
    }
    result = GATE(
        None,
        event(
            channel="zoe-1-personal-channel",
            properties={"utm_source": "Newsletter-Zoe-Nov"},
            type="identify",
            traits={"plan": "gold", "favourite_colour": "teal", "x9": 1},
        ),
    )
    assert isinstance(result, Event)
    assert result.channel == "other" and result.properties["utm_source"] == "other"
    assert result.traits == {"plan": "gold"}
    for reason, count in before.items():
        assert metrics.value("offerflow_bounded_total", reason=reason) == count + 1, reason


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"properties": {f"k{i}": i for i in range(65)}}, Reason.TOO_MANY_FIELDS),
        ({"properties": {"blob": "x" * 1025}}, Reason.STRING_TOO_LONG),
        ({"properties": {"k" * 65: 1}}, Reason.STRING_TOO_LONG),
        ({"properties": {"product_id": "p" * 65}}, Reason.STRING_TOO_LONG),
        ({"properties": {"n": 2.0**64}}, Reason.VALUE_OUT_OF_RANGE),  # JSON 2^64 reads as this
        ({"properties": {"n": -1e16}}, Reason.VALUE_OUT_OF_RANGE),
        ({"type": "purchase", "properties": {"value": -1e6}}, Reason.VALUE_OUT_OF_RANGE),
        ({"type": "purchase", "properties": {"value": 1e308}}, Reason.VALUE_OUT_OF_RANGE),
        ({"type": "purchase", "properties": {"value": 1e9 + 1}}, Reason.VALUE_OUT_OF_RANGE),
    ],
)
def test_client_controlled_sizes_and_ranges_are_refused(fields: dict, reason: Reason) -> None:
    assert refused(GATE(None, event(**fields))) is reason


def test_bounds_are_configurable() -> None:
    gate = Ingestor(P, clock=lambda: NOW_S, policy=GatePolicy(max_string=2000, max_value=1e12))
    assert isinstance(gate(None, event(properties={"blob": "x" * 1500})), Event)
    assert isinstance(gate(None, event(type="purchase", properties={"value": 1e10})), Event)


def test_redacted_dead_letters_keep_no_raw_personal_data() -> None:
    cases = [
        event(type="teleport", traits={"email": "zoe@example.org"}),  # decodable: scrubbed
        b'{"user_id": "zoe-1", "email": "zoe@example.org", "ts": ',  # undecodable: withheld
        event(type="zoe@example.org"),  # the detail echoes the type
        click(event_id="zoe-1-9"),  # unsigned header below: detail and value scrubbed
    ]
    for value in cases:
        letter = REDACTING(b"zoe-1", value, [(PSEUDONYMOUS_HEADER, b"pseudonymous")])
        assert isinstance(letter, DeadLetter)
        text = repr(letter.to_record())
        assert "zoe" not in text, text
        assert letter.key == P.user("zoe-1").encode()
    withheld = REDACTING(b"zoe-1", cases[1])
    assert withheld.value is None and P.digest(cases[1]) in withheld.detail
    kept = REDACTING(b"zoe-1", cases[0])
    assert orjson.loads(kept.value)["type"] == "teleport"  # still useful to the operator
    assert orjson.loads(kept.value)["traits"] == {
        "email_hash": P.contact("email", "zoe@example.org")
    }
    # off (the dev default), the original bytes are kept to be fixed and replayed
    assert GATE(b"zoe-1", cases[1]).value == cases[1]
