"""Profile math: decay against closed form, order independence, merge, encoding."""

from __future__ import annotations

import math
import pickle
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.decay import DecayedFeatures, decayed
from schemas.event import Event, EventType
from schemas.units import DAY_MS
from state.profile import Profile, ProfileConfig

CONFIG = ProfileConfig(half_lives_ms=(DAY_MS, 7 * DAY_MS, 30 * DAY_MS))
KINDS = [
    EventType.PAGE_VIEW,
    EventType.PRODUCT_VIEW,
    EventType.ADD_TO_CART,
    EventType.PURCHASE,
    EventType.OFFER_IMPRESSION,
    EventType.OFFER_CLICK,
    EventType.CONSENT,
    EventType.IDENTIFY,
    EventType.UNSUBSCRIBE,
]


def close(a: object, b: object, rel: float = 1e-9) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)
    return a == b


def assert_same_features(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert close(a[key], b[key]), (key, a[key], b[key])


def make_event(rng: random.Random, i: int, t0: int = 1_700_000_000_000) -> Event:
    kind = rng.choice(KINDS)
    ts = t0 + rng.randrange(60 * DAY_MS)
    props: dict = {}
    if kind in (EventType.PRODUCT_VIEW, EventType.ADD_TO_CART, EventType.PURCHASE):
        props["category"] = rng.choice(["a", "b", "c", "d"])
    if kind is EventType.PURCHASE:
        props["value"] = round(rng.uniform(1, 100), 2)
    channel = (
        rng.choice(["email", "push"])
        if kind in (EventType.OFFER_IMPRESSION, EventType.OFFER_CLICK, EventType.UNSUBSCRIBE)
        else None
    )
    return Event(
        f"e{i}",
        kind,
        "p",
        ts,
        channel=channel,
        properties=props,
        context={"device": rng.choice(["ios", "web"])},
        traits={"plan": rng.choice(["free", "gold"])} if kind is EventType.IDENTIFY else {},
        consent={"email": rng.random() < 0.5} if kind is EventType.CONSENT else {},
    )


def test_decayed_sum_matches_closed_form() -> None:
    rng = random.Random(1)
    feats = DecayedFeatures((DAY_MS, 7 * DAY_MS))
    events = [(rng.randrange(400 * DAY_MS), rng.uniform(0, 5)) for _ in range(500)]
    for ts, w in events:
        feats.add("x", w, ts)
    now = max(ts for ts, _ in events)
    for i, h in enumerate((DAY_MS, 7 * DAY_MS)):
        expected = sum(decayed(w, now - ts, h) for ts, w in events)
        assert math.isclose(feats.value("x", now)[i], expected, rel_tol=1e-9)


def test_rebase_keeps_values() -> None:
    feats = DecayedFeatures((1000,))
    feats.add("x", 1.0, 0)
    feats.add("x", 1.0, 250_000)  # 250 half-lives later: forces a rebase
    assert feats.epoch == 250_000
    assert math.isclose(feats.value("x", 250_000)[0], 1.0 + 2.0**-250, rel_tol=1e-12)


def test_half_life_means_half() -> None:
    feats = DecayedFeatures((DAY_MS,))
    feats.add("x", 10.0, 0)
    assert feats.value("x", DAY_MS) == (5.0,)
    assert feats.value("unseen", DAY_MS) == (0.0,)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 80))
def test_any_arrival_order_gives_the_same_profile(seed: int, n: int) -> None:
    rng = random.Random(seed)
    events = [make_event(rng, i) for i in range(n)]
    in_order, shuffled = Profile(CONFIG), Profile(CONFIG)
    for e in sorted(events, key=lambda e: e.ts):
        in_order.apply(e)
    rng.shuffle(events)
    for e in events:
        shuffled.apply(e)
    assert_same_features(in_order.features(), shuffled.features())
    assert in_order.consent == shuffled.consent


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_merging_two_profiles_equals_one_profile_of_all_events(seed: int) -> None:
    rng = random.Random(seed)
    events = [make_event(rng, i) for i in range(60)]
    whole, left, right = Profile(CONFIG), Profile(CONFIG), Profile(CONFIG)
    for i, e in enumerate(events):
        whole.apply(e)
        (left if i % 3 else right).apply(e)
    left.merge(right)
    assert_same_features(whole.features(), left.features())


