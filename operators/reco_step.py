"""The recommendation step, one keyed state (``reco``): product interactions in, products in
decisions and each user's top-k in Redis out.

Bytewax ``stateful_map`` mapper over a :class:`~models.recommender.Recommender` (in a
:class:`RecoState`). Inputs:

- ``("learn", {"user", "item", "weight", "ts", "segment", "category", "price", "tags"})``
  from the user step, for each product view, add to cart and purchase naming a product;
- ``("forget", user)`` when a profile is erased, expires or is merged away;
- ``("decision", record)``: a decision on a channel that carries content (email, push, web)
  with an offer, or a recommendations-only web request: its payload gets ``products``, the
  user's top ``k`` product ids (comma-separated), minus the products its campaign excludes.

Outputs: ``("decision", record)``, and ``("top", (user, items | None))`` for Redis: a user's
top-k is recomputed when a decision is filled and after their interactions, at most once per
``refresh_ms`` of event time (a recommendation costs about half a millisecond), and written
only when it changed; ``None`` deletes it (erasure). The trending top-k, what a user with no
history is recommended, is published the same way under :data:`POPULAR` (the API's fallback).

It is a hot key by design (co-occurrence needs every user's interactions), seeing one message
per product event and per content decision.

Examples
--------

>>> step = RecoStep(k=2)
>>> state, out = None, []
>>> for user in ("a", "b"):
...     state, _ = step(state, ("learn", {"user": user, "item": "shoe", "weight": 1.0, "ts": 1}))
...     state, _ = step(state, ("learn", {"user": user, "item": "sock", "weight": 1.0, "ts": 2}))
>>> state, _ = step(state, ("learn", {"user": "c", "item": "shoe", "weight": 1.0, "ts": 3}))
>>> record = {"user_id": "c", "ts": 4, "campaign_id": None, "payload": {"headline": "Hi"}}
>>> state, out = step(state, ("decision", record))
>>> out[0][1]["payload"]  # what c looked at, and what goes with it
{'headline': 'Hi', 'products': 'shoe,sock'}

"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from models.recommender import Recommender
from operators import metrics
from schemas.units import DAY_MS, MINUTE_MS

#: The "user" whose top-k is the trending products (pseudonyms are hex: it is no one's).
POPULAR = "popular"

Output = tuple[str, Any]


@dataclass
class RecoState:
    """The recommender, and each user's top-k last written to Redis with when it was
    computed (event time): a refresh that changes nothing writes nothing."""

    reco: Recommender
    published: dict[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)

    def publish(self, user: str, ts: int, products: list[str]) -> list[Output]:
        """``("top", ...)`` for Redis if ``products`` differ from what it holds."""
        before = self.published.get(user)
        self.published[user] = (ts, tuple(products))
        if before is not None and before[1] == tuple(products):
            return []
        return [("top", (user, products))]


class RecoStep:
    """``(state, (kind, payload)) -> (state, outputs)`` over a :class:`RecoState`.

    Parameters
    ----------
    k
        Products per decision and per Redis top-k.
    per_category, repeat, half_life_ms
        The recommender's diversity rule, repeat policy (``never``, ``purchased``, ``allow``)
        and decay.
    refresh_ms
        Least event time between two Redis top-k refreshes of one user after interactions.
    catalog_file
        Product catalogue CSV to register at start (``item,category,price,tags,in_stock``).
    excluded
        The products a campaign excludes and its repeat policy (``None``: the recommender's),
        by campaign id.
    max_products
        Products learned from events when no catalogue is set; an event naming a new product
        beyond it is left out (counted as ``product_cap``). With a catalogue, only its products
        are learned (others counted as ``unknown_product``): no client can grow the model.

    """

    def __init__(
        self,
        k: int = 5,
        per_category: int = 2,
        repeat: str = "purchased",
        half_life_ms: int = 7 * DAY_MS,
        refresh_ms: int = MINUTE_MS,
        catalog_file: str = "",
        excluded: Callable[[str], tuple[tuple[str, ...], str | None]] = lambda _c: ((), None),
        max_products: int = 100_000,
    ) -> None:
        self.max_products = max_products
        self.k = k
        self.per_category = per_category
        self.repeat = repeat
        self.half_life_ms = half_life_ms
        self.refresh_ms = refresh_ms
        self.catalog_file = catalog_file
        self.excluded = excluded

    def __call__(
        self, state: RecoState | None, item: tuple[str, Any]
    ) -> tuple[RecoState, list[Output]]:
        state = state or RecoState(self._new())
        kind, payload = item
        if kind == "forget":
            state.reco.forget(payload)
            state.published.pop(payload, None)
            return state, [("top", (payload, None))]
        if kind == "learn":
            return state, self._learn(state, payload)
        user = payload["user_id"]
        campaign = payload.get("campaign_id")
        exclude, repeat = self.excluded(campaign) if campaign else ((), None)
        products = state.reco.recommend(
            user, self.k, exclude=exclude, segment=payload.get("segment"), repeat=repeat
        )
        record = {**payload, "payload": {**payload["payload"], "products": ",".join(products)}}
        if exclude or repeat not in (None, self.repeat):  # a campaign's own list: Redis
            return state, [("decision", record)]  # keeps the user's general one
        return state, [("decision", record), *state.publish(user, payload["ts"], products)]

    def _new(self) -> Recommender:
        reco = Recommender(
            half_life_ms=self.half_life_ms,
            per_category=self.per_category,
            repeat=self.repeat,
        )
        if self.catalog_file:
            for row in read_catalog(self.catalog_file):
                reco.register(**row)
        return reco

    def _learn(self, state: RecoState, event: dict[str, Any]) -> list[Output]:
        reco = state.reco
        item, user, ts = event["item"], event["user"], int(event["ts"])
        known = reco.items.get(item)
        if known is None and (self.catalog_file or len(reco.items) >= self.max_products):
            metrics.count_bounded("unknown_product" if self.catalog_file else "product_cap")
            return []
        if event.get("category") and (known is None or not known.category):
            reco.register(
                item,
                category=str(event["category"]),
                price=event.get("price"),
                tags=event.get("tags") or (),
            )
        reco.learn(user, item, float(event["weight"]), ts, event.get("segment"))
        out: list[Output] = []
        last = state.published.get(POPULAR)
        if last is None or ts - last[0] >= self.refresh_ms:  # what a user with no history gets
            out += state.publish(POPULAR, ts, reco.recommend(POPULAR, self.k, now=ts))
        last = state.published.get(user)
        if last is not None and ts - last[0] < self.refresh_ms:
            return out
        products = reco.recommend(user, self.k, segment=event.get("segment"), now=ts)
        return out + state.publish(user, ts, products)


def read_catalog(path: str) -> list[dict[str, Any]]:
    """Catalogue rows as :meth:`Recommender.register` arguments; ``tags`` are ``|``-separated,
    ``in_stock`` is ``true``/``false`` (default true).

    Raises :class:`ValueError` naming the line of a bad row.
    """
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            try:
                price = row.get("price")
                rows.append(
                    {
                        "item": row["item"],
                        "category": row.get("category") or "",
                        "price": float(price) if price else None,
                        "tags": tuple(t for t in (row.get("tags") or "").split("|") if t),
                        "in_stock": (row.get("in_stock") or "true").strip().lower() != "false",
                    }
                )
            except (KeyError, ValueError) as exc:
                raise ValueError(f"{path}:{line}: {exc}") from None
    return rows
