"""The API's parts that need no server: keys, rate limits, the mapping of Segment's calls, and
the producer's failure count."""

from __future__ import annotations

import asyncio
import time

import pytest

from offerflow.api.envelope import to_envelope
from offerflow.api.keys import KeyRing, new_key
from offerflow.api.limits import RateLimiter
from offerflow.api.producer import AsyncProducer, Record


def test_keys_file_problems_are_one_line_each() -> None:
    _key, entry = new_key("ok", ["read"])
    bad = {
        "not toml [": "not TOML",
        '[[key]]\nid = "a b"': "id must be",
        '[[key]]\nid = "a"\nsha256 = "xyz"': "sha256 must be",
        entry.replace('["read"]', '["fly"]'): "scopes must be",
        entry + "rate = 0\n": "rate must be",
        entry + entry: "share an id",
    }
    for text, message in bad.items():
        with pytest.raises(ValueError, match=message) as err:
            KeyRing.parse(text)
        assert "\n" not in str(err.value)


def test_a_key_is_checked_by_its_secret_and_keeps_its_scopes_and_rate() -> None:
    key, entry = new_key("web", ["collect", "decide"], rate=5)
    ring = KeyRing.parse(entry)
    found = ring.verify(key)
    assert found is not None and found.scopes == {"collect", "decide"} and found.rate == 5
    kid, secret = key.split(".", 1)
    assert key not in entry and secret not in entry  # only the hash is kept
    assert ring.verify(f"{kid}.{secret[:-1]}") is None and ring.verify(f"other.{secret}") is None
    assert ring.verify(f"{kid}.") is None and ring.verify("") is None


def test_rate_limiter_refills_at_the_rate_and_keys_are_independent() -> None:
    now = [100.0]
    limiter = RateLimiter(clock=lambda: now[0])
    granted = sum(limiter.take("a", rate=10) == 0.0 for _ in range(15))
    assert granted == 10 and limiter.take("b", rate=10) == 0.0
    wait = limiter.take("a", rate=10)
    assert 0.0 < wait <= 0.1
    now[0] += 1.0
    assert sum(limiter.take("a", rate=10) == 0.0 for _ in range(15)) == 10


def test_segment_calls_map_onto_the_envelope() -> None:
    ts = "2026-01-01T00:00:00Z"
    track = to_envelope(
        {
            "type": "track", "event": "Product Added", "anonymousId": "anon-1",
            "messageId": "m1", "timestamp": ts,
            "properties": {"product_id": "p1", "decision_id": "d_1", "tags": ["x"]},
            "context": {"ip": "10.0.0.1", "device": {"type": "ios"}, "locale": "de-DE"},
        },
        now_ms=5,
    )  # fmt: skip
    assert track.event == {
        "event_id": "m1", "type": "add_to_cart", "user_id": "anon-1", "ts": ts,
        "properties": {"product_id": "p1"}, "decision_id": "d_1",
        "context": {"device": "ios", "locale": "de-DE"}, "traits": {},
    }  # fmt: skip
    assert track.ignored == ("properties.tags",)
    page = to_envelope({"type": "page", "userId": "u", "name": "Home"}, now_ms=5).event
    assert (page["type"], page["ts"], page["properties"]) == ("page_view", 5, {"name": "Home"})
    assert page["event_id"].startswith("api-")
    ident = to_envelope({"type": "identify", "userId": "u", "traits": {"plan": "pro"}}, 0)
    assert ident.event["type"] == "identify" and ident.event["traits"] == {"plan": "pro"}
    named = to_envelope({"type": "track", "event": "Offer Click", "userId": "u"}, 0)
    assert named.event["type"] == "offer_click"
    unknown = to_envelope({"type": "track", "event": "Signed Up", "userId": "u"}, 0)
    assert unknown.event["type"] == "Signed Up"  # the gate refuses it with its reason
    assert to_envelope([1], 0).event == [1]


def test_a_producer_reporting_errors_only_still_counts_a_failed_delivery() -> None:
    async def post_to_nowhere() -> int:
        producer = AsyncProducer({"bootstrap.servers": "127.0.0.1:1"}, 300, errors_only=True)
        producer.start()
        producer.post([Record("t", None, b"x")])
        with pytest.raises(TypeError, match="cannot send"):
            await producer.send([Record("t", None, b"y")])
        deadline = time.monotonic() + 10
        while producer.failures == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await producer.close(0.1)
        return producer.failures

    assert asyncio.run(post_to_nowhere()) == 1
