"""Per-user traits that move click rates within a persona: what makes a contextual policy
worth more than one learned per segment.

Every user carries two traits in [-1, 1] (``price_sensitivity`` and ``engagement``, drawn
uniformly) and every offer a weight per trait; a user's click probability for an offer is
the persona's (:class:`~offerflow.lab.population.Population`) times
``exp(strength * (weights . traits))``, at most 0.95. With ``strength`` 0 the traits change
nothing (the segment-only population, with the traits still in every request's context);
with 1 the best offer for a user often differs from the persona's best.

Examples
--------

>>> effects = TraitEffects.planted(["a", "b", "c"], strength=1.0, seed=1)
>>> effects.factor("a", {"price_sensitivity": 0.0, "engagement": 0.0})
1.0
>>> traits = effects.draw(__import__("random").Random(2))
>>> sorted(traits), all(-1 <= v <= 1 for v in traits.values())
(['engagement', 'price_sensitivity'], True)
>>> TraitEffects.planted(["a"], strength=0.0).factor("a", traits)
1.0

"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

TRAITS = ("price_sensitivity", "engagement")


@dataclass(frozen=True)
class TraitEffects:
    """Each offer's weight per trait, and how strongly traits move click rates."""

    weights: Mapping[str, tuple[float, ...]]
    strength: float

    @classmethod
    def planted(cls, offers: Sequence[str], strength: float = 1.0, seed: int = 7) -> TraitEffects:
        """Weights drawn uniformly in [-1, 1] per offer and trait."""
        rng = random.Random(seed * 7919 + 1)
        weights = {o: tuple(rng.uniform(-1.0, 1.0) for _ in TRAITS) for o in offers}
        return cls(weights, strength)

    def draw(self, rng: random.Random) -> dict[str, float]:
        """One user's traits."""
        return {name: rng.uniform(-1.0, 1.0) for name in TRAITS}

    def factor(self, offer: str, traits: Mapping[str, float]) -> float:
        """How much ``traits`` multiply ``offer``'s click probability."""
        if not self.strength:
            return 1.0
        dot = sum(w * traits[name] for w, name in zip(self.weights[offer], TRAITS, strict=True))
        return math.exp(self.strength * dot)
