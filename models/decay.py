"""Exponentially time-decayed sums that do not care in which order events arrive.

A decayed feature at time ``now`` is ``sum(w_i * 2 ** (-(now - t_i) / h))`` over the events
``(t_i, w_i)`` so far, for a half-life ``h``. Instead of decaying every feature each time the
clock moves (O(features) per event, and wrong for late events), each sum is kept *scaled to a
fixed epoch*: ``S = sum(w_i * 2 ** ((t_i - epoch) / h))``. Adding an event touches one number
whatever its time, late events included, and the value at any time is
``S * 2 ** (-(now - epoch) / h)``. Because addition commutes, any arrival order gives the same
sums (up to float rounding). When the scale factor of a new event would exceed 2^200 the epoch
moves forward and every sum is rescaled once (rare: every 200 half-lives).

Examples
--------

>>> day = 86_400_000
>>> f = DecayedFeatures(half_lives_ms=(day, 7 * day))
>>> f.add("views", 1.0, ts=0)
>>> f.add("views", 1.0, ts=day)
>>> [round(v, 6) for v in f.value("views", now=day)]  # 1 * 2^-1 + 1, and 1 * 2^(-1/7) + 1
[1.5, 1.905724]
>>> g = DecayedFeatures(half_lives_ms=(day, 7 * day))
>>> g.add("views", 1.0, ts=day)
>>> g.add("views", 1.0, ts=0)  # the same events in the other order
>>> all(abs(a - b) < 1e-12 for a, b in zip(g.value("views", day), f.value("views", day)))
True

"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from operator import mul

#: Largest exponent (in half-lives of the shortest half-life) before the epoch is moved.
REBASE_HALF_LIVES = 200.0


def decayed(weight: float, age_ms: float, half_life_ms: float) -> float:
    """Closed form of one event's contribution after ``age_ms``.

    >>> decayed(8.0, 3 * 1000, 1000)
    1.0

    """
    return weight * 2.0 ** (-age_ms / half_life_ms)


class DecayedFeatures:
    """Named decayed sums sharing one epoch, one sum per half-life.

    Parameters
    ----------
    half_lives_ms
        The half-lives, in milliseconds, every feature is kept at.
    epoch
        Reference time of the stored sums; set by the first event when ``None``.
    sums
        Stored (epoch-scaled) sums by feature name, for restoring a snapshot.

    """

    __slots__ = ("epoch", "half_lives_ms", "sums")

    def __init__(
        self,
        half_lives_ms: tuple[int, ...],
        epoch: int | None = None,
        sums: dict[str, list[float]] | None = None,
    ) -> None:
        self.half_lives_ms = half_lives_ms
        self.epoch = epoch
        self.sums: dict[str, list[float]] = sums if sums is not None else {}

    def add(self, name: str, weight: float, ts: int) -> None:
        """Add ``weight`` to feature ``name`` at event time ``ts`` (milliseconds)."""
        if self.epoch is None:
            self.epoch = ts
        elif (ts - self.epoch) / self.half_lives_ms[0] > REBASE_HALF_LIVES:
            self._rebase(ts)
        self._accumulate(
            name, [weight * 2.0 ** ((ts - self.epoch) / h) for h in self.half_lives_ms]
        )

    def value(self, name: str, now: int) -> tuple[float, ...]:
        """The feature's decayed values at ``now``, one per half-life (zeros if unseen)."""
        current = self.sums.get(name)
        if current is None or self.epoch is None:
            return (0.0,) * len(self.half_lives_ms)
        age = now - self.epoch
        return tuple(
            s * 2.0 ** (-age / h) for s, h in zip(current, self.half_lives_ms, strict=True)
        )

    def items(self, now: int) -> Iterator[tuple[str, list[float]]]:
        """Every feature's decayed values at ``now`` (one decay factor per half-life, shared
        by all features: this runs on every profile update)."""
        if self.epoch is None:
            return
        age = now - self.epoch
        factors = [2.0 ** (-age / h) for h in self.half_lives_ms]
        for name, sums in self.sums.items():
            yield name, list(map(mul, sums, factors))

    def factor(self, now: int) -> float:
        """The decay factor at ``now`` at the first half-life: a stored ``sums[name][0]``
        times it is that feature's decayed value (0 before the first event).

        >>> f = DecayedFeatures(half_lives_ms=(1000,))
        >>> f.add("a", 4.0, ts=0)
        >>> f.sums["a"][0] * f.factor(now=2000)
        1.0

        """
        if self.epoch is None:
            return 0.0
        return 2.0 ** (-(now - self.epoch) / self.half_lives_ms[0])

    def first(self, now: int, names: Iterable[str] | None = None) -> dict[str, float]:
        """The decayed values at ``now`` at the first half-life of every feature (or of
        ``names``, which must exist): what :meth:`items` gives first, as one dict (the
        recommender ranks on one half-life, and building a list per feature cost it a third
        of its time).

        >>> f = DecayedFeatures(half_lives_ms=(1000, 2000))
        >>> f.add("a", 4.0, ts=0)
        >>> f.add("b", 8.0, ts=0)
        >>> f.first(now=2000), f.first(now=2000, names=["b"])
        ({'a': 1.0, 'b': 2.0}, {'b': 2.0})

        """
        factor = self.factor(now)
        if names is None:
            return {name: sums[0] * factor for name, sums in self.sums.items()}
        return {name: self.sums[name][0] * factor for name in names}

    def names(self, prefix: str = "") -> list[str]:
        """Feature names starting with ``prefix``."""
        return [n for n in self.sums if n.startswith(prefix)]

    def remove(self, names: Iterable[str]) -> None:
        """Forget the named features."""
        for name in names:
            self.sums.pop(name, None)

    def merge(self, other: DecayedFeatures) -> None:
        """Add ``other``'s sums into these (same half-lives), as if its events had come here."""
        if other.epoch is None:
            return
        if self.epoch is None:
            self.epoch = other.epoch
        shift = [2.0 ** ((other.epoch - self.epoch) / h) for h in self.half_lives_ms]
        for name, values in other.sums.items():
            self._accumulate(name, [v * f for v, f in zip(values, shift, strict=True)])

    def _accumulate(self, name: str, scaled: list[float]) -> None:
        current = self.sums.get(name)
        if current is None:
            self.sums[name] = scaled
        else:
            for i, value in enumerate(scaled):
                current[i] += value

    def _rebase(self, new_epoch: int) -> None:
        assert self.epoch is not None
        factors = [2.0 ** (-(new_epoch - self.epoch) / h) for h in self.half_lives_ms]
        for values in self.sums.values():
            for i, f in enumerate(factors):
                values[i] *= f
        self.epoch = new_epoch
