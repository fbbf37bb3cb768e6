"""Statistics for comparing an experiment's variants, from per-variant sufficient statistics.

Every test works on :class:`Sample` sums (users, sum and sum of squares of the metric, and of
a pre-exposure covariate and its cross product), which is what the flow keeps per
(experiment, variant, metric): results are exact whatever the number of users.

- **Fixed horizon**: two-proportion z-test (pooled standard error under the null, unpooled for
  the interval) and Welch's t-test (:func:`scipy.stats.ttest_ind_from_stats`), with the
  absolute difference and the relative lift, each with a confidence interval (lift by the
  delta method on the log of the ratio). Valid *once*, at a sample size fixed in advance.
- **Always valid**: the mixture sequential probability ratio test (mSPRT) of Johari, Koomen,
  Pekelis & Walsh, "Always valid inference: continuous monitoring of A/B tests" (Operations
  Research, 2022), with a normal mixing distribution of standard deviation ``tau`` (in units
  of the metric's standard deviation). Its p-value and confidence sequence may be looked at
  after every user without inflating false positives (Ville's inequality): this is what the
  verdict uses, since marketers peek.
- **Bayesian**: Beta-Binomial posteriors (uniform prior) for proportions: the probability
  the variant beats control and the expected loss of choosing either, by Monte Carlo with a
  fixed seed (so a report is reproducible).
- **Sample-ratio mismatch**: chi-square goodness of fit of users per variant against the
  configured weights (:func:`scipy.stats.chisquare`).
- **CUPED** (Deng, Xu, Kohavi & Walker, 2013): the metric minus ``theta`` times the
  pre-exposure covariate's deviation from its overall mean, ``theta`` pooled over variants;
  the same tests on the adjusted metric, with the variance reduction it bought.

Examples
--------

>>> control = Sample(n=1000, total=100, total_sq=100)      # 10% convert
>>> treatment = Sample(n=1000, total=130, total_sq=130)    # 13% convert
>>> r = two_proportions(control, treatment)
>>> round(r.diff, 3), round(r.p_value, 4), [round(x, 4) for x in r.diff_ci]
(0.03, 0.0355, [0.0021, 0.0579])
>>> 0 < msprt(control, treatment, tau=0.05).p_value <= 1
True

"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: Monte Carlo draws for the Bayesian probabilities.
BAYES_DRAWS = 200_000


@dataclass(frozen=True)
class Sample:
    """One variant's sums for one metric: ``n`` users, the metric's sum and sum of squares,
    and the pre-exposure covariate's sum, sum of squares and cross product with the metric."""

    n: int
    total: float
    total_sq: float
    x_total: float = 0.0
    x_total_sq: float = 0.0
    xy_total: float = 0.0

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    @property
    def var(self) -> float:
        """Sample variance (``n - 1`` denominator), 0 below two users."""
        return _var(self.n, self.total, self.total_sq)

    def __add__(self, other: Sample) -> Sample:
        return Sample(
            self.n + other.n,
            self.total + other.total,
            self.total_sq + other.total_sq,
            self.x_total + other.x_total,
            self.x_total_sq + other.x_total_sq,
            self.xy_total + other.xy_total,
        )


@dataclass(frozen=True)
class Comparison:
    """A comparison of a variant against control: difference (variant - control) and its
    interval, relative lift and its interval (``None`` when control's mean is 0), p-value."""

    diff: float
    diff_ci: tuple[float, float]
    lift: float | None
    lift_ci: tuple[float, float] | None
    p_value: float


def two_proportions(control: Sample, treatment: Sample, alpha: float = 0.05) -> Comparison:
    """Two-sided two-proportion z-test; Wald interval for the difference.

    >>> r = two_proportions(Sample(500, 50, 50), Sample(500, 50, 50))
    >>> r.diff, r.p_value
    (0.0, 1.0)
    """
    pc, pt = control.mean, treatment.mean
    pooled = (control.total + treatment.total) / max(control.n + treatment.n, 1)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / max(control.n, 1) + 1 / max(treatment.n, 1)))
    diff = pt - pc
    p_value = float(2 * stats.norm.sf(abs(diff) / se0)) if se0 > 0 else 1.0
    se = math.sqrt(pc * (1 - pc) / max(control.n, 1) + pt * (1 - pt) / max(treatment.n, 1))
    z = float(stats.norm.ppf(1 - alpha / 2))
    lift, lift_ci = _lift(pc, pt, _log_ratio_se(control, treatment), z)
    return Comparison(diff, (diff - z * se, diff + z * se), lift, lift_ci, p_value)


