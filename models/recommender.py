"""Streaming product recommendations: a hybrid of time-decayed item-item co-occurrence, the
user's category and tag affinity, and time-decayed popularity, with business rules.

``learn(user, item, weight, ts)`` folds one interaction in; ``recommend(user, k)`` ranks
candidate items by

``score = w_collab * collaborative + w_personal * personal + w_content * content
+ w_popular * popularity``

- **collaborative**: co-occurrence of the candidate with the user's recent items, each pair
  counted when one user interacts with both (weights multiplied), decayed with half-life
  ``half_life_ms`` of event time, normalized like a cosine (by the items' decayed
  popularities) and weighted by the user's recency;
- **personal**: the user's own decayed interest in the item (people come back to what they
  looked at: "recently viewed", "buy again" when ``repeat`` allows it);
- **content**: the user's decayed affinity for the candidate's category and tags, so a new
  item gets exposure from its metadata alone;
- **popularity**: trending items (decayed interaction weight), within the user's segment when
  one is given: the cold-start answer for a user with no history.

Each part is scaled to [0, 1] over the candidates; a part weighted 0 is not computed and
brings no candidates. Business rules: the ``repeat`` policy
decides what the user already had may come back (``never``: nothing they interacted with, for
one-off consumption such as films, articles or trips; ``purchased``: anything but what they
bought; ``allow``: everything), out-of-stock items and ``exclude`` never appear, and no more
than ``per_category`` items of one category make a top-k (greedy, by score).

Examples
--------

>>> reco = Recommender(per_category=2)
>>> for item, category in [("a", "shoes"), ("b", "shoes"), ("c", "bags"), ("d", "shoes")]:
...     reco.register(item, category=category)
>>> for user in ("u1", "u2", "u3"):  # people who look at a also look at c
...     reco.learn(user, "a", 1.0, ts=0)
...     reco.learn(user, "c", 1.0, ts=1)
>>> reco.learn("u4", "b", 1.0, ts=2)
>>> reco.recommend("new", k=2, now=3)  # cold start: trending (c is the more recent)
['c', 'a']
>>> reco.recommend("u9", k=3, now=3, history=["a"], exclude=["a"])  # a's neighbour, shoes
['c', 'b', 'd']
>>> reco.recommend("u1", k=2, now=3), reco.recommend("u1", k=2, now=3, repeat="never")
(['a', 'c'], ['b', 'd'])

"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from models.decay import DecayedFeatures
from models.item_features import Item, ItemFeatures
from models.item_rows import ItemRows, largest
from models.taste import REPEATS, Ask, History, LegacyUser, Taste, from_tables, scaled
from schemas.units import DAY_MS

#: A part of the blend: item numbers (:class:`~models.item_rows.ItemRows`) and their values.
Part = tuple[np.ndarray, np.ndarray]


_User = LegacyUser  # the name snapshots taken before tastes were kept apart use


class ItemModel:
    """The shared half of the hybrid recommender: the catalogue, popularity and
    co-occurrence, and the ranking (see the module docstring; each user's half is a
    :class:`~models.taste.Taste`).

    Parameters
    ----------
    half_life_ms
        Decay of co-occurrence and popularity, in event time.
    neighbours
        Co-occurring items kept per item (the strongest).
    weights
        ``(collaborative, personal, content, popularity)`` weights of the blend.
    per_category
        Most items of one category in a top-k (diversity).

    """

    def __init__(
        self,
        half_life_ms: int = 7 * DAY_MS,
        neighbours: int = 50,
        weights: tuple[float, float, float, float] = (1.0, 1.0, 0.3, 0.1),
        per_category: int = 3,
    ) -> None:
        self.half_life_ms = half_life_ms
        self.neighbours = neighbours
        self.weights = weights
        self.per_category = per_category
        self.items: dict[str, Item] = {}
        self.unavailable: set[str] = set()  # out of stock
        self.by_feature: dict[str, dict[str, None]] = {}  # category / tag -> items, in order
        self.popularity: dict[str, DecayedFeatures] = {}  # segment ("" for all) -> items
        self.cooc: dict[str, DecayedFeatures] = {}
        self.rows = ItemRows()  # co-occurrence and popularity sums as arrays, for ranking
        self.item_features = ItemFeatures()  # catalogue features by item number, for ranking
        self.pop_epoch: int | None = None
        self.now = 0
        self.learned = 0
        self._trending: dict[str, tuple[int, Part]] = {}
        self._by_feature_top: dict[str, tuple[int, np.ndarray]] = {}
        self._last_collaborative: tuple[tuple | None, Part | None] = (None, None)

    # -- learning ------------------------------------------------------------------------

    def register(
        self,
        item: str,
        category: str = "",
        price: float | None = None,
        tags: Iterable[str] = (),
        in_stock: bool = True,
    ) -> None:
        """Add or update an item's metadata (a catalog file, or a ``product_view``'s properties)."""
        old = self.items.get(item)
        for feature in old.features if old else ():
            self.by_feature.get(feature, {}).pop(item, None)
        meta = self.items[item] = Item(item, category, price, tuple(tags), in_stock)
        (self.unavailable.discard if in_stock else self.unavailable.add)(item)
        for feature in meta.features:
            self.by_feature.setdefault(feature, {})[item] = None
        self.item_features.set(self.rows.id(item), meta.features)

    def learn_item(
        self, item: str, weight: float, ts: int, segment: str | None, history: History
    ) -> None:
        """The shared half of one interaction with ``item`` (weights: ``EVENT_WEIGHTS``):
        its popularity, and its co-occurrence with the user's ``history`` before it."""
        self.now = max(self.now, ts)
        self.learned += 1
        if item not in self.items:
            self.items[item] = Item(item)
        for scope in ("", segment) if segment else ("",):
            self._decayed(self.popularity, scope).add(item, weight, ts)
        self._mirror_popularity(item)
        for other, _when, other_weight in history:
            if other != item:
                self._pair(item, other, weight * other_weight, ts)
                self._pair(other, item, weight * other_weight, ts)

    def __setstate__(self, state: dict) -> None:
        """Read snapshots of every version (see :meth:`Recommender.__setstate__` too)."""
        self._last_collaborative = (None, None)
        self.__dict__.update(state)
        if "unavailable" not in state:
            self.unavailable = {item for item, meta in self.items.items() if not meta.in_stock}
        if "rows" not in state:  # no array mirrors yet: build them
            self.rows, self.pop_epoch = ItemRows(), None
            for item in self.cooc:
                self._mirror_row(item)
            self._mirror_popularity(None)
        if "rows" not in state or "item_features" not in state:  # and caches held names
            self.item_features = ItemFeatures()
            for item, meta in self.items.items():
                self.item_features.set(self.rows.id(item), meta.features)
            self._trending, self._by_feature_top = {}, {}

    # -- ranking -------------------------------------------------------------------------

    def rank(self, ask: Ask, k: int = 10, segment: str | None = None, now: int | None = None,
             weights: tuple[float, float, float, float] | None = None) -> list[str]:  # fmt: skip
        """The top ``k`` items for a user's ``ask`` (:meth:`Taste.ask <models.taste.Taste.ask>`;
        :meth:`Ask.stranger <models.taste.Ask.stranger>` for a user with none); ``weights``
        overrides the blend's (e.g. to rank by one part)."""
        now = self.now if now is None else now
        recent, banned = list(ask.recent), ask.banned
        # a user's interest may name products the model left out (past its cap): those are
        # neither numbered nor recommended
        personal = {item: v for item, v in ask.personal.items() if item in self.items}
        w_collab, w_personal, w_content, w_popular = weights or self.weights
        # Scores by item number, parts added in the blend's order; one weighted 0 is neither
        # computed nor a source of candidates.
        scores = np.zeros(len(self.rows.names))
        candidate = np.zeros(len(self.rows.names), dtype=bool)
        for weight, part in (
            (w_collab, self._collaborative(recent, now) if w_collab else None),
            (w_personal, self.rows.numbered(personal) if w_personal and personal else None),
            (w_popular, self._popular(segment or "", now) if w_popular else None),
        ):
            if part is not None:
                scores[part[0]] += weight * part[1]
                candidate[part[0]] = True
        content = {}
        if w_content:
            content = ask.content if ask.content is not None else self._content(recent)
        # sorted()[:3] is heapq.nlargest's documented equivalent, cheaper on a few features
        for feature in sorted(content, key=content.__getitem__, reverse=True)[:3]:
            candidate[self._feature_top(feature, 20)] = True
        # left out by number: fewer lookups than checking every candidate's name and stock
        numbers, names = self.rows.ids, self.rows.names
        out = itertools.chain(banned, self.unavailable)
        candidate[[n for item in out if (n := numbers.get(item)) is not None]] = False
        kept = candidate.nonzero()[0].tolist()  # (methods: NumPy's wrappers cost here)
        kept.sort(key=names.__getitem__)  # the stable sort by score keeps ties in name order
        ids = np.array(kept, dtype=np.intp)
        ranked = scores[ids]
        if content:
            ranked += w_content * self.item_features.best(ids, content)
        order = (-ranked).argsort(kind="stable").tolist()
        if self.per_category >= k:  # no category can fill up: the diversity rule cannot act
            return [names[kept[j]] for j in order[:k]]
        return self._diverse((names[kept[j]] for j in order), k)

    def _collaborative(self, recent: list[str], now: int) -> Part:
        """Neighbours of the user's last five items, each item's weighted by its recency and
        its cooccurrence, divided by the popularities of both ends (cosine-like)."""
        # Popularities share one epoch: their raw sums are the decayed values times one
        # common factor, which the final scaling cancels.
        key = (tuple(recent[-5:]), now, self.learned)
        if self._last_collaborative[0] == key:  # two rankings of one moment (e.g. blends)
            return self._last_collaborative[1]
        popularity = self._decayed(self.popularity, "").sums
        weighted = []
        for rank, item in enumerate(reversed(key[0])):
            neighbours = self.cooc.get(item)
            if neighbours is not None:
                scale = 0.8**rank / math.sqrt(popularity.get(item, (1.0,))[0])
                weighted.append((item, scale * neighbours.factor(now)))
        part = self.rows.cosine_top(weighted, 50)
        self._last_collaborative = (key, part)
        return part

    def _popular(self, segment: str, now: int, n: int = 50) -> Part:
        """Trending items (in ``segment``, or overall when it has none), recomputed after a
        tenth more interactions (at most every 100): a ranking that moves slowly."""
        if segment not in self.popularity:
            segment = ""
        cached = self._trending.get(segment)
        if cached is None or self._stale(cached[0]):
            # one decay factor for all: rank the raw sums, decay only the n kept
            popularity = self._decayed(self.popularity, segment)
            top = largest(list(popularity.sums), (v[0] for v in popularity.sums.values()), n)
            cached = (self.learned, self.rows.numbered(scaled(popularity.first(now, top))))
            self._trending[segment] = cached
        return cached[1]

    def _content(self, recent: list[str]) -> dict[str, float]:
        """Affinity counted from the recent items' features: a history given without a
        taste (evaluation) or a taste without features."""
        counts: dict[str, float] = {}
        for item in recent:
            for feature in (self.items.get(item) or Item(item)).features:
                counts[feature] = counts.get(feature, 0.0) + 1.0
        return scaled(counts)

    def _feature_top(self, feature: str, n: int) -> np.ndarray:
        """The numbers of a category's (or tag's) most popular items and its newest unseen
        ones, recomputed like the trending list (at most every 100 interactions):
        candidates of the content part (content-based exposure for new items)."""
        cached = self._by_feature_top.get(feature)
        if cached is not None and not self._stale(cached[0]):
            return cached[1]
        popularity = self._decayed(self.popularity, "").sums
        items = self.by_feature.get(feature, {})
        seen = [i for i in items if i in popularity]
        top = largest(seen, (popularity[i][0] for i in seen), n)
        top += [i for i in reversed(items) if i not in popularity][:5]
        numbers = np.array([self.rows.id(item) for item in top], dtype=np.intp)
        self._by_feature_top[feature] = (self.learned, numbers)
        return numbers

    def _diverse(self, ranked: Iterable[str], k: int) -> list[str]:
        picked: list[str] = []
        per: dict[str, int] = {}
        for item in ranked:
            category = self.items[item].category if item in self.items else ""
            if category and per.get(category, 0) >= self.per_category:
                continue
            per[category] = per.get(category, 0) + 1
            picked.append(item)
            if len(picked) == k:
                break
        return picked

    def _stale(self, computed_at: int) -> bool:
        """Whether a ranking computed after ``computed_at`` interactions is due again: after
        a tenth more interactions, at most every 100 (rankings that move slowly)."""
        return self.learned - computed_at >= min(100, 1 + computed_at // 10)

    def _decayed(self, table: dict[str, DecayedFeatures], key: str) -> DecayedFeatures:
        found = table.get(key)
        if found is None:
            found = table[key] = DecayedFeatures((self.half_life_ms,))
        return found

    def _pair(self, item: str, other: str, weight: float, ts: int) -> None:
        neighbours = self._decayed(self.cooc, item)
        epoch = neighbours.epoch
        neighbours.add(other, weight, ts)
        if len(neighbours.sums) > 2 * self.neighbours:  # keep the strongest
            # one epoch, one decay factor: the raw sums are in the decayed values' order
            ranked = sorted(neighbours.sums.items(), key=lambda kv: kv[1][0])
            neighbours.remove(name for name, _ in ranked[: len(ranked) - self.neighbours])
        elif epoch == neighbours.epoch or epoch is None:
            self.rows.set(item, other, neighbours.sums[other][0])
            return
        self._mirror_row(item)  # rescaled or pruned: the whole row changed

    def _mirror_row(self, item: str) -> None:
        """Copy ``item``'s co-occurrence sums to its ranking row."""
        self.rows.replace(item, {name: sums[0] for name, sums in self.cooc[item].sums.items()})

    def _mirror_popularity(self, item: str | None) -> None:
        """Copy ``item``'s overall popularity sum to the ranking array (every item's when
        the sums were rescaled to a new epoch)."""
        popularity = self._decayed(self.popularity, "")
        if item is not None and popularity.epoch == self.pop_epoch:
            changed = [item]
        else:
            self.pop_epoch, changed = popularity.epoch, list(popularity.sums)
        for name in changed:
            self.rows.set_norm(name, popularity.sums[name][0])


class Recommender(ItemModel):
    """The hybrid recommender in one object, every user's taste beside the item model: for
    evaluation and tests (the flow keeps tastes with their users).

    Parameters
    ----------
    history
        Recent items per user that pair with new ones and seed the collaborative part.
    repeat
        What the user already had may be recommended: ``never``, ``purchased`` (anything but
        what they bought) or ``allow``; :meth:`recommend` can override it per call.

    The others are :class:`ItemModel`'s.

    """

    def __init__(
        self,
        half_life_ms: int = 7 * DAY_MS,
        history: int = 10,
        neighbours: int = 50,
        weights: tuple[float, float, float, float] = (1.0, 1.0, 0.3, 0.1),
        per_category: int = 3,
        repeat: str = "purchased",
    ) -> None:
        if repeat not in REPEATS:
            raise ValueError(f"repeat must be one of {', '.join(REPEATS)}, not {repeat!r}")
        super().__init__(half_life_ms, neighbours, weights, per_category)
        self.history = history
        self.repeat = repeat
        self.tastes: dict[str, Taste] = {}

    def learn(
        self, user: str, item: str, weight: float, ts: int, segment: str | None = None
    ) -> None:
        """One interaction of ``user`` with ``item`` (weights: ``EVENT_WEIGHTS``)."""
        taste = self.tastes.get(user) or self.tastes.setdefault(user, Taste(self.half_life_ms))
        meta = self.items.get(item)
        before = taste.learn(item, weight, ts, meta.features if meta else (), self.history)
        self.learn_item(item, weight, ts, segment, before)

    def recommend(
        self,
        user: str,
        k: int = 10,
        exclude: Iterable[str] = (),
        segment: str | None = None,
        now: int | None = None,
        history: Iterable[str] | None = None,
        repeat: str | None = None,
        weights: tuple[float, float, float, float] | None = None,
    ) -> list[str]:
        """The top ``k`` items for ``user`` (``history`` overrides theirs, for evaluation;
        ``repeat`` overrides the recommender's policy, e.g. a campaign's; ``weights`` the
        blend's)."""
        now = self.now if now is None else now
        taste = self.tastes.get(user)
        ask = taste.ask(now, repeat or self.repeat, exclude) if taste else Ask.stranger(exclude)
        if history is not None:
            ask = replace(ask, recent=tuple(history))
        return self.rank(ask, k, segment, now, weights)

    def forget(self, user: str) -> None:
        """Erase a user's taste (their past contributions to co-occurrence and popularity
        stay, as anonymous aggregates)."""
        self.tastes.pop(user, None)

    def __setstate__(self, state: dict) -> None:
        """Snapshots taken before tastes were kept apart hold users, affinity and interest
        tables (and before that, interest as ``item:<id>`` affinity features)."""
        if "tastes" not in state:
            state = dict(state)
            users, affinity = state.pop("users", {}), state.pop("affinity", {})
            interest = state.pop("interest", None)
            state["tastes"] = from_tables(state["half_life_ms"], users, affinity, interest)
        super().__setstate__(state)
