"""The recommender's ranking arrays: they mirror the decayed sums through rescales and
pruning, the collaborative part equals its formula computed by hand over the sums, snapshots
of the versions before them (and before tastes were kept apart) load and rank alike, and a
part weighted 0 adds no candidates."""

from __future__ import annotations

import math
import pickle
import random

import pytest

from models.recommender import Recommender
from models.taste import LegacyUser


def learned(seed: int = 4, half_life_ms: int = 1_000, **options) -> Recommender:
    """A recommender after random interactions spread over many half-lives, so the decayed
    sums are rescaled to new epochs (and, with few neighbours kept, pruned)."""
    rng = random.Random(seed)
    reco = Recommender(half_life_ms=half_life_ms, repeat="allow", **options)
    for n in range(3_000):
        item = f"i{min(int(rng.expovariate(0.08)), 60)}"
        reco.learn(f"u{rng.randrange(80)}", item, rng.choice([1.0, 3.0, 5.0]), ts=n * 100)
    return reco


def test_the_ranking_arrays_mirror_the_decayed_sums_through_rescales_and_pruning() -> None:
    reco = learned(neighbours=4)
    assert any(len(n.sums) < 8 for n in reco.cooc.values())  # pruned somewhere
    for item, neighbours in reco.cooc.items():
        row = reco.rows.rows[item]
        mirrored = {reco.rows.names[i]: v for i, v in zip(row.ids, row.values, strict=True)}
        assert mirrored == {other: sums[0] for other, sums in neighbours.sums.items()}
    popularity = reco.popularity[""]
    for item, sums in popularity.sums.items():
        assert reco.rows.norms[reco.rows.ids[item]] == sums[0]


def test_the_collaborative_part_is_its_formula_over_the_sums() -> None:
    reco = learned(half_life_ms=50_000)
    now = reco.now
    popularity = reco.popularity[""]
    for user in ("u1", "u2", "u3"):
        recent = [item for item, _ts, _w in reco.tastes[user].history]
        by_hand: dict[str, float] = {}
        for rank, item in enumerate(reversed(recent[-5:])):
            neighbours = reco.cooc[item]
            for other, value in neighbours.first(now).items():
                share = (
                    0.8**rank
                    * value
                    / math.sqrt(popularity.sums[item][0] * popularity.sums[other][0])
                )
                by_hand[other] = by_hand.get(other, 0.0) + share
        ranked = sorted(by_hand.items(), key=lambda kv: -kv[1])[:50]
        top = ranked[0][1]
        ids, values = reco._collaborative(recent, now)
        got = dict(zip([reco.rows.names[i] for i in ids], values.tolist(), strict=True))
        assert got.keys() == {item for item, _ in ranked}
        for item, value in ranked:
            assert got[item] == pytest.approx(value / top, rel=1e-9)


def older_snapshot(reco: Recommender) -> bytes:
    """``reco`` pickled as the version before the ranking arrays, the interest table and
    tastes wrote it: users, and item interest as ``item:<id>`` features of the affinity
    table."""
    state = dict(reco.__dict__)
    for name in ("rows", "pop_epoch", "item_features", "tastes"):
        del state[name]
    state["users"], state["affinity"] = {}, {}
    for user, taste in reco.tastes.items():
        state["users"][user] = LegacyUser(list(taste.history), taste.purchased, taste.seen)
        affinity = state["affinity"][user] = pickle.loads(pickle.dumps(taste.affinity))
        interest = taste.interest
        if affinity.epoch is not None:  # one table then: its sums at one epoch, the first
            shift = 2.0 ** ((affinity.epoch - interest.epoch) / reco.half_life_ms)
            affinity.sums = {
                name: [v * shift for v in sums] for name, sums in affinity.sums.items()
            }
        affinity.epoch = interest.epoch
        for item, sums in interest.sums.items():
            affinity.sums[f"item:{item}"] = list(sums)
    old = Recommender.__new__(Recommender)
    old.__dict__.update(state)
    return pickle.dumps(old.__dict__)


def test_a_snapshot_of_the_version_before_loads_and_ranks_alike() -> None:
    reco = learned(half_life_ms=50_000)
    for n in range(20):
        reco.register(f"i{n}", category=f"c{n % 4}")
    reco.learn("u1", "i3", 1.0, ts=reco.now + 1)
    restored = Recommender.__new__(Recommender)
    restored.__setstate__(pickle.loads(older_snapshot(reco)))
    for user in ("u1", "u2", "new"):
        for repeat in ("allow", "never"):
            assert restored.recommend(user, 10, repeat=repeat) == reco.recommend(
                user, 10, repeat=repeat
            )
    assert restored.tastes.keys() == reco.tastes.keys()
    norms = {name: reco.rows.norms[i] for name, i in reco.rows.ids.items()}
    assert {name: restored.rows.norms[i] for name, i in restored.rows.ids.items()} == norms


def test_a_part_weighted_zero_adds_no_candidates() -> None:
    cooccurrence = Recommender(weights=(1.0, 0.0, 0.0, 0.0), repeat="allow")
    hybrid = Recommender(repeat="allow")
    for reco in (cooccurrence, hybrid):
        for user in ("a", "b"):
            reco.learn(user, "x", 1.0, ts=1)
            reco.learn(user, "y", 1.0, ts=2)
    assert cooccurrence.recommend("cold", 5) == []  # no history: nothing co-occurs
    assert hybrid.recommend("cold", 5) == ["y", "x"]  # trending fills in
    assert cooccurrence.recommend("a", 5) == ["x", "y"]
