"""Thompson sampling over Beta posteriors, with the exact probability of each choice.

Thompson sampling draws one value from each arm's Beta posterior and plays the arm with the
largest draw. The probability that arm ``c`` is played (its propensity, what off-policy
evaluation divides by) is

    P(c) = integral over x of f_c(x) * prod_{j != c} F_j(x)

with ``f`` the Beta density and ``F`` its distribution function (the draws are independent).
:func:`win_probability` computes it by Gauss-Legendre quadrature over where the integrand
lives:

- the range is arm ``c``'s mean +/- 7 standard deviations, cut below where some other arm's
  distribution function is still ~0 and above where every other one is ~1 (that last part,
  ``1 - F_c(top)``, is added exactly);
- a competitor much narrower than ``c`` (standard deviation under a third of ``c``'s) adds
  break points at its mean +/- 5 deviations, so its steep distribution function is resolved;
- each piece gets 20 nodes; ``F_j`` comes from ``scipy.special.betainc``.

Its error, measured against adaptive quadrature (``scipy.integrate.quad``) on the tests'
posterior sets (flat priors, near ties, a new arm against arms with 40,000 observations,
discounted non-integer posteriors), is under 0.4% of the probability for every arm above
0.1%; the truncation at 7 deviations costs at most ~3e-4 (a ``Beta(1, n)``'s exponential tail)
and nothing measurable once both parameters exceed a few units. Compared with counting wins
among posterior draws (what this replaced: 256 draws, a standard error of up to 3 points, and
never below 1/256), it is exact where off-policy estimates need it, for rare choices.

Examples
--------

>>> round(win_probability([(1.0, 1.0), (1.0, 1.0)], 0), 6)  # two flat priors: a coin
0.5
>>> round(win_probability([(2.0, 1.0), (1.0, 2.0)], 0), 6)  # P(X > Y), exactly 5/6
0.833333
>>> arm, p = choose([(30.0, 70.0), (2.0, 98.0)], seed=3)
>>> arm, p > 0.999999
(0, True)
>>> choose([(30.0, 70.0), (28.0, 72.0)], seed=3) == choose([(30.0, 70.0), (28.0, 72.0)], seed=3)
True

"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np
from scipy import special

#: Gauss-Legendre nodes and weights on [0, 1].
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(20)
_NODES = 0.5 * (_NODES + 1.0)
_WEIGHTS = 0.5 * _WEIGHTS
#: Half-width of an arm's range, and of a narrow competitor's break points, in deviations.
_RANGE = 7.0
_CORE = 5.0
#: Smallest propensity reported: the chosen arm's true probability is never 0, and an
#: inverse-propensity estimate must not divide by 0.
FLOOR = 1e-9


def choose(posteriors: Sequence[tuple[float, float]], seed: int) -> tuple[int, float]:
    """Thompson sampling over Beta ``(alpha, beta)`` posteriors: the index of the arm whose
    draw is largest (draws seeded by ``seed``, so a replay chooses alike) and the probability
    it had of being chosen."""
    if len(posteriors) == 1:
        return 0, 1.0
    # One uniform per arm through each posterior's inverse distribution function: a draw
    # from each Beta, in a third less time than seeding a numpy generator and sampling.
    rng = random.Random(seed)
    alphas, betas = zip(*posteriors, strict=True)
    draws = special.betaincinv(alphas, betas, [rng.random() for _ in posteriors])
    chosen = int(draws.argmax())
    return chosen, win_probability(posteriors, chosen)


def win_probability(posteriors: Sequence[tuple[float, float]], arm: int) -> float:
    """Probability that ``arm``'s draw is the largest of independent draws from Beta
    ``(alpha, beta)`` ``posteriors`` (each parameter at least 1)."""
    means, devs, lows, highs = [], [], [], []
    for alpha, beta in posteriors:
        n = alpha + beta
        mean = alpha / n
        dev = math.sqrt(alpha * beta / (n * n * (n + 1.0)))
        means.append(mean)
        devs.append(dev)
        lows.append(max(mean - _RANGE * dev, 0.0))
        highs.append(min(mean + _RANGE * dev, 1.0))
    others = [j for j in range(len(posteriors)) if j != arm]
    if not others:
        return 1.0
    alpha, beta = posteriors[arm]
    start = max(lows[arm], max(lows[j] for j in others))
    top = max(highs[j] for j in others)
    end = min(highs[arm], top)
    # Above every competitor's range the integrand is f_c alone: its mass is exact.
    tail = 1.0 - float(special.betainc(alpha, beta, top)) if top < highs[arm] else 0.0
    if end <= start:
        return max(tail, FLOOR)
    live = [j for j in others if highs[j] > start]
    cuts = {start, end}
    for j in live:
        if 3.0 * devs[j] < devs[arm]:
            for point in (means[j] - _CORE * devs[j], means[j] + _CORE * devs[j]):
                if start < point < end:
                    cuts.add(point)
    if len(cuts) == 2:
        x = start + (end - start) * _NODES
        weights = (end - start) * _WEIGHTS
    else:
        edges = np.array(sorted(cuts))
        widths = np.diff(edges)
        x = (edges[:-1, None] + widths[:, None] * _NODES).ravel()
        weights = (widths[:, None] * _WEIGHTS).ravel()
    density = np.exp(
        (alpha - 1.0) * np.log(x) + (beta - 1.0) * np.log1p(-x) - special.betaln(alpha, beta)
    )
    if live:
        a = np.array([posteriors[j][0] for j in live])[:, None]
        b = np.array([posteriors[j][1] for j in live])[:, None]
        density *= special.betainc(a, b, x).prod(axis=0)
    return max(float(density @ weights) + tail, FLOOR)
