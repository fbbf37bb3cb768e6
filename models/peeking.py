"""What peeking does to an A/B test: many simulated experiments on a conversion metric, each
looked at after every ``step`` users per variant, tested at every look with the fixed-horizon
z-test and with the always-valid mSPRT of :mod:`models.experiment_stats`.

With no true difference (A/A, ``lift=0``), the share of experiments declared significant at
*any* look is the false-positive rate a marketer who peeks actually gets: it must stay below
``alpha`` for the sequential test and it exceeds it, badly, for the fixed-horizon test. With
a true lift, the same share is the power. Vectorized over experiments and looks, using the
same p-value code as the live reports.

Examples
--------

>>> r = simulate(experiments=200, users=2_000, step=100, rate=0.1, lift=0.0, seed=1)
>>> r.sequential <= r.fixed_peeking, r.looks
(True, 20)

"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from models.experiment_stats import msprt_p_values


@dataclass(frozen=True)
class PeekingResult:
    """Shares of experiments declared significant (different from control)."""

    experiments: int
    looks: int
    users: int
    rate: float
    lift: float
    alpha: float
    tau: float
    sequential: float
    fixed_peeking: float
    fixed_final: float

    def standard_error(self, share: float) -> float:
        """Monte Carlo standard error of a share over ``experiments`` runs."""
        return math.sqrt(share * (1 - share) / self.experiments)


def simulate(
    experiments: int = 1_000,
    users: int = 20_000,
    step: int = 100,
    rate: float = 0.05,
    lift: float = 0.0,
    alpha: float = 0.05,
    tau: float = 0.05,
    seed: int = 0,
) -> PeekingResult:
    """Simulate ``experiments`` two-variant experiments of ``users`` per variant, control
    converting at ``rate`` and the variant at ``rate * (1 + lift)``, each looked at after every
    ``step`` users per variant.

    Returns the share rejected by the mSPRT at any look (``sequential``), by the fixed-horizon
    z-test at any look (``fixed_peeking``) and by the z-test at the last look only
    (``fixed_final``, the test used as designed).
    """
    rng = np.random.default_rng(seed)
    n = np.arange(step, users + 1, step)
    increments = np.diff(n, prepend=0)
    control = rng.binomial(increments, rate, size=(experiments, n.size)).cumsum(axis=1)
    variant = rng.binomial(increments, rate * (1 + lift), size=(experiments, n.size)).cumsum(1)

    both = control + variant
    pooled = both / (2 * n)
    var = pooled * (1 - pooled) * (2 * n) / (2 * n - 1)  # sample variance of 0/1 outcomes
    v = var * (2 / n)
    diff = (variant - control) / n
    sequential = msprt_p_values(diff, v, tau**2 * var) <= alpha
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(diff) / np.sqrt(pooled * (1 - pooled) * (2 / n))
    fixed = np.where(np.isfinite(z), 2 * stats.norm.sf(z), 1.0) < alpha
    return PeekingResult(
        experiments=experiments,
        looks=int(n.size),
        users=users,
        rate=rate,
        lift=lift,
        alpha=alpha,
        tau=tau,
        sequential=float(sequential.any(axis=1).mean()),
        fixed_peeking=float(fixed.any(axis=1).mean()),
        fixed_final=float(fixed[:, -1].mean()),
    )
