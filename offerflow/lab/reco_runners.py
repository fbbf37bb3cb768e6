"""The recommenders ``offerflow recommend evaluate`` compares (see :mod:`offerflow.lab.reco_eval`),
each as a runner with ``recommend(user, k, ts, banned)`` and ``learn(row)``.

Runners in one process share what they can: the blends of
:class:`~models.recommender.Recommender` learn alike, so they share one recommender (and its
collaborative part, computed once per moment), and only ranking is charged to the second.
:func:`shares` keeps them in one process when it deals the models out to several.

Examples
--------

>>> shares(["popularity", "cooccurrence", "hybrid", "funk_mf"], jobs=1)
[['popularity', 'cooccurrence', 'hybrid', 'funk_mf']]
>>> shares(["popularity", "cooccurrence", "hybrid", "funk_mf"], jobs=2)
[['cooccurrence', 'hybrid'], ['popularity', 'funk_mf']]

"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from models.decay import DecayedFeatures
from models.recommender import Recommender
from models.taste import Ask
from schemas.units import DAY_MS

MODELS = ("hybrid", "cooccurrence", "funk_mf", "popularity")
#: The blends of :class:`~models.recommender.Recommender` evaluated, by model name.
BLENDS = {"hybrid": (1.0, 1.0, 0.3, 0.1), "cooccurrence": (1.0, 0.0, 0.0, 0.0)}


@dataclass(frozen=True)
class Interaction:
    """One line of the log."""

    user: str
    item: str
    ts: int
    weight: float = 1.0
    category: str = ""
    tags: tuple[str, ...] = ()


def shares(names: list[str], jobs: int) -> list[list[str]]:
    """The models each of at most ``jobs`` processes replays: all in one for one job, else
    the blends together in the first (they share, and weigh most) and the others dealt
    round the rest. (Apart, the blends learned twice: 1.5 times the CPU, slower overall.)"""
    blends = [name for name in names if name in BLENDS]
    units = ([blends] if blends else []) + [[name] for name in names if name not in BLENDS]
    if jobs <= 1 or len(units) == 1:
        return [names]
    dealt: list[list[str]] = [units[0]] + [[] for _ in range(min(jobs, len(units)) - 1)]
    for n, unit in enumerate(units[1:]):
        dealt[1 + n % (len(dealt) - 1)] += unit
    return dealt


class Blend:
    """The recommender with one blend's ``weights``; given another blend (``shared``), it
    ranks from that one's recommender, and the user's :class:`~models.taste.Ask` of that
    moment, and learns nothing itself."""

    def __init__(
        self,
        weights: tuple[float, float, float, float],
        per_category: int,
        half_life_ms: int,
        shared: Blend | None = None,
    ) -> None:
        self.weights, self.learns = weights, shared is None
        self.reco = shared.reco if shared else Recommender(
            half_life_ms, weights=weights, per_category=per_category, repeat="allow"
        )  # fmt: skip
        self.asked: list = shared.asked if shared else [None, None]  # the last key and ask

    def recommend(self, user: str, k: int, ts: int, banned: set[str]) -> list[str]:
        key = (user, ts, self.reco.learned)  # the blends ask in turn at each row
        if self.asked[0] != key:
            taste = self.reco.tastes.get(user)
            self.asked[:] = key, taste.ask(ts, "allow", banned) if taste else Ask.stranger(banned)
        return self.reco.rank(self.asked[1], k, now=ts, weights=self.weights)

    def learn(self, row: Interaction) -> None:
        if not self.learns:
            return
        if row.item not in self.reco.items and (row.category or row.tags):
            self.reco.register(row.item, category=row.category, tags=row.tags)
        self.reco.learn(row.user, row.item, row.weight, row.ts)


class Popularity:
    """Time-decayed interaction counts over everybody, ranked exactly at every call: decay
    scales every count by one factor, so the order of the epoch-scaled sums
    (:class:`~models.decay.DecayedFeatures`) is the order now, kept by moving the item just
    learned up the list (ties by item id)."""

    def __init__(self, half_life_ms: int = 7 * DAY_MS) -> None:
        self.sums = DecayedFeatures(half_lives_ms=(half_life_ms,))
        self.order: list[str] = []
        self.place: dict[str, int] = {}

    def recommend(self, user: str, k: int, ts: int, banned: set[str]) -> list[str]:
        return list(itertools.islice((i for i in self.order if i not in banned), k))

    def learn(self, row: Interaction) -> None:
        self.sums.add(row.item, row.weight, row.ts)
        order, place, sums = self.order, self.place, self.sums.sums
        at = place.get(row.item)
        if at is None:
            at = place[row.item] = len(order)
            order.append(row.item)
        key = (-sums[row.item][0], row.item)
        while at > 0 and (-sums[order[at - 1]][0], order[at - 1]) > key:
            order[at] = order[at - 1]
            place[order[at]] = at
            at -= 1
        order[at] = row.item
        place[row.item] = at


class FunkMF:
    """River's online matrix factorization, ranking every item seen so far. River's ``rank``
    predicts item by item; the same scores (the user's latent vector dotted with each item's,
    its public ``u_latents`` and ``i_latents``) come from one matrix product here, with the
    items' vectors kept as rows of an array updated as they learn (about 40 times faster
    with 1,682 items)."""

    def __init__(self) -> None:
        from river import optim, reco

        self.model = reco.FunkMF(n_factors=16, optimizer=optim.SGD(0.05), seed=0)
        self.items: list[str] = []
        self.row: dict[str, int] = {}
        self.latents = np.zeros((0, 16))

    def recommend(self, user: str, k: int, ts: int, banned: set[str]) -> list[str]:
        if not self.items:
            return []
        scores = self.latents[: len(self.items)] @ self.model.u_latents[user]
        ranked = np.argsort(-scores, kind="stable")  # best first, ties in first-seen order
        out: list[str] = []
        for index in ranked:
            item = self.items[index]
            if item not in banned:
                out.append(item)
                if len(out) == k:
                    break
        return out

    def learn(self, row: Interaction) -> None:
        at = self.row.get(row.item)
        if at is None:
            at = self.row[row.item] = len(self.items)
            self.items.append(row.item)
            if at >= len(self.latents):
                self.latents = np.resize(self.latents, (max(64, 2 * at), 16))
        self.model.learn_one(row.user, row.item, row.weight)
        self.latents[at] = self.model.i_latents[row.item]


def runners(names: list[str], per_category: int, half_life_ms: int) -> dict:
    """A runner per model name; the blends share one recommender, since they learn alike."""
    runners: dict = {}
    shared: Blend | None = None
    for name in names:
        if name == "funk_mf":
            runners[name] = FunkMF()
        elif name == "popularity":
            runners[name] = Popularity(half_life_ms)
        elif name in BLENDS:
            runners[name] = Blend(BLENDS[name], per_category, half_life_ms, shared)
            shared = shared or runners[name]
        else:
            raise ValueError(f"unknown model {name!r} (one of {', '.join(MODELS)})")
    return runners
