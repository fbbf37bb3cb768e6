"""The users' half of the recommendations, keyed by user (``reco_users``): each user's taste
(:class:`~models.taste.Taste`) kept beside them, so the ``reco`` step after it holds only the
item model and its snapshots cost what the catalogue costs, not what the users cost.

Bytewax ``stateful_map`` mapper over a :class:`TasteState`, keyed by pseudonym. Inputs:

- ``("learn", {"user", "item", "weight", "ts", "segment", "category", "price"})`` from the
  user step, for each product event naming a product;
- ``("decision", record)``: a decision to fill with products (see :mod:`operators.reco_step`);
- ``("forget", user)`` when a profile is erased, expires or is merged away.

Outputs, for the ``reco`` step: :class:`Learned` (the interaction, the user's history before
it, and their :class:`~models.taste.Ask` when their Redis top-k is due: at most once per
``refresh_ms`` of event time, or with a filled decision), :class:`Fill` and
:class:`Forgotten`. With a catalogue, products outside it are left out here (counted as
``unknown_product``) and the catalogue's categories feed the user's affinity.

Examples
--------

>>> step = TasteStep(refresh_ms=60_000)
>>> learn = {"user": "u", "item": "shoe", "weight": 1.0, "ts": 0, "category": "shoes"}
>>> state, first = step(None, ("learn", learn))
>>> first.history, first.ask.recent  # nothing before it; the first top-k is due
((), ('shoe',))
>>> state, second = step(state, ("learn", {**learn, "item": "sock", "ts": 1_000}))
>>> second.history, second.ask  # pairs with the shoe; refreshed a second ago
((('shoe', 0, 1.0),), None)
>>> state, fill = step(state, ("decision", {"user_id": "u", "ts": 2_000, "campaign_id": None}))
>>> fill.ask.recent, fill.publish
(('shoe', 'sock'), True)
>>> step(state, ("forget", "u"))
(None, Forgotten(user='u'))

"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from models.item_features import Item
from models.taste import Ask, Taste
from operators import metrics
from schemas.units import DAY_MS, MINUTE_MS


@dataclass(frozen=True)
class Learned:
    """One product interaction for the item model, with the user's history before it (what
    it pairs with) and, when their top-k is due, their ask."""

    user: str
    item: str
    weight: float
    ts: int
    segment: str | None
    category: str | None
    price: float | None
    history: tuple[tuple[str, int, float], ...]
    ask: Ask | None


@dataclass(frozen=True)
class Fill:
    """A decision to fill with products for the user's ``ask``; ``publish``: the list is also
    their general top-k for Redis (no campaign exclusions or repeat policy of its own)."""

    record: dict[str, Any]
    ask: Ask
    publish: bool


@dataclass(frozen=True)
class Forgotten:
    """The user is gone: their top-k leaves Redis."""

    user: str


@dataclass
class TasteState:
    """A user's taste, and when (event time) their top-k was last asked for."""

    taste: Taste
    refreshed: int | None = None


class TasteStep:
    """``(state, (kind, payload)) -> (state, output)`` over a :class:`TasteState`.

    Parameters
    ----------
    repeat, half_life_ms
        The recommender's repeat policy (``never``, ``purchased``, ``allow``) and decay.
    refresh_ms
        Least event time between two top-k refreshes of one user after interactions.
    catalog
        The catalogue's products and their features, when one is set (``None``: products are
        learned from events).
    excluded
        The products a campaign excludes and its repeat policy (``None``: the recommender's),
        by campaign id.
    history
        Recent items per user that pair with new ones.

    """

    def __init__(
        self,
        repeat: str = "purchased",
        half_life_ms: int = 7 * DAY_MS,
        refresh_ms: int = MINUTE_MS,
        catalog: dict[str, tuple[str, ...]] | None = None,
        excluded: Callable[[str], tuple[tuple[str, ...], str | None]] = lambda _c: ((), None),
        history: int = 10,
    ) -> None:
        self.repeat = repeat
        self.half_life_ms = half_life_ms
        self.refresh_ms = refresh_ms
        self.catalog = catalog
        self.excluded = excluded
        self.history = history

    def __call__(
        self, state: TasteState | None, item: tuple[str, Any]
    ) -> tuple[TasteState | None, Learned | Fill | Forgotten | None]:
        kind, payload = item
        if kind == "forget":
            return None, Forgotten(payload)
        if kind == "learn":
            return self._learn(state, payload)
        campaign = payload.get("campaign_id")
        exclude, repeat = self.excluded(campaign) if campaign else ((), None)
        own = bool(exclude) or repeat not in (None, self.repeat)  # a campaign's own list
        if state is None:
            return None, Fill(payload, Ask.stranger(exclude), not own)
        ask = state.taste.ask(payload["ts"], repeat or self.repeat, exclude)
        if not own:
            state.refreshed = payload["ts"]
        return state, Fill(payload, ask, not own)

    def _learn(
        self, state: TasteState | None, event: dict[str, Any]
    ) -> tuple[TasteState | None, Learned | None]:
        item, ts = event["item"], int(event["ts"])
        if self.catalog is not None and item not in self.catalog:
            metrics.count_bounded("unknown_product")
            return state, None
        state = state or TasteState(Taste(self.half_life_ms))
        if self.catalog is not None:
            features = self.catalog[item]
        else:
            features = Item(item, event.get("category") or "").features
        weight = float(event["weight"])
        before = state.taste.learn(item, weight, ts, features, self.history)
        ask = None
        if state.refreshed is None or ts - state.refreshed >= self.refresh_ms:
            state.refreshed = ts
            ask = state.taste.ask(ts, self.repeat)
        learned = Learned(
            event["user"], item, weight, ts, event.get("segment"), event.get("category"),
            event.get("price"), tuple(before), ask,
        )  # fmt: skip
        return state, learned


def user_of(item: tuple[str, Any]) -> str:
    """The user an input of the step is about (its key)."""
    kind, payload = item
    return payload if kind == "forget" else payload["user_id" if kind == "decision" else "user"]
