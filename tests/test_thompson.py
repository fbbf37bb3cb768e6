"""Thompson sampling's logged propensities are the probabilities of the choices: against an
exact closed form, against adaptive quadrature, against a million posterior draws, and
against how often :func:`models.thompson.choose` (and linear Thompson sampling) really picks
each arm."""

from __future__ import annotations

import math
import random
from collections import Counter

import numpy as np
import pytest
from scipy import integrate, special

from models.linear_bandits import LinTS
from models.thompson import choose, normal_win_probability, win_probability

#: Posterior sets a campaign meets: flat priors, near ties, a new offer beside offers with
#: 40,000 observations, skewed small counts, discounted (non-integer) evidence, many arms.
SETS = {
    "priors": [(1.0, 1.0)] * 3,
    "near_ties": [(50.0, 950.0), (55.0, 945.0), (48.0, 952.0), (60.0, 940.0)],
    "new_offer": [(1.0, 1.0), (2000.0, 38000.0), (1800.0, 38200.0), (30.0, 570.0)],
    "mixed": [(3.0, 60.0), (40.0, 700.0), (400.0, 7600.0), (4000.0, 76000.0), (1.5, 20.0)],
    "discounted": [(1.7, 25.3), (3.2, 40.1), (12.9, 200.7), (2.01, 19.5)],
    "skewed": [(1.0, 500.0), (1.0, 1000.0), (1.0, 1.0)],
    "eight": [(30.0 + 60 * i / 7, 970.0 - 60 * i / 7) for i in range(8)],
    "narrow_vs_wide": [(50_000.0, 950_000.0), (50_100.0, 949_900.0), (2.0, 30.0)],
}


def _quad(posteriors: list[tuple[float, float]], arm: int) -> float:
    """The same integral by adaptive quadrature, told where every arm's mass sits."""
    a, b = posteriors[arm]
    rest = [p for j, p in enumerate(posteriors) if j != arm]

    def integrand(x: float) -> float:
        log_density = (a - 1) * math.log(x) + (b - 1) * math.log1p(-x) - special.betaln(a, b)
        return math.exp(log_density) * math.prod(special.betainc(p, q, x) for p, q in rest)

    points = sorted({p / (p + q) for p, q in posteriors} - {0.0, 1.0})
    return integrate.quad(integrand, 0, 1, points=points, limit=500, epsabs=1e-13)[0]


def _two_arm_exact(first: tuple[int, int], second: tuple[int, int]) -> float:
    """P(X > Y) for X ~ Beta(first), Y ~ Beta(second), integer parameters: the finite sum
    of Evan Miller's "Formulas for Bayesian A/B testing"."""
    a1, b1 = first
    a2, b2 = second
    total = 0.0
    for i in range(a1):
        total += math.exp(
            special.betaln(a2 + i, b1 + b2)
            - math.log(b1 + i)
            - special.betaln(1 + i, b1)
            - special.betaln(a2, b2)
        )
    return total


@pytest.mark.parametrize(
    ("first", "second"), [((2, 1), (1, 2)), ((30, 70), (25, 75)), ((120, 2000), (100, 1800))]
)
def test_two_arms_match_the_closed_form(first, second) -> None:
    exact = _two_arm_exact(first, second)
    got = win_probability([tuple(map(float, first)), tuple(map(float, second))], 0)
    assert got == pytest.approx(exact, rel=1e-4)


@pytest.mark.parametrize("name", sorted(SETS))
def test_quadrature_matches_adaptive_quadrature(name: str) -> None:
    posteriors = SETS[name]
    for arm in range(len(posteriors)):
        reference = _quad(posteriors, arm)
        got = win_probability(posteriors, arm)
        if reference > 1e-3:
            assert got == pytest.approx(reference, rel=0.005), (name, arm)
        else:
            assert got < 2e-3, (name, arm)
    total = sum(win_probability(posteriors, arm) for arm in range(len(posteriors)))
    assert total == pytest.approx(1.0, abs=0.002)


