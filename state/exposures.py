"""A user's experiment exposures and the metric values they have earned since.

Kept per user in the user-keyed step (inside the contact ledger's snapshot), because metrics
are per user: a user counts once in their variant's denominator, from their **first
exposure** (a delivered decision of the variant, or the decision a holdout variant withheld),
and only events at or after that time count towards their metrics (:data:`METRICS`).

Each change comes out as a :data:`Delta`: additions to the variant's sums, so the totals
step (:mod:`operators.experiment_totals`) only adds vectors, in any order, on any worker.
Layout: ``[exposures, users]`` then, per metric, ``[sum y, sum y², sum x, sum x², sum xy]``
where ``x`` is the user's pre-exposure covariate for that metric (for CUPED).

Examples
--------

>>> ex = Exposures()
>>> first = ex.expose("spring|bandit", ts=100, covariates=(0.0, 0.0, 2.0, 0.0))
>>> first[:2], first[2 + 5 * 2 + 2]  # one exposure, one user; click covariate 2.0
([1.0, 1.0], 2.0)
>>> ex.observe(50, "conversion", 1.0)  # before the exposure: not the variant's doing
[]
>>> [(key, d[2:4]) for key, d in ex.observe(150, "conversion", 1.0)]
[('spring|bandit', [1.0, 1.0])]
>>> ex.observe(160, "conversion", 1.0)  # already converted: nothing changes
[]
>>> ex.expose("spring|bandit", ts=200, covariates=(0.0, 0.0, 2.0, 0.0))[:2]  # not a new user
[1.0, 0.0]

"""

from __future__ import annotations

from state.experiments import METRICS

#: Additions to one variant's sums (see the module docstring for the layout).
Delta = list[float]
#: Metrics that count once (0/1 per user); the others add up.
BINARY = frozenset({"conversion", "click", "unsubscribe"})
WIDTH = 2 + 5 * len(METRICS)
_INDEX = {m: 2 + 5 * i for i, m in enumerate(METRICS)}


class Exposures:
    """Memberships ``"experiment|variant" -> [first exposure ms, covariates, values]``.

    Parameters
    ----------
    max_memberships
        Bound per user; the oldest membership goes first (its metrics stop updating).

    """

    def __init__(self, max_memberships: int = 16, max_awaiting: int = 64) -> None:
        self.max_memberships = max_memberships
        self.max_awaiting = max_awaiting
        self.members: dict[str, list] = {}
        self.awaiting: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {}

    def __bool__(self) -> bool:
        return bool(self.members or self.awaiting)

    def await_delivery(
        self, decision_id: str, keys: tuple[str, ...], covariates: tuple[float, ...]
    ) -> None:
        """Remember a decision whose reward window closed before its delivery was seen (a
        lagging flow, a slow sender): the delivery, when it comes, is still an exposure."""
        if len(self.awaiting) >= self.max_awaiting:
            del self.awaiting[next(iter(self.awaiting))]
        self.awaiting[decision_id] = (keys, covariates)

    def claim(self, decision_id: str) -> tuple[tuple[str, ...], tuple[float, ...]] | None:
        """The experiments and covariates of an awaited decision, once."""
        return self.awaiting.pop(decision_id, None)

    def expose(self, key: str, ts: int, covariates: tuple[float, ...]) -> Delta:
        """Count an exposure to ``key`` (``"experiment|variant"``) at event time ``ts``; the
        first one enrolls the user with their pre-exposure ``covariates`` (one per metric)."""
        delta = [0.0] * WIDTH
        delta[0] = 1.0
        member = self.members.get(key)
        if member is not None:
            member[0] = min(member[0], ts)
            return delta
        if len(self.members) >= self.max_memberships:
            oldest = min(self.members, key=lambda k: self.members[k][0])
            del self.members[oldest]
        self.members[key] = [ts, tuple(covariates), [0.0] * len(METRICS)]
        delta[1] = 1.0
        for metric, x in zip(METRICS, covariates, strict=True):
            i = _INDEX[metric]
            delta[i + 2], delta[i + 3] = x, x * x
        return delta

    def observe(self, ts: int, metric: str, value: float) -> list[tuple[str, Delta]]:
        """A metric event at ``ts`` (``value``: 1 for a binary metric, the amount for
        revenue); deltas for every membership it changes."""
        out = []
        m = METRICS.index(metric)
        i = _INDEX[metric]
        for key, (first, covariates, values) in self.members.items():
            if ts < first:
                continue
            old = values[m]
            new = 1.0 if metric in BINARY else old + value
            if new == old:
                continue
            values[m] = new
            delta = [0.0] * WIDTH
            delta[i], delta[i + 1] = new - old, new * new - old * old
            delta[i + 4] = covariates[m] * (new - old)
            out.append((key, delta))
        return out

    def to_state(self) -> tuple[dict[str, list], dict[str, tuple]]:
        return self.members, self.awaiting

    @classmethod
    def from_state(cls, state: tuple[dict[str, list], dict[str, tuple]]) -> Exposures:
        members, awaiting = state
        exposures = cls()
        exposures.members = {k: [v[0], tuple(v[1]), list(v[2])] for k, v in members.items()}
        exposures.awaiting = {k: (tuple(a), tuple(x)) for k, (a, x) in awaiting.items()}
        return exposures