def test_exact_facts() -> None:
    p = Profile(CONFIG, "pid")
    p.apply(Event("1", EventType.PURCHASE, "pid", 10 * DAY_MS, properties={"value": 30}))
    p.apply(Event("2", EventType.PURCHASE, "pid", 12 * DAY_MS, properties={"value": 10.5}))
    p.apply(
        Event(
            "3",
            EventType.PAGE_VIEW,
            "pid",
            20 * DAY_MS,
            channel="web",
            context={"device": "ios", "country": "DE"},
        )
    )
    p.apply(
        Event(
            "4",
            EventType.PAGE_VIEW,
            "pid",
            15 * DAY_MS,
            channel="email",
            context={"device": "android"},
        )
    )  # late: does not overwrite the latest
    f = p.features()
    assert (f["purchases"], f["revenue"], f["avg_order_value"]) == (2, 40.5, 20.25)
    assert (f["first_seen"], f["last_seen"], f["days_since_last_purchase"]) == (
        10 * DAY_MS,
        20 * DAY_MS,
        8.0,
    )
    assert (f["last_channel"], f["device"], f["country"]) == ("web", "ios", "DE")
    assert (f["count.purchase"], f["count.page_view"], f["events"]) == (2, 2, 4)


def test_engagement_and_fatigue() -> None:
    p = Profile(ProfileConfig(half_lives_ms=(DAY_MS,)))
    for i in range(3):
        p.apply(Event(f"i{i}", EventType.OFFER_IMPRESSION, "p", 0, channel="push", decision_id="d"))
    p.apply(Event("c", EventType.OFFER_CLICK, "p", 0, channel="push", decision_id="d"))
    f = p.features()
    assert (f["imp:push.1d"], f["eng:push.1d"], f["fatigue.1d"]) == (3.0, 1.0, 2.0)


def test_categories_are_bounded_top_k() -> None:
    p = Profile(ProfileConfig(half_lives_ms=(DAY_MS,), max_categories=2))
    for i, (cat, kind) in enumerate(
        [("a", EventType.PURCHASE), ("b", EventType.PRODUCT_VIEW), ("c", EventType.ADD_TO_CART)]
    ):
        p.apply(Event(str(i), kind, "p", 0, properties={"category": cat}))
    cats = sorted(k for k in p.features() if k.startswith("cat:"))
    assert cats == ["cat:a.1d", "cat:c.1d"] and p.evicted_categories == 1


def test_consent_latest_event_time_wins_with_source() -> None:
    p = Profile(CONFIG)
    p.apply(Event("late", EventType.CONSENT, "p", 200, consent={"email": True}))
    p.apply(Event("early", EventType.CONSENT, "p", 100, consent={"email": False, "sms": True}))
    p.apply(Event("u", EventType.UNSUBSCRIBE, "p", 300, channel="sms"))
    doc = p.to_document()
    assert doc["consent"]["email"] == {"granted": True, "ts": 200, "source": "consent:late"}
    assert doc["consent"]["sms"] == {"granted": False, "ts": 300, "source": "unsubscribe:u"}


def test_encoding_round_trip_and_versioning() -> None:
    rng = random.Random(3)
    p = Profile(CONFIG, "pid")
    for i in range(50):
        p.apply(make_event(rng, i))
    data = p.to_bytes()
    q = Profile.from_bytes(data, CONFIG)
    assert q.to_bytes() == data and q.user_id == "pid"
    assert q.features() == p.features()
    assert not q.apply(Event("e49", EventType.PAGE_VIEW, "pid", 0))  # redelivery window kept
    other = Profile.from_bytes(data, ProfileConfig(half_lives_ms=(DAY_MS,)))
    assert other.features()["events"] == 50 and "spend.1d" not in other.features()
    with pytest.raises(ValueError, match="version"):
        Profile.from_bytes(pickle.dumps((99,)), CONFIG)


def test_encoded_size_per_user_is_small() -> None:
    rng = random.Random(5)
    p = Profile(CONFIG, "0123456789abcdef0123456789abcdef")
    for i in range(40):
        p.apply(make_event(rng, i))
    assert len(p.to_bytes()) < 2048