@pytest.mark.parametrize("name", ["near_ties", "new_offer", "discounted", "eight"])
def test_propensities_match_a_million_posterior_draws(name: str) -> None:
    """The frequency with which each arm wins a joint draw: within 1% of the logged
    propensity, or within 4 standard errors where a million draws cannot resolve 1% (an
    arm near 0.1% has a 3% standard error)."""
    posteriors = SETS[name]
    a = np.array([p for p, _q in posteriors])[:, None]
    b = np.array([q for _p, q in posteriors])[:, None]
    rng = np.random.default_rng(11)
    wins = np.zeros(len(posteriors))
    draws = 1_000_000
    for _ in range(draws // 100_000):
        wins += np.bincount(rng.beta(a, b, (len(a), 100_000)).argmax(0), minlength=len(a))
    for arm, frequency in enumerate(wins / draws):
        if frequency < 1e-3:
            continue
        logged = win_probability(posteriors, arm)
        noise = 4 * math.sqrt(frequency * (1 - frequency) / draws)
        assert abs(logged - frequency) <= max(0.01 * frequency, noise), (arm, logged, frequency)


def test_choices_are_made_with_the_logged_probabilities() -> None:
    posteriors = SETS["near_ties"]
    n = 20_000
    picked = Counter(choose(posteriors, seed)[0] for seed in range(n))
    for arm in range(len(posteriors)):
        p = win_probability(posteriors, arm)
        assert abs(picked[arm] / n - p) <= 4 * math.sqrt(p * (1 - p) / n), (arm, picked, p)
    assert choose(posteriors, 99) == choose(posteriors, 99)  # a replay chooses alike


NORMAL_SETS = {
    "equal": ([0.0, 0.0, 0.0], [1.0, 1.0, 1.0]),
    "click_rates": ([0.05, 0.06, 0.04, 0.055], [0.01, 0.012, 0.02, 0.005]),
    "narrow_and_wide": ([0.1, 0.0, 0.3], [0.5, 0.01, 0.2]),
    "one_sure": ([0.02, 0.021], [0.001, 0.03]),
}


@pytest.mark.parametrize("name", sorted(NORMAL_SETS))
def test_normal_races_match_adaptive_quadrature(name: str) -> None:
    means, devs = NORMAL_SETS[name]
    for arm in range(len(means)):

        def integrand(x: float, arm: int = arm) -> float:
            z = (x - means[arm]) / devs[arm]
            others = (
                special.ndtr((x - m) / s)
                for j, (m, s) in enumerate(zip(means, devs, strict=True))
                if j != arm
            )
            return math.exp(-0.5 * z * z) / (devs[arm] * math.sqrt(2 * math.pi)) * math.prod(others)

        low, high = means[arm] - 12 * devs[arm], means[arm] + 12 * devs[arm]
        reference = integrate.quad(integrand, low, high, points=sorted(set(means)), limit=500)[0]
        got = normal_win_probability(means, devs, arm)
        assert got == pytest.approx(reference, rel=1e-3, abs=1e-6), (name, arm)


def test_linear_thompson_sampling_chooses_with_its_logged_probabilities() -> None:
    policy = LinTS(v=0.5)
    rng = random.Random(4)
    for _ in range(60):
        for arm, rate in (("a", 0.3), ("b", 0.25), ("c", 0.1)):
            policy.update(arm, {"bias": 1.0, "x": rng.random()}, float(rng.random() < rate))
    context = {"bias": 1.0, "x": 0.5}
    n = 20_000
    picked, logged = Counter(), {}
    for seed in range(n):
        arm, p = policy.choose(["a", "b", "c"], context, seed)
        picked[arm] += 1
        logged[arm] = p  # the same state and context: the same probability every time
    assert sum(logged.values()) == pytest.approx(1.0, abs=1e-4)
    for arm, p in logged.items():
        assert abs(picked[arm] / n - p) <= 4 * math.sqrt(p * (1 - p) / n), (arm, picked, p)
