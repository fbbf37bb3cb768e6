"""Online clustering of users that no rule segment claims (River's ``KMeans``).

Each unclaimed profile update sends a small vector of its decayed behaviour to one model,
which learns from it and answers with the nearest centre when that differs from the cluster
the profile already carries (most updates leave a user where they were, so most need no
answer); the profile then carries segment ``cluster_<n>``. Features are ``log1p``-compressed
counts and amounts, so a heavy buyer does not flatten everyone else into one cluster, plus the
engagement ratio (already in [0, 1]).

The model is a single keyed state: one worker serves all cluster updates (a hot key by
design, documented in the README). Only unclaimed users' updates reach it.

Examples
--------

>>> model = ClusterModel(n_clusters=2, seed=1)
>>> shoppers = [{"views": 3.0, "carts": 2.0, "spend": 4.0}] * 20
>>> browsers = [{"views": 0.5, "carts": 0.0, "spend": 0.0}] * 20
>>> labels = [model.assign(x) for pair in zip(shoppers, browsers) for x in pair]
>>> labels[-2] != labels[-1]  # the two behaviours end in different clusters
True

"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from river import cluster

#: The decayed features (at the middle half-life) a vector is made of.
VECTOR = {
    "views": "act:product_view",
    "carts": "act:add_to_cart",
    "purchases": "act:purchase",
    "visits": "act:page_view",
    "spend": "spend",
}


def cluster_vector(features: Mapping[str, Any], label: str) -> dict[str, float]:
    """The clustering input of a profile's ``features`` at half-life ``label``."""
    x = {k: math.log1p(features.get(f"{name}.{label}", 0.0)) for k, name in VECTOR.items()}
    impressions = sum(
        v for k, v in features.items() if k.startswith("imp:") and k.endswith("." + label)
    )
    engagements = sum(
        v for k, v in features.items() if k.startswith("eng:") and k.endswith("." + label)
    )
    x["engagement"] = engagements / impressions if impressions > 0 else 0.0
    return x


@dataclass(frozen=True, slots=True)
class ClusterUpdate:
    """An unclaimed profile's vector, and the cluster the profile carries now (``None``
    before its first answer)."""

    user: str
    vector: dict[str, float]
    current: int | None


class ClusterModel:
    """River ``KMeans`` that learns from every vector it assigns.

    Parameters
    ----------
    n_clusters
        Number of clusters (segments ``cluster_0`` ... ``cluster_{n-1}``).
    halflife
        How far a centre moves toward each vector it wins (River's ``halflife``).
    seed
        Seed of the initial centres, so every run starts alike.

    """

    def __init__(self, n_clusters: int = 6, halflife: float = 0.05, seed: int = 42) -> None:
        self.model = cluster.KMeans(n_clusters=n_clusters, halflife=halflife, sigma=1.0, seed=seed)

    def assign(self, x: dict[str, float]) -> int:
        """Learn from ``x`` and return its cluster."""
        self.model.learn_one(x)
        return self.model.predict_one(x)

    def answer(self, update: ClusterUpdate) -> int | None:
        """Learn from ``update`` and return its cluster if it is not the one the profile
        already carries.

        >>> model = ClusterModel(n_clusters=2, seed=1)
        >>> first = model.answer(ClusterUpdate("u", {"views": 1.0}, None))
        >>> model.answer(ClusterUpdate("u", {"views": 1.0}, first)) is None
        True

        """
        cluster = self.assign(update.vector)
        return None if cluster == update.current else cluster