def welch(control: Sample, treatment: Sample, alpha: float = 0.05) -> Comparison:
    """Welch's unequal-variance t-test (via :func:`scipy.stats.ttest_ind_from_stats`) with a
    Welch-Satterthwaite interval for the difference of means."""
    return _welch(
        control.mean, control.var, control.n, treatment.mean, treatment.var, treatment.n, alpha
    )


def _welch(
    mc: float, vc: float, nc: int, mt: float, vt: float, nt: int, alpha: float
) -> Comparison:
    diff = mt - mc
    if nc < 2 or nt < 2:
        return Comparison(diff, (-math.inf, math.inf), None, None, 1.0)
    ec, et = vc / nc, vt / nt
    se = math.sqrt(ec + et)
    if se == 0:
        return Comparison(
            diff, (diff, diff), _lift(mc, mt, 0.0, 0.0)[0], None, 1.0 if diff == 0 else 0.0
        )
    result = stats.ttest_ind_from_stats(
        mt, math.sqrt(vt), nt, mc, math.sqrt(vc), nc, equal_var=False
    )
    df = (ec + et) ** 2 / (ec**2 / (nc - 1) + et**2 / (nt - 1))
    t = float(stats.t.ppf(1 - alpha / 2, df))
    log_se = math.sqrt(et / mt**2 + ec / mc**2) if mt > 0 and mc > 0 else math.nan
    lift, lift_ci = _lift(mc, mt, log_se, t)
    return Comparison(diff, (diff - t * se, diff + t * se), lift, lift_ci, float(result.pvalue))


@dataclass(frozen=True)
class Sequential:
    """mSPRT: always-valid p-value and confidence sequence for the difference."""

    p_value: float
    diff_ci: tuple[float, float]


def msprt(control: Sample, treatment: Sample, tau: float = 0.05, alpha: float = 0.05) -> Sequential:
    """Always-valid p-value (``min(1, 1/Lambda)``) and ``1 - alpha`` confidence sequence for
    the difference of means, mixing over effects ``N(0, (tau * sigma)^2)`` where ``sigma`` is
    the metric's standard deviation over both variants together.

    >>> s = msprt(Sample(2000, 100, 100), Sample(2000, 100, 100))
    >>> s.p_value
    1.0
    """
    both = control + treatment
    if control.n < 2 or treatment.n < 2 or both.var <= 0:
        return Sequential(1.0, (-math.inf, math.inf))
    v = both.var * (1 / control.n + 1 / treatment.n)
    tau2 = tau**2 * both.var
    diff = treatment.mean - control.mean
    p = float(msprt_p_values(np.array(diff), np.array(v), tau2))
    half = math.sqrt(v * (v + tau2) / tau2 * (2 * math.log(1 / alpha) + math.log((v + tau2) / v)))
    return Sequential(p, (diff - half, diff + half))


