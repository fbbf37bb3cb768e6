"""A product catalogue with planted tastes, and an interaction log drawn from it: what the
recommenders are evaluated on when no public log is at hand (``offerflow recommend
simulate-log``), and what the live simulator's shoppers look at.

Six personas, each with a favourite category and ten "hits" in it; every user favours five of
their persona's hits. A user's interaction goes to one of their favourites (55%), another
item of their persona's category (30%) or any item (15%); most are views, some add to cart
(10%), a few are purchases (3%). A tenth of the catalogue is launched halfway through the
log, so new items need content-based exposure.

Examples
--------

>>> catalog = Catalog.planted(seed=1)
>>> len(catalog.items), catalog.items[0]
(240, ('shoes-000', 'shoes', 44.0))
>>> log = interactions(catalog, users=50, count=200, seed=1)
>>> len(log), log[0].ts <= log[-1].ts
(200, True)

"""

from __future__ import annotations

import random
from dataclasses import dataclass

from models.taste import EVENT_WEIGHTS
from offerflow.lab.reco_eval import Interaction
from schemas.units import MINUTE_MS

CATEGORIES = ("shoes", "bags", "tech", "home", "sport", "beauty")
PER_CATEGORY = 40
HITS = 10


@dataclass(frozen=True)
class Catalog:
    """Items ``(id, category, price)`` and each persona's hits."""

    items: list[tuple[str, str, float]]
    hits: dict[str, list[str]]
    late: set[str]

    @classmethod
    def planted(cls, seed: int = 7) -> Catalog:
        rng = random.Random(seed)
        items = [
            (f"{c}-{i:03d}", c, float(rng.randrange(10, 200)))
            for c in CATEGORIES
            for i in range(PER_CATEGORY)
        ]
        hits = {c: rng.sample([i for i, cat, _ in items if cat == c], HITS) for c in CATEGORIES}
        late = {i for i, _, _ in rng.sample(items, len(items) // 10)}
        return cls(items, hits, late)

    def category_items(self, category: str, launched: bool) -> list[str]:
        return [i for i, c, _ in self.items if c == category and (launched or i not in self.late)]

    def favourites(self, rng: random.Random, category: str) -> list[str]:
        """Five of ``category``'s hits: one user's planted taste."""
        return rng.sample(self.hits[category], 5)

    def pick(
        self, rng: random.Random, favourites: list[str], category: str, launched: bool = True
    ) -> str:
        """The item a user with ``favourites`` in ``category`` interacts with next."""
        roll = rng.random()
        if roll < 0.55:
            return rng.choice(favourites)
        if roll < 0.85:
            return rng.choice(self.category_items(category, launched))
        return rng.choice(self.category_items(rng.choice(CATEGORIES), launched))


def interactions(
    catalog: Catalog,
    users: int = 2_000,
    count: int = 50_000,
    seed: int = 7,
    step_ms: int = MINUTE_MS,
) -> list[Interaction]:
    """``count`` interactions of ``users`` users, one every ``step_ms`` of event time."""
    rng = random.Random(seed)
    persona = {f"u{n:05d}": rng.choice(CATEGORIES) for n in range(users)}
    favourites = {u: catalog.favourites(rng, c) for u, c in persona.items()}
    category = {i: c for i, c, _ in catalog.items}
    out = []
    for n in range(count):
        user = rng.choice(list(persona))
        item = catalog.pick(rng, favourites[user], persona[user], launched=n >= count // 2)
        kind = rng.choices(("product_view", "add_to_cart", "purchase"), (0.87, 0.10, 0.03))[0]
        out.append(Interaction(user, item, n * step_ms, EVENT_WEIGHTS[kind], category[item]))
    return out
