"""The recommendation step, one keyed state (``reco``): the item model learns every product
interaction and ranks products for decisions and for each user's top-k in Redis.

Bytewax ``stateful_map`` mapper over an :class:`~models.recommender.ItemModel` (in a
:class:`RecoState`). Its inputs come from the users' half (:mod:`operators.taste_step`),
which keeps each user's taste keyed by user and sends what a ranking needs with each message:

- :class:`~operators.taste_step.Learned`: a product view, add to cart or purchase, with the
  user's history before it, and their ask when their top-k is due;
- :class:`~operators.taste_step.Fill`: a decision on a channel that carries content (email,
  push, web) with an offer, or a recommendations-only web request: its payload gets
  ``products``, the user's top ``k`` product ids (comma-separated);
- :class:`~operators.taste_step.Forgotten`: a profile was erased, expired or merged away.

Outputs: ``("decision", record)``, and ``("top", (user, items | None))`` for Redis: a user's
top-k after a filled decision and with a due ask; ``None`` deletes it (erasure). The trending
top-k, what a user with no history is recommended, is published at most once per
``refresh_ms`` of event time under :data:`POPULAR` (the API's fallback), and only when it
changed.

It is a hot key by design (co-occurrence needs every user's interactions), seeing one message
per product event and per content decision, but it holds nothing per user.

Examples
--------

>>> from operators.taste_step import TasteStep
>>> tastes, step = TasteStep(), RecoStep(k=2)
>>> users, state = {}, None
>>> def send(user, kind, payload):
...     global state
...     users[user], message = tastes(users.get(user), (kind, payload))
...     state, out = step(state, message)
...     return out
>>> for user, ts in (("a", 1), ("b", 3), ("c", 5)):
...     for item in ("shoe", "sock") if user != "c" else ("shoe",):
...         _ = send(user, "learn", {"user": user, "item": item, "weight": 1.0, "ts": ts})
>>> record = {"user_id": "c", "ts": 6, "campaign_id": None, "payload": {"headline": "Hi"}}
>>> send("c", "decision", record)[0][1]["payload"]  # what c looked at, and what goes with it
{'headline': 'Hi', 'products': 'shoe,sock'}

"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Any

from models.item_features import Item
from models.recommender import ItemModel
from models.taste import Ask
from operators import metrics
from operators.taste_step import Fill, Forgotten, Learned
from schemas.units import DAY_MS, MINUTE_MS

#: The "user" whose top-k is the trending products (pseudonyms are hex: it is no one's).
POPULAR = "popular"

Output = tuple[str, Any]


@dataclass
class RecoState:
    """The item model, and the trending top-k last written to Redis with when it was
    computed (event time): a refresh that changes nothing writes nothing."""

    reco: ItemModel
    popular: tuple[int, tuple[str, ...]] | None = None

    def __setstate__(self, state: dict) -> None:
        """Snapshots taken before tastes were kept apart hold a whole recommender and every
        user's last top-k: the item model and the trending list are kept (users' tastes
        start again; their lists in Redis stay until refreshed)."""
        if "published" in state:
            reco = state["reco"]
            model = ItemModel.__new__(ItemModel)
            model.__dict__.update(
                {k: v for k, v in reco.__dict__.items() if k not in ("tastes", "history", "repeat")}
            )
            state = {"reco": model, "popular": state["published"].get(POPULAR)}
        self.__dict__.update(state)


class RecoStep:
    """``(state, message) -> (state, outputs)`` over a :class:`RecoState`.

    Parameters
    ----------
    k
        Products per decision and per Redis top-k.
    per_category, half_life_ms
        The recommender's diversity rule and decay.
    refresh_ms
        Least event time between two Redis refreshes of the trending top-k.
    catalog_file
        Product catalogue CSV to register at start (``item,category,price,tags,in_stock``).
    max_products
        Products learned from events when no catalogue is set; an event naming a new product
        beyond it is left out (counted as ``product_cap``). With a catalogue, only its products
        are learned (the users' half leaves the others out): no client can grow the model.

    """

    def __init__(
        self,
        k: int = 5,
        per_category: int = 2,
        half_life_ms: int = 7 * DAY_MS,
        refresh_ms: int = MINUTE_MS,
        catalog_file: str = "",
        max_products: int = 100_000,
    ) -> None:
        self.max_products = max_products
        self.k = k
        self.per_category = per_category
        self.half_life_ms = half_life_ms
        self.refresh_ms = refresh_ms
        self.catalog_file = catalog_file

    def __call__(
        self, state: RecoState | None, message: Learned | Fill | Forgotten
    ) -> tuple[RecoState, list[Output]]:
        state = state or RecoState(self._new())
        if isinstance(message, Forgotten):
            return state, [("top", (message.user, None))]
        if isinstance(message, Learned):
            return state, self._learn(state, message)
        record = message.record  # ranked as of its time, as its ask was taken
        products = state.reco.rank(message.ask, self.k, record.get("segment"), record["ts"])
        filled = {**record, "payload": {**record["payload"], "products": ",".join(products)}}
        out: list[Output] = [("decision", filled)]
        if message.publish:  # a campaign's own list: Redis keeps the user's general one
            out.append(("top", (record["user_id"], products)))
        return state, out

    def _new(self) -> ItemModel:
        reco = ItemModel(half_life_ms=self.half_life_ms, per_category=self.per_category)
        if self.catalog_file:
            for row in read_catalog(self.catalog_file):
                reco.register(**row)
        return reco

    def _learn(self, state: RecoState, event: Learned) -> list[Output]:
        reco, item, ts = state.reco, event.item, event.ts
        known = reco.items.get(item)
        if known is None and len(reco.items) >= self.max_products:
            metrics.count_bounded("product_cap")
            return []
        if event.category and (known is None or not known.category):
            reco.register(item, category=event.category, price=event.price)
        history = [h for h in event.history if h[0] in reco.items]  # capped: pair with none
        reco.learn_item(item, event.weight, ts, event.segment, history)
        out: list[Output] = []
        if state.popular is None or ts - state.popular[0] >= self.refresh_ms:
            products = tuple(reco.rank(Ask.stranger(), self.k, now=ts))
            if state.popular is None or state.popular[1] != products:
                out.append(("top", (POPULAR, list(products))))
            state.popular = (ts, products)
        if event.ask is not None:
            products = reco.rank(event.ask, self.k, event.segment, now=ts)
            out.append(("top", (event.user, products)))
        return out


def read_catalog(path: str) -> list[dict[str, Any]]:
    """Catalogue rows as :meth:`ItemModel.register` arguments; ``tags`` are ``|``-separated,
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


def catalog_features(path: str) -> dict[str, tuple[str, ...]]:
    """Each catalogue product's features (``cat:<category>``, ``tag:<tag>``), for the users'
    half of the step (:mod:`operators.taste_step`)."""
    return {
        row["item"]: Item(row["item"], row["category"], tags=row["tags"]).features
        for row in read_catalog(path)
    }
