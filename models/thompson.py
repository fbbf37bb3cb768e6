"""Thompson sampling over Beta posteriors, with the exact probability of each choice (and
the same probability for normal draws, what linear Thompson sampling makes).

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
from collections.abc import Callable, Sequence

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
    chosen = draw(posteriors, seed)
    return chosen, win_probability(posteriors, chosen)


def draw(posteriors: Sequence[tuple[float, float]], seed: int) -> int:
    """The index of the arm whose draw from its Beta posterior is largest (seeded).

    >>> draw([(30.0, 70.0), (2.0, 98.0)], seed=3)
    0
    """
    # One uniform per arm through each posterior's inverse distribution function: a draw
    # from each Beta, ~2 us cheaper than seeding a numpy generator per decision.
    rng = random.Random(seed)
    alphas, betas = zip(*posteriors, strict=True)
    draws = special.betaincinv(alphas, betas, [rng.random() for _ in posteriors])
    return int(draws.argmax())


def win_probability(posteriors: Sequence[tuple[float, float]], arm: int) -> float:
    """Probability that ``arm``'s draw is the largest of independent draws from Beta
    ``(alpha, beta)`` ``posteriors`` (each parameter at least 1)."""
    means, devs = [], []
    for alpha, beta in posteriors:
        n = alpha + beta
        means.append(alpha / n)
        devs.append(math.sqrt(alpha * beta / (n * n * (n + 1.0))))
    alpha, beta = posteriors[arm]
    # log B(alpha, beta) by math.lgamma: a scalar scipy call costs more than the sum
    log_norm = math.lgamma(alpha) + math.lgamma(beta) - math.lgamma(alpha + beta)

    def density(x: np.ndarray) -> np.ndarray:
        return np.exp((alpha - 1.0) * np.log(x) + (beta - 1.0) * np.log1p(-x) - log_norm)

    def cdfs(live: list[int], x: np.ndarray) -> np.ndarray:
        a, b = zip(*[posteriors[j] for j in live], strict=True)
        return special.betainc(np.array(a)[:, None], np.array(b)[:, None], x)

    def above(top: float) -> float:
        return 1.0 - special.betainc(alpha, beta, top)

    return _race(means, devs, arm, (0.0, 1.0), density, cdfs, above)


def normal_win_probability(means: Sequence[float], devs: Sequence[float], arm: int) -> float:
    """Probability that ``arm``'s draw is the largest of independent normal draws with
    ``means`` and standard deviations ``devs`` (what linear Thompson sampling draws).

    >>> round(normal_win_probability([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], 1), 5)
    0.33333
    >>> round(normal_win_probability([0.1, 0.0], [0.0, 0.1], 0), 6)  # a sure score: P(Y < 0.1)
    0.841345
    """
    mean, dev = means[arm], devs[arm]
    if dev == 0.0:  # a point: the chance every other draw falls below it (a tie between
        # points goes to the first, as the draws' argmax does)
        p = math.prod(
            (
                0.5 * math.erfc((m - mean) / (s * math.sqrt(2.0)))
                if s
                else float((m, arm) < (mean, j))
            )
            for j, (m, s) in enumerate(zip(means, devs, strict=True))
            if j != arm
        )
        return max(p, FLOOR)
    spread = [max(s, dev * 1e-9) for s in devs]

    def density(x: np.ndarray) -> np.ndarray:
        z = (x - mean) / dev
        return np.exp(-0.5 * z * z) / (dev * math.sqrt(2.0 * math.pi))

    def cdfs(live: list[int], x: np.ndarray) -> np.ndarray:
        m = np.array([means[j] for j in live])[:, None]
        s = np.array([spread[j] for j in live])[:, None]
        return special.ndtr((x - m) / s)

    def above(top: float) -> float:
        return float(special.ndtr((mean - top) / dev))

    # A normal's tails are thin: 5 deviations leave ~3e-7 out, and the nodes sit closer.
    return _race(list(means), spread, arm, (-math.inf, math.inf), density, cdfs, above, 5.0)


def _race(
    means: list[float],
    devs: list[float],
    arm: int,
    support: tuple[float, float],
    density: Callable[[np.ndarray], np.ndarray],
    cdfs: Callable[[list[int], np.ndarray], np.ndarray],
    above: Callable[[float], float],
    width: float = _RANGE,
) -> float:
    """The integral of ``arm``'s ``density`` times the other arms' distribution functions
    (``cdfs`` of the listed arms at the points), by the quadrature the module describes;
    ``above(t)``: ``arm``'s mass above ``t``; ranges of ``width`` deviations."""
    floor, ceiling = support
    lows, highs = [], []
    for m, s in zip(means, devs, strict=True):
        low, high = m - width * s, m + width * s
        lows.append(low if low > floor else floor)
        highs.append(high if high < ceiling else ceiling)
    if len(means) < 2:
        return 1.0
    others = list(range(len(means)))
    del others[arm]
    start = max(lows)  # the arm's own low among them: the integrand is 0 below each
    top = max(highs[j] for j in others)
    end = min(highs[arm], top)
    # Above every competitor's range the integrand is the density alone: its mass is exact.
    tail = float(above(top)) if top < highs[arm] else 0.0
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
    values = density(x)
    if live:
        values *= cdfs(live, x).prod(axis=0)
    return max(float(values @ weights) + tail, FLOOR)
