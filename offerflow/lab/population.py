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

Drift scenarios (:class:`Drift`) move the tastes mid-run: ``switch`` swaps every persona's
best offer with another one at once, ``fade`` does the same gradually, ``new_offer`` holds
the last offer back and launches it, best for everybody.

>>> drift = Drift.parse("switch@100")
>>> after = drift.after(pop)
>>> [after.oracle(p, "web", pop.offers)[0] for p in pop.personas[:3]]
['d', 'e', 'f']
>>> drift.progress(99), drift.progress(100), Drift.parse("fade@100:50").progress(125)
(0.0, 1.0, 0.5)

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

    def switched(self, shift: int = 3) -> Population:
        """Every persona's planted best offer (offer *i*) trades its rate with offer
        *i + shift*, on every channel."""
        click = dict(self.click)
        n = len(self.offers)
        for i, persona in enumerate(self.personas):
            old, new = self.offers[i % n], self.offers[(i + shift) % n]
            for c in self.channels:
                click[persona, old, c] = self.click[persona, new, c]
                click[persona, new, c] = self.click[persona, old, c]
        return Population(self.personas, self.offers, self.channels, click)

    def blend(self, other: Population, weight: float) -> Population:
        """Rates ``weight`` of the way from these to ``other``'s."""
        click = {k: (1 - weight) * v + weight * other.click[k] for k, v in self.click.items()}
        return Population(self.personas, self.offers, self.channels, click)

    def launched(self, offer: str, lift: float = 2.5) -> Population:
        """``offer`` re-rated to ``lift`` times each persona's average rate: best for all."""
        click = dict(self.click)
        for persona in self.personas:
            for c in self.channels:
                mean = sum(self.click[persona, o, c] for o in self.offers) / len(self.offers)
                click[persona, offer, c] = min(0.95, lift * mean)
        return Population(self.personas, self.offers, self.channels, click)


@dataclass(frozen=True)
class Drift:
    """A change of tastes at decision ``at``: ``switch``, ``fade`` (over ``length``
    decisions) or ``new_offer`` (the last offer, unavailable before ``at``)."""

    kind: str
    at: int
    length: int = 0

    @classmethod
    def parse(cls, text: str) -> Drift:
        """``switch@N``, ``fade@N:LENGTH`` or ``new_offer@N``; ``ValueError`` otherwise."""
        kind, _, when = text.partition("@")
        at, _, length = when.partition(":")
        if kind not in ("switch", "fade", "new_offer") or not at.isdigit():
            raise ValueError(f"{text!r}: expected switch@N, fade@N:LENGTH or new_offer@N")
        if kind == "fade" and not (length.isdigit() and int(length) > 0):
            raise ValueError(f"{text!r}: fade needs a positive length, fade@N:LENGTH")
        return cls(kind, int(at), int(length or 0))

    def after(self, base: Population) -> Population:
        """The population once the drift is complete."""
        return base.launched(base.offers[-1]) if self.kind == "new_offer" else base.switched()

    def progress(self, decision: int) -> float:
        """How far the drift is at ``decision``: 0 before, 1 once complete (a fade moves in
        100 steps, so each step's population can be built once)."""
        if decision < self.at:
            return 0.0
        if self.kind != "fade" or decision >= self.at + self.length:
            return 1.0
        step = max(1, self.length // 100)
        return (decision - self.at) // step * step / self.length

    def hidden(self, base: Population, decision: int) -> str | None:
        """The offer not yet on offer at ``decision``, if any."""
        return base.offers[-1] if self.kind == "new_offer" and decision < self.at else None
