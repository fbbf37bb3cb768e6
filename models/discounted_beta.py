"""Beta posteriors over arms whose evidence fades with event time: the state of discounted
Thompson sampling, for rewards whose rates change.

Each arm's successes and failures are decayed sums (:class:`models.decay.DecayedFeatures`,
the profile's decay math): an observation made ``half_life_ms`` ago counts half as much as
one made now. The posterior at time ``now`` is ``Beta(prior + successes(now), prior +
failures(now))``, so the evidence of every arm, played or not, shrinks back toward the
prior as time passes and a policy sampling from it keeps exploring arms it has not seen
lately (discounted Thompson sampling, Raj & Kalyani 2017, with the discount in event time
instead of per step). Because the sums are epoch-scaled, late and out-of-order rewards land
where they belong.

:meth:`shrink` scales an arm's evidence (or every arm's) by a factor at once, which is what
a drift response does.

Examples
--------

>>> hour = 3_600_000
>>> b = DiscountedBeta(half_life_ms=hour)
>>> for i in range(10):
...     b.update("a", True, ts=0)
>>> b.posterior("a", now=0)
(11.0, 1.0)
>>> b.posterior("a", now=hour)  # an hour later the ten successes count as five
(6.0, 1.0)
>>> b.posterior("never_seen", now=hour)
(1.0, 1.0)
>>> b.shrink(0.5, arm="a")
>>> b.posterior("a", now=hour)
(3.5, 1.0)

"""

from __future__ import annotations

from models.decay import DecayedFeatures


class DiscountedBeta:
    """Per-arm Beta posteriors with evidence that halves every ``half_life_ms``.

    Parameters
    ----------
    half_life_ms
        Event time (milliseconds) after which an observation counts half.
    prior
        ``(alpha, beta)`` of the prior every arm starts from and fades back to.

    """

    __slots__ = ("counts", "evidence", "prior")

    def __init__(self, half_life_ms: int, prior: tuple[float, float] = (1.0, 1.0)) -> None:
        if half_life_ms <= 0:
            raise ValueError("half_life_ms must be positive")
        self.evidence = DecayedFeatures(half_lives_ms=(half_life_ms,))
        self.prior = prior
        #: Outcomes added per arm, undiscounted (what orders :meth:`arms`).
        self.counts: dict[str, int] = {}

    def update(self, arm: str, success: bool, ts: int, weight: float = 1.0) -> None:
        """Learn one Bernoulli outcome of ``arm`` observed at event time ``ts`` (ms); a
        ``weight`` of -1 takes one back (a provisional miss replaced by its reward)."""
        self.evidence.add(f"{arm}\x00{'s' if success else 'f'}", weight, ts)
        self.counts[arm] = self.counts.get(arm, 0) + (weight > 0)

    def posterior(self, arm: str, now: int) -> tuple[float, float]:
        """``(alpha, beta)`` of ``arm`` at event time ``now``."""
        factor = self.evidence.factor(now)
        sums = self.evidence.sums
        wins = sums.get(f"{arm}\x00s", (0.0,))[0] * factor
        losses = sums.get(f"{arm}\x00f", (0.0,))[0] * factor
        return self.prior[0] + wins, self.prior[1] + losses

    def arms(self) -> list[str]:
        """Arms learned so far, in first-seen order."""
        return list(self.counts)

    def shrink(self, factor: float, arm: str | None = None) -> None:
        """Scale the evidence of ``arm`` (of every arm when ``None``) by ``factor`` in [0, 1]:
        0 puts it back at the prior."""
        for name, sums in self.evidence.sums.items():
            if arm is None or name.rsplit("\x00", 1)[0] == arm:
                sums[0] *= factor
