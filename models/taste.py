"""A user's taste, the per-user half of the hybrid recommender (:mod:`models.recommender`):
their recent items, what they bought and saw, their time-decayed interest in items and their
affinity for categories and tags.

The item half (co-occurrence, popularity, the catalogue) is shared by everybody; a taste
belongs to one user. Kept apart, the flow holds each taste beside its user, keyed like the
profile, and the recommendation step holds nothing per user, so its snapshots cost what the
catalogue costs however many users there are. A ranking takes from a taste only what it
asks for (:class:`Ask`).

Examples
--------

>>> taste = Taste(half_life_ms=1000)
>>> taste.learn("a", 1.0, ts=0, features=("cat:shoes",))
[]
>>> taste.learn("b", 5.0, ts=1000, features=("cat:bags",))  # a purchase
[('a', 0, 1.0)]
>>> ask = taste.ask(now=1000, repeat="purchased")
>>> ask.recent, sorted(ask.banned), ask.content, ask.personal
(('a', 'b'), ['b'], {'cat:shoes': 0.1, 'cat:bags': 1.0}, {'a': 1.0})
>>> taste.ask(now=1000, repeat="never").banned == {"a", "b"}
True
>>> import pickle
>>> pickle.loads(pickle.dumps(taste)).ask(now=1000, repeat="never") == taste.ask(1000, "never")
True

"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from models.decay import DecayedFeatures

#: What a top-k may repeat of the user's past (see :mod:`models.recommender`).
REPEATS = ("never", "purchased", "allow")
#: Interaction weight of each event type (a purchase says more than a view).
EVENT_WEIGHTS: Mapping[str, float] = {"product_view": 1.0, "add_to_cart": 3.0, "purchase": 5.0}

History = list[tuple[str, int, float]]  # (item, ts, weight), the newest last


@dataclass(frozen=True)
class Ask:
    """What a user brings to a ranking: their recent items (the newest last), the items
    they must not get, their scaled affinity by feature (``None``: take it from the recent
    items' features) and their scaled interest in the items they may get again."""

    recent: tuple[str, ...]
    banned: frozenset[str]
    content: Mapping[str, float] | None
    personal: Mapping[str, float]

    @classmethod
    def stranger(cls, exclude: Iterable[str] = ()) -> Ask:
        """The ask of a user with no taste yet."""
        return cls((), frozenset(exclude), None, {})


class Taste:
    """One user's taste (see the module docstring).

    Parameters
    ----------
    half_life_ms
        Decay of interest and affinity, in event time.

    """

    # A list and frozensets, not a deque and sets: those reserve about 1 kB per user.
    __slots__ = ("affinity", "history", "interest", "purchased", "seen")

    def __init__(self, half_life_ms: int) -> None:
        self.history: History = []
        self.purchased: frozenset[str] = frozenset()
        self.seen: frozenset[str] = frozenset()  # everything interacted with ("never")
        self.affinity = DecayedFeatures((half_life_ms,))  # categories and tags
        self.interest = DecayedFeatures((half_life_ms,))  # items

    def learn(
        self, item: str, weight: float, ts: int, features: Iterable[str] = (), keep: int = 10
    ) -> History:
        """One interaction (``features``: the item's, ``keep``: recent items kept); returns
        the history before it, the items the new one pairs with. A weight of at least the
        purchase weight marks the item purchased."""
        before = self.history
        self.history = [*before[max(0, len(before) - keep + 1) :], (item, ts, weight)]
        if weight >= EVENT_WEIGHTS["purchase"]:
            self.purchased = self.purchased | {item}
        if item not in self.seen:
            self.seen = self.seen | {item}
        for feature in features:
            self.affinity.add(feature, weight, ts)
        self.interest.add(item, weight, ts)
        return before

    def __getstate__(self) -> tuple:
        # plain values, not the DecayedFeatures objects: a third less to pickle, and the
        # flow pickles every touched user's taste at each snapshot
        affinity, interest = self.affinity, self.interest
        return (self.history, self.purchased, self.seen, affinity.half_lives_ms,
                affinity.epoch, affinity.sums, interest.epoch, interest.sums)  # fmt: skip

    def __setstate__(self, state: tuple) -> None:
        self.history, self.purchased, self.seen, half_lives, *rest = state
        self.affinity = DecayedFeatures(half_lives, rest[0], rest[1])
        self.interest = DecayedFeatures(half_lives, rest[2], rest[3])

    def ask(self, now: int, repeat: str, exclude: Iterable[str] = ()) -> Ask:
        """What a ranking at ``now`` needs, under the ``repeat`` policy, leaving ``exclude``
        out too."""
        had = () if repeat == "allow" else self.seen if repeat == "never" else self.purchased
        # one copy at most: a heavy user's items are hundreds
        banned = frozenset(exclude).union(had) if had else frozenset(exclude)
        content = scaled(self.affinity.first(now)) if self.affinity.sums else None
        allowed = [item for item in self.interest.sums if item not in banned]
        personal = scaled(self.interest.first(now, allowed)) if allowed else {}
        recent = tuple(item for item, _ts, _w in self.history)
        return Ask(recent, banned, content, personal)


def scaled(scores: Mapping[str, float]) -> dict[str, float]:
    """``scores`` divided by the largest (empty when none is positive)."""
    top = max(scores.values(), default=0.0)
    return {k: v / top for k, v in scores.items()} if top > 0 else {}


@dataclass
class LegacyUser:
    """A user's history in snapshots taken before tastes were kept apart (read only)."""

    history: list = field(default_factory=list)
    purchased: frozenset[str] = frozenset()
    seen: frozenset[str] = frozenset()


def from_tables(
    half_life_ms: int,
    users: Mapping[str, LegacyUser],
    affinity: Mapping[str, DecayedFeatures],
    interest: Mapping[str, DecayedFeatures] | None,
) -> dict[str, Taste]:
    """Tastes from the per-user tables older recommender snapshots hold (before that,
    interest was ``item:<id>`` features of the affinity table: ``interest`` ``None``)."""
    tastes = {}
    for user, old in users.items():
        taste = tastes[user] = Taste(half_life_ms)
        taste.history = list(old.history)  # older snapshots hold a deque
        taste.purchased, taste.seen = old.purchased, old.seen
        taste.affinity = affinity.get(user) or taste.affinity
        if interest is not None:
            taste.interest = interest.get(user) or taste.interest
        elif items := taste.affinity.names("item:"):
            kept = {name[5:]: taste.affinity.sums[name] for name in items}
            taste.interest = DecayedFeatures(
                taste.affinity.half_lives_ms, taste.affinity.epoch, kept
            )
            taste.affinity.remove(items)
    return tastes
