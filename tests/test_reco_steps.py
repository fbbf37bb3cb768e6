"""The flow's two recommendation steps, the users' half keyed by user and the item model
after it, give the same lists as the recommender in one object: each user's top-k at every
refresh, the trending list and the products of every decision, over a random log with
segments, purchases, campaign exclusions and erasures, including after both steps are
restored from their snapshots. A product past the cap is never recommended, and a snapshot
from before the split restores the item model and the trending list."""

from __future__ import annotations

import pickle
import random

from models.recommender import ItemModel, Recommender
from models.taste import EVENT_WEIGHTS, Ask
from operators.reco_step import POPULAR, RecoState, RecoStep
from operators.taste_step import TasteStep

K, REFRESH_MS = 5, 60_000


def test_the_two_steps_rank_as_the_recommender_in_one_object() -> None:
    rng = random.Random(11)
    campaigns = {"plain": ((), None), "no_socks": (("p3",), "never")}
    tastes, step = TasteStep(refresh_ms=REFRESH_MS, excluded=campaigns.get), RecoStep(k=K)
    whole = Recommender(per_category=2)
    users: dict[str, object] = {}
    state, refreshed = None, {}
    popular_at, last_trending = None, None
    lists = fills = 0
    for n in range(4_000):
        user, ts = f"u{rng.randrange(60)}", n * 5_000
        if n == 2_000:  # crash and restore both steps
            users = {u: pickle.loads(pickle.dumps(s)) for u, s in users.items()}
            state = pickle.loads(pickle.dumps(state))
        if rng.random() < 0.01:  # erasure
            users[user], message = tastes(users.get(user), ("forget", user))
            assert step(state, message)[1] == [("top", (user, None))]
            whole.forget(user)
            refreshed.pop(user, None)
            continue
        if rng.random() < 0.2:  # a decision to fill
            campaign = rng.choice([None, "plain", "no_socks"])
            record = {"user_id": user, "ts": ts, "campaign_id": campaign, "payload": {}}
            users[user], message = tastes(users.get(user), ("decision", record))
            state, out = step(state, message)
            exclude, repeat = campaigns.get(campaign, ((), None))
            expected = whole.recommend(user, K, exclude=exclude, now=ts, repeat=repeat)
            assert out[0][1]["payload"]["products"] == ",".join(expected)
            fills += 1
            if message.publish and users[user] is not None:  # a stranger's list is refreshed
                refreshed[user] = ts  # at their first interaction
            continue
        item, kind = f"p{min(int(rng.expovariate(0.15)), 40)}", rng.choice(list(EVENT_WEIGHTS))
        segment = rng.choice([None, "a", "b"])
        category = f"c{int(item[1:]) % 4}"
        learn = {"user": user, "item": item, "weight": EVENT_WEIGHTS[kind], "ts": ts,
                 "segment": segment, "category": category, "price": None}  # fmt: skip
        users[user], message = tastes(users.get(user), ("learn", learn))
        state, out = step(state, message)
        if item not in whole.items:
            whole.register(item, category=category)
        whole.learn(user, item, learn["weight"], ts, segment)
        if popular_at is None or ts - popular_at >= REFRESH_MS:  # the trending list is due
            popular_at, trending = ts, whole.recommend(POPULAR, K, now=ts)
            if trending != last_trending:
                assert ("top", (POPULAR, trending)) in out
            last_trending = trending
        due = user not in refreshed or ts - refreshed[user] >= REFRESH_MS
        tops = dict(top for tag, top in out if tag == "top")
        assert (user in tops) == due
        if due:
            refreshed[user] = ts
            assert tops[user] == whole.recommend(user, K, segment=segment, now=ts)
            lists += 1
    assert lists > 300 and fills > 500, (lists, fills)


def test_a_product_past_the_cap_is_never_recommended() -> None:
    tastes, step = TasteStep(refresh_ms=REFRESH_MS), RecoStep(k=K, max_products=2)
    users: dict[str, object] = {}
    state = None
    for n, item in enumerate(("a", "b", "capped", "capped")):  # the user keeps coming back
        learn = {"user": "u", "item": item, "weight": 1.0, "ts": n, "category": "c"}
        users["u"], message = tastes(users.get("u"), ("learn", learn))
        state, _ = step(state, message)
    assert "capped" not in state.reco.items and "capped" in users["u"].taste.interest.sums
    record = {"user_id": "u", "ts": 9, "campaign_id": None, "payload": {}}
    users["u"], message = tastes(users["u"], ("decision", record))
    _state, out = step(state, message)
    assert out[0][1]["payload"]["products"].split(",") == ["a", "b"]


def test_a_snapshot_from_before_the_split_restores_the_item_model_and_trending_list() -> None:
    whole = Recommender(per_category=2)
    for n in range(200):
        whole.learn(f"u{n % 7}", f"p{n % 11}", 1.0, ts=n)
    published = {POPULAR: (199, ("p1", "p2")), "u1": (150, ("p3",))}
    restored = RecoState.__new__(RecoState)
    restored.__setstate__(pickle.loads(pickle.dumps({"reco": whole, "published": published})))
    assert type(restored.reco) is ItemModel and not hasattr(restored.reco, "tastes")
    assert restored.popular == published[POPULAR]
    assert restored.reco.rank(Ask.stranger(), K) == whole.recommend("nobody", K)