def msprt_p_values(diff: np.ndarray, v: np.ndarray, tau2: float | np.ndarray) -> np.ndarray:
    """``min(1, 1/Lambda)`` for estimated differences ``diff`` with variances ``v``
    (vectorized: the A/A simulation calls it on every look of every experiment at once).

    ``Lambda = sqrt(v / (v + tau2)) * exp(diff^2 tau2 / (2 v (v + tau2)))``.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_lambda = 0.5 * np.log(v / (v + tau2)) + diff**2 * tau2 / (2 * v * (v + tau2))
        p = np.exp(-log_lambda)
    return np.where(v > 0, np.minimum(1.0, p), 1.0)


@dataclass(frozen=True)
class Bayes:
    """Beta-Binomial: P(variant > control), and the expected loss (in the metric's units) of
    shipping the variant or keeping control."""

    prob_better: float
    loss_variant: float
    loss_control: float


def beta_binomial(control: Sample, treatment: Sample, seed: int = 0) -> Bayes:
    """Posteriors ``Beta(1 + successes, 1 + failures)`` per variant, compared by Monte Carlo.

    >>> b = beta_binomial(Sample(1000, 100, 100), Sample(1000, 150, 150))
    >>> b.prob_better > 0.99, b.loss_variant < 0.001
    (True, True)
    """
    rng = np.random.default_rng(seed)
    c = stats.beta(1 + control.total, 1 + control.n - control.total).rvs(BAYES_DRAWS, rng)
    t = stats.beta(1 + treatment.total, 1 + treatment.n - treatment.total).rvs(BAYES_DRAWS, rng)
    return Bayes(
        float(np.mean(t > c)),
        float(np.mean(np.maximum(c - t, 0.0))),
        float(np.mean(np.maximum(t - c, 0.0))),
    )


@dataclass(frozen=True)
class SampleRatio:
    """Chi-square test of users per variant against the configured weights."""

    p_value: float
    observed: tuple[int, ...]
    expected: tuple[float, ...]

    def mismatch(self, threshold: float = 0.001) -> bool:
        """The usual alarm: p below 0.001 means the assignment or the logging is broken."""
        return self.p_value < threshold


def sample_ratio(users: Sequence[int], weights: Sequence[float]) -> SampleRatio:
    """Sample-ratio-mismatch check.

    >>> sample_ratio([5000, 5000], [0.5, 0.5]).mismatch()
    False
    >>> sample_ratio([5000, 4500], [0.5, 0.5]).mismatch()
    True
    """
    total = sum(users)
    share = np.asarray(weights, float) / sum(weights)
    expected = tuple(float(x) for x in share * total)
    if total == 0 or len(users) < 2:
        return SampleRatio(1.0, tuple(users), expected)
    p = float(stats.chisquare(np.asarray(users, float), np.asarray(expected)).pvalue)
    return SampleRatio(p, tuple(users), expected)


@dataclass(frozen=True)
class Adjusted:
    """A variant's CUPED-adjusted mean and variance."""

    n: int
    mean: float
    var: float


def cuped(samples: Sequence[Sample]) -> tuple[list[Adjusted], float, float]:
    """Adjusted (n, mean, variance) per sample, ``theta``, and the variance reduction
    (``1 - adjusted / raw`` variance pooled over variants; 0 without a usable covariate).

    ``theta = cov(x, y) / var(x)`` over all users; ``y' = y - theta (x - mean(x))``.

    >>> a = Sample(4, total=10, total_sq=30, x_total=10, x_total_sq=30, xy_total=30)
    >>> adjusted, theta, reduction = cuped([a, a])  # y == x: the covariate explains all
    >>> theta, reduction, adjusted[0].var
    (1.0, 1.0, 0.0)
    """
    both = samples[0]
    for s in samples[1:]:
        both = both + s
    var_x = _var(both.n, both.x_total, both.x_total_sq)
    if var_x <= 0:
        return [Adjusted(s.n, s.mean, s.var) for s in samples], 0.0, 0.0
    theta = _cov(both) / var_x
    x_mean = both.x_total / both.n
    out = []
    raw = adj = 0.0
    for s in samples:
        if s.n < 2:
            out.append(Adjusted(s.n, s.mean, s.var))
            continue
        vx = _var(s.n, s.x_total, s.x_total_sq)
        v = max(0.0, s.var - 2 * theta * _cov(s) + theta**2 * vx)
        out.append(Adjusted(s.n, s.mean - theta * (s.x_total / s.n - x_mean), v))
        raw += s.var * (s.n - 1)
        adj += v * (s.n - 1)
    return out, theta, (1 - adj / raw) if raw > 0 else 0.0


def cuped_welch(
    control: Sample, treatment: Sample, alpha: float = 0.05
) -> tuple[Comparison, float]:
    """Welch's test on the CUPED-adjusted metric, and the variance reduction."""
    (c, t), _theta, reduction = cuped([control, treatment])
    return _welch(c.mean, c.var, c.n, t.mean, t.var, t.n, alpha), reduction


def users_needed(
    control: Sample, treatment: Sample, effect: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Users per variant a fixed-horizon two-sided test needs to detect an absolute
    difference ``effect`` with ``power``, at the variants' observed variances.

    >>> users_needed(Sample(1000, 100, 100), Sample(1000, 100, 100), effect=0.01)
    14143
    """
    var = control.var + (treatment.var if treatment.n >= 2 else control.var)
    if effect == 0 or var <= 0:
        return 0
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return math.ceil(z**2 * var / effect**2)


def _lift(
    mc: float, mt: float, log_se: float, z: float
) -> tuple[float | None, tuple[float, float] | None]:
    if mc == 0:
        return None, None
    lift = mt / mc - 1
    if mt <= 0 or not math.isfinite(log_se):
        return lift, None
    centre = math.log(mt / mc)
    return lift, (math.exp(centre - z * log_se) - 1, math.exp(centre + z * log_se) - 1)


def _log_ratio_se(control: Sample, treatment: Sample) -> float:
    pc, pt = control.mean, treatment.mean
    if pc <= 0 or pt <= 0:
        return math.nan
    return math.sqrt((1 - pt) / (treatment.n * pt) + (1 - pc) / (control.n * pc))


def _var(n: int, total: float, total_sq: float) -> float:
    if n < 2:
        return 0.0
    return max(0.0, (total_sq - total * total / n) / (n - 1))


def _cov(s: Sample) -> float:
    if s.n < 2:
        return 0.0
    return (s.xy_total - s.x_total * s.total / s.n) / (s.n - 1)
