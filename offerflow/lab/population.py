"""A synthetic population with hidden tastes: what the simulator, the demo and the policy
benchmarks measure learning against.

Every user belongs to one of six personas. Each persona has a hidden response (click)
probability for every (offer, channel); one offer per persona is planted clearly best, a
different one for each persona, so a policy that learns per segment can beat one that
learns a single best offer for everybody. The persona is also what the app tells OfferFlow
as a trait (``identify`` with ``traits.persona``), which the demo's segment rules read: the
flow sees the segment, never the probabilities.

Examples
--------

>>> pop = Population.planted(["a", "b", "c", "d", "e", "f", "g", "h"], seed=1)
>>> best = {pop.oracle(p, "web", pop.offers)[0] for p in pop.personas}
>>> len(best)  # every persona has its own best offer
6
>>> 0 < pop.probability("loyalist", "a", "web") < 1
True

"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

PERSONAS = ("bargain_hunter", "loyalist", "browser", "premium", "student", "family")
CHANNELS = ("email", "push", "web")


@dataclass(frozen=True)
class Population:
    """Hidden response probabilities per (persona, offer, channel)."""

    personas: tuple[str, ...]
    offers: tuple[str, ...]
    channels: tuple[str, ...]
    click: dict[tuple[str, str, str], float]

    @classmethod
    def planted(
        cls,
        offers: Sequence[str],
        personas: Sequence[str] = PERSONAS,
        channels: Sequence[str] = CHANNELS,
        seed: int = 7,
        lift: float = 2.0,
    ) -> Population:
        """Random base rates (2-6%), offer effects (x0.5-x1.3), channel effects (x0.6-x1.4),
        and for persona *i* offer *i* planted ``lift`` times its persona's base rate."""
        rng = random.Random(seed)
        click = {}
        for i, persona in enumerate(personas):
            base = rng.uniform(0.02, 0.06)
            channel_effect = {c: rng.uniform(0.6, 1.4) for c in channels}
            for j, offer in enumerate(offers):
                effect = lift if j == i % len(offers) else rng.uniform(0.5, 1.3)
                for c in channels:
                    click[persona, offer, c] = min(0.95, base * effect * channel_effect[c])
        return cls(tuple(personas), tuple(offers), tuple(channels), click)

    def persona_of(self, user: str) -> str:
        """A user's persona (a stable function of the id)."""
        return self.personas[zlib.crc32(user.encode()) % len(self.personas)]

    def probability(self, persona: str, offer: str, channel: str) -> float:
        return self.click.get((persona, offer, channel), 0.0)

    def oracle(self, persona: str, channel: str, offers: Sequence[str]) -> tuple[str, float]:
        """The best of ``offers`` for ``persona`` on ``channel`` and its probability."""
        best = max(offers, key=lambda o: self.probability(persona, o, channel))
        return best, self.probability(persona, best, channel)

    def uniform(self, persona: str, channel: str, offers: Sequence[str]) -> float:
        """Expected response of a uniformly random choice among ``offers``."""
        return sum(self.probability(persona, o, channel) for o in offers) / len(offers)
