"""Data-driven attribution: a Markov chain over journeys and each channel's removal effect
(Anderl, Becker, von Wangenheim & Schumann, 2016), learned online.

Every journey is a walk ``(start) → touch → ... → touch → (conversion) | (null)``. With
``order = k`` a state is the last ``k`` channels, so higher orders remember more of the path
(at the cost of more states). Transition probabilities are the observed transition counts,
normalized per state. The chain's conversion probability ``P`` is the probability of being
absorbed in ``(conversion)`` from ``(start)``, found by solving ``(I - Q) x = r`` over the
transient states (``Q`` transient-to-transient probabilities, ``r`` probability of
converting next). The *removal effect* of a channel is ``1 - P_without / P``, where
``P_without`` is the conversion probability when every state holding that channel leads to
``(null)`` instead: how much conversion would be lost without the channel.

Two ways to turn removal effects into credit:

- **standard** (:func:`standard_split`, model ``markov``): the total conversions and value
  are split between all channels in proportion to their normalized removal effects, as
  ``ChannelAttribution`` and the literature do. Comparable across tools; a report-level
  total, since a channel may get credit from conversions whose paths never touched it.
- **per path** (:meth:`MarkovAttribution.weights`, model ``markov_path``): a conversion's
  credit goes to the channels on its own path in proportion to their removal effects, split
  equally between repeated touches of a channel (all equal when every effect is zero).
  What per-conversion records need: each credits only touches that happened.
 Learning is one dictionary update per transition; solving costs ``channels + 1``
small linear systems, so it is cached and redone after ``refresh`` new paths (1: always
exact; larger values trade freshness for speed on busy flows).

Why hand-written: the reference implementation (the ``ChannelAttribution`` package) is
batch-only, estimates removal effects by random simulation and is GPL-licensed; here the
effects are exact linear-algebra solutions (numpy) that the streaming flow updates per path.

Examples
--------

Two converting paths and one that did not convert; by hand: ``P = 2/3``, without ``A``
only ``B`` converts (``1/3``), without ``B`` nothing does:

>>> chain = MarkovAttribution()
>>> chain.learn(["A", "B"], conversions=1)
>>> chain.learn(["A"], nulls=1)
>>> chain.learn(["B"], conversions=1)
>>> round(chain.conversion_probability(), 6), chain.removal_effects()
(0.666667, {'A': 0.5, 'B': 1.0})
>>> standard_split(chain.removal_effects(), conversions=2, value=30.0)
{'A': (0.6666666666666666, 10.0), 'B': (1.3333333333333333, 20.0)}
>>> chain.learn([], conversions=1, value=5.0)  # no touch: direct, under every model
>>> chain.standard_credit()["direct"]
(1.0, 5.0)
>>> [round(w, 4) for w in chain.weights(["A", "B", "B"])]
[0.5, 0.5, 0.5]

"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from models.attribution_models import DIRECT

State = tuple[str, ...]
START: State = ("(start)",)
CONVERSION: State = ("(conversion)",)
NULL: State = ("(null)",)


class MarkovAttribution:
    """Online Markov-chain attribution.

    Parameters
    ----------
    order
        How many recent channels a state remembers (1 = first-order chain).
    refresh
        Paths learned between two recomputations of the removal effects.

    """

    def __init__(self, order: int = 1, refresh: int = 1) -> None:
        if order < 1 or refresh < 1:
            raise ValueError("order and refresh must be at least 1")
        self.order = order
        self.refresh = refresh
        #: state -> next state -> count
        self.transitions: dict[State, dict[State, float]] = {}
        self.conversions = 0.0
        self.nulls = 0.0
        #: Value of the converting journeys learned.
        self.value = 0.0
        #: Conversions (and their value) that had no touch: credited to ``direct``.
        self.direct = (0.0, 0.0)
        self._effects: dict[str, float] | None = None
        self._probability = 0.0
        self._since = 0

    def learn(
        self, path: Sequence[str], conversions: float = 0.0, nulls: float = 0.0, value: float = 0.0
    ) -> None:
        """Count ``conversions`` converting (worth ``value`` in all) and ``nulls``
        non-converting journeys along ``path`` (channels, oldest first). Empty paths carry no
        channel information: their conversions are only counted, for ``direct``."""
        if not path:
            self.direct = (self.direct[0] + conversions, self.direct[1] + value)
            return
        if conversions + nulls <= 0:
            return
        self.value += value
        times = conversions + nulls
        states = [START, *self._states(path)]
        for here, there in itertools.pairwise(states):
            self._count(here, there, times)
        if conversions:
            self._count(states[-1], CONVERSION, conversions)
        if nulls:
            self._count(states[-1], NULL, nulls)
        self.conversions += conversions
        self.nulls += nulls
        self._since += 1

    def conversion_probability(self) -> float:
        """Probability that a journey from ``(start)`` converts."""
        self.removal_effects()
        return self._probability

    def removal_effects(self) -> dict[str, float]:
        """Each channel's removal effect, by channel name."""
        if self._effects is None or self._since >= self.refresh:
            self._effects = self._solve()
            self._since = 0
        return self._effects

    def weights(self, path: Sequence[str]) -> list[float]:
        """One weight per touch of ``path``: its channel's removal effect shared between the
        channel's touches on the path."""
        effects = self.removal_effects()
        repeats: dict[str, int] = {}
        for channel in path:
            repeats[channel] = repeats.get(channel, 0) + 1
        return [max(effects.get(c, 0.0), 0.0) / repeats[c] for c in path]

    def standard_credit(self) -> dict[str, tuple[float, float]]:
        """Conversions and value per channel in the standard form: every converting
        journey's total split by the normalized removal effects
        (:func:`standard_split`), and the conversions without a touch to ``direct``."""
        credit = standard_split(self.removal_effects(), self.conversions, self.value)
        if self.direct[0] or self.direct[1]:
            c, v = credit.get(DIRECT, (0.0, 0.0))
            credit[DIRECT] = (c + self.direct[0], v + self.direct[1])
        return credit

    def document(self) -> dict[str, Any]:
        """The model's summary for Redis and reports."""
        return {
            "order": self.order,
            "paths_converted": self.conversions,
            "paths_null": self.nulls,
            "conversion_probability": self.conversion_probability(),
            "removal_effects": self.removal_effects(),
            "standard": {c: list(cv) for c, cv in self.standard_credit().items()},
            "states": len(self.transitions),
        }

    def _states(self, path: Sequence[str]) -> list[State]:
        k = self.order
        return [tuple(path[max(0, i - k + 1) : i + 1]) for i in range(len(path))]

    def _count(self, here: State, there: State, times: float) -> None:
        row = self.transitions.setdefault(here, {})
        row[there] = row.get(there, 0.0) + times

    def _solve(self) -> dict[str, float]:
        """Conversion probability, then each channel's removal effect: one matrix, one
        solve per channel on the states without it."""
        if START not in self.transitions:
            self._probability = 0.0
            return {}
        states = list(self.transitions)
        index = {s: i for i, s in enumerate(states)}
        a = np.eye(len(states))  # I - Q
        r = np.zeros(len(states))
        for s, i in index.items():
            row = self.transitions[s]
            total = sum(row.values())
            for there, n in row.items():
                if there == CONVERSION:
                    r[i] = n / total
                elif there in index:
                    a[i, index[there]] -= n / total
        start = index[START]
        self._probability = _absorbed(a, r, start)
        effects = {}
        for channel in sorted({c for s in states if s != START for c in s}):
            keep = np.array([channel not in s for s in states])
            kept = np.flatnonzero(keep)
            without = _absorbed(a[np.ix_(kept, kept)], r[kept], int(np.searchsorted(kept, start)))
            effects[channel] = 1.0 - without / self._probability if self._probability else 0.0
        return effects


def _absorbed(a: np.ndarray, r: np.ndarray, start: int) -> float:
    """Absorption probability in (conversion) from ``start``, given ``a = I - Q``."""
    return float(min(max(np.linalg.solve(a, r)[start], 0.0), 1.0))


def standard_split(
    effects: Mapping[str, float], conversions: float, value: float
) -> dict[str, tuple[float, float]]:
    """The standard Markov credit: ``conversions`` and ``value`` split between the channels
    in proportion to their removal effects normalized to sum to 1 (negative effects count
    as 0; nothing is credited while every effect is 0)."""
    positive = {c: max(e, 0.0) for c, e in effects.items()}
    mass = sum(positive.values())
    if mass <= 0:
        return {}
    return {c: (conversions * e / mass, value * e / mass) for c, e in positive.items()}
