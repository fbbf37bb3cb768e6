"""Offline policy evaluation: what would a target policy have earned, estimated from a log of
decisions made by another (logging) policy, with the propensities the log recorded.

A log is a sequence of :class:`Logged` decisions: the context (the segment), the action
taken, the probability with which the logging policy took it, the reward, and the actions that
were available (all actions seen in the log when empty). :mod:`models.ope_log` reads and checks
logs and target tables from files (docs/ope.md).

Estimators, each with a normal-approximation confidence interval:

- **IPW** (inverse propensity weighting): mean of ``w * r`` with ``w = pi(a|x) / p``;
- **SNIPW** (self-normalized): ``sum(w r) / sum(w)``, interval by the delta method;
- **DM** (direct method): ``sum_a pi(a|x) q(x, a)`` with a reward model ``q(x, a)`` (mean
  logged reward per context and action, shrunk to the action's mean, unless one is given);
- **DR** (doubly robust): DM plus the IPW correction of its residual;
- **SNDR** (self-normalized DR): the correction's weights divided by their mean;
- :func:`bootstrap` gives any of them a percentile interval instead;
- **replay** (Li et al., 2011) for a *learning* policy on uniformly random logs: walk the log
  in order; where the policy picks the logged action, count the reward and let it learn.

Examples
--------

>>> log = [Logged("s", "a", 0.5, 1.0), Logged("s", "b", 0.5, 0.0)] * 50
>>> always_a = lambda context, actions: {"a": 1.0}
>>> round(ipw(log, always_a).value, 3), round(snipw(log, always_a).value, 3)
(1.0, 1.0)
>>> round(doubly_robust(log, always_a).value, 3), round(self_normalized_dr(log, always_a).value, 3)
(1.0, 1.0)

A contextual target (its probabilities differ from decision to decision, not only by segment)
is logged with each decision and read by :func:`logged_target`:

>>> mixed = [Logged("s", "a", 0.5, 1.0, target=(("a", 0.8), ("b", 0.2))),
...          Logged("s", "b", 0.5, 0.0, target=(("a", 0.2), ("b", 0.8)))]
>>> ipw(mixed, logged_target).value  # (0.8 / 0.5 * 1 + 0.8 / 0.5 * 0) / 2
0.8

"""

from __future__ import annotations

import math
import random
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from scipy.stats import norm

from models.bandits import Bandit

#: ``target(context, actions) -> {action: probability}``
Target = Callable[[str, Sequence[str]], Mapping[str, float]]
#: A direct-method reward model: ``q(context, action) -> expected reward``.
RewardModel = Callable[[str, str], float]


@dataclass(frozen=True)
class Logged:
    """One logged decision; ``target`` optionally carries the target policy's probabilities
    for this very decision (a contextual policy, evaluated with :func:`logged_target`)."""

    context: str
    action: str
    propensity: float
    reward: float
    actions: tuple[str, ...] = ()
    target: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Estimate:
    """A policy value estimate and its confidence interval."""

    method: str
    value: float
    low: float
    high: float
    n: int

    def row(self) -> dict[str, float | int | str]:
        return {"method": self.method, "value": self.value, "low": self.low, "high": self.high,
                "n": self.n}  # fmt: skip


def logged_target(_context: str, _actions: Sequence[str]) -> Mapping[str, float]:
    """The target policy logged with each decision (its ``target`` probabilities): pass it as
    ``target`` to evaluate a contextual policy whose choice depends on more than the segment."""
    raise TypeError("logged_target is read per decision by the estimators, not called")


def ipw(log: Sequence[Logged], target: Target, level: float = 0.95) -> Estimate:
    """Inverse propensity weighting."""
    terms = [w * r.reward for w, r in zip(_weights(log, _targets(log, target)), log, strict=True)]
    return _within_rewards(_mean_estimate("ipw", terms, level), log)


def snipw(log: Sequence[Logged], target: Target, level: float = 0.95) -> Estimate:
    """Self-normalized IPW: biased but far less variable when weights are large."""
    weights = _weights(log, _targets(log, target))
    total = sum(weights)
    if total == 0:
        return Estimate("snipw", math.nan, math.nan, math.nan, len(log))
    value = sum(w * r.reward for w, r in zip(weights, log, strict=True)) / total
    mean_w = total / len(log)
    var = sum((w * (r.reward - value)) ** 2 for w, r in zip(weights, log, strict=True)) / len(log)
    half = _z(level) * math.sqrt(var / len(log)) / mean_w
    return _within_rewards(Estimate("snipw", value, value - half, value + half, len(log)), log)


def direct_method(
    log: Sequence[Logged], target: Target, level: float = 0.95, q: RewardModel | None = None
) -> Estimate:
    """The direct method: the mean over decisions of ``sum_a target(a | x) q(x, a)``. With
    the built-in reward model the interval adds the model's own error (each cell mean's
    variance, weighted by how much the target leans on it); with a given ``q`` it reflects the
    decisions' spread only."""
    fitted = q is None
    q = q or _direct_model(log)
    targets = _targets(log, target)
    terms = [_direct(probs, r.context, q) for r, probs in zip(log, targets, strict=True)]
    estimate = _mean_estimate("dm", terms, level)
    if fitted and len(log) > 1:
        half = _z(level) * math.sqrt(
            ((estimate.high - estimate.value) / _z(level)) ** 2 + _model_variance(log, targets)
        )
        estimate = Estimate("dm", estimate.value, estimate.value - half, estimate.value + half,
                            estimate.n)  # fmt: skip
    return _within_rewards(estimate, log)


def doubly_robust(
    log: Sequence[Logged], target: Target, level: float = 0.95, q: RewardModel | None = None
) -> Estimate:
    """Doubly robust: the direct method plus the IPW correction of its error."""
    q = q or _direct_model(log)
    targets = _targets(log, target)
    terms = [
        _direct(probs, r.context, q) + w * (r.reward - q(r.context, r.action))
        for r, probs, w in zip(log, targets, _weights(log, targets), strict=True)
    ]
    return _within_rewards(_mean_estimate("dr", terms, level), log)


def self_normalized_dr(
    log: Sequence[Logged], target: Target, level: float = 0.95, q: RewardModel | None = None
) -> Estimate:
    """Self-normalized doubly robust: the correction's weights divided by their mean, which
    keeps the estimate within reach of the rewards when weights are large."""
    q = q or _direct_model(log)
    targets = _targets(log, target)
    weights = _weights(log, targets)
    mean_w = sum(weights) / len(log) if log else 0.0
    if mean_w == 0:
        return Estimate("sndr", math.nan, math.nan, math.nan, len(log))
    terms = [
        _direct(probs, r.context, q) + w / mean_w * (r.reward - q(r.context, r.action))
        for r, probs, w in zip(log, targets, weights, strict=True)
    ]
    return _within_rewards(_mean_estimate("sndr", terms, level), log)


def bootstrap(
    estimator: Callable[..., Estimate],
    log: Sequence[Logged],
    target: Target,
    level: float = 0.95,
    resamples: int = 200,
    seed: int = 0,
) -> Estimate:
    """``estimator``'s value with a percentile bootstrap interval: the estimator (and its
    reward model) run again on ``resamples`` resamples of the decisions."""
    point = estimator(log, target, level)
    rng = random.Random(seed)
    found = (estimator(rng.choices(log, k=len(log)), target, level).value for _ in range(resamples))
    values = sorted(v for v in found if not math.isnan(v))  # NaN would spoil the sort order
    if not values:
        return point
    tail = (1 - level) / 2
    low = values[int(tail * (len(values) - 1))]
    high = values[math.ceil((1 - tail) * (len(values) - 1))]
    return Estimate(f"{point.method}:bootstrap", point.value, low, high, point.n)


def replay(
    log: Iterable[Logged], policy: str = "thompson", per_context: bool = True, level: float = 0.95
) -> Estimate:
    """Replay a learning bandit (``models.bandits`` kind) on a uniformly random log."""
    bandits: dict[str, Bandit] = defaultdict(lambda: Bandit(policy))
    seen = list(log)
    everything: set[str] = set()
    rewards = []
    for i, r in enumerate(seen):
        everything.add(r.action)
        actions = list(r.actions) or sorted(everything)
        bandit = bandits[r.context if per_context else "*"]
        chosen, _p = bandit.choose(actions, seed=i)
        if chosen == r.action:
            rewards.append(r.reward)
            bandit.update(chosen, r.reward, seed=i)
    return _within_rewards(_mean_estimate(f"replay:{policy}", rewards, level), seen)


def table_target(table: Mapping[str, Mapping[str, float]]) -> Target:
    """A fixed stochastic policy: ``{context: {action: probability}}`` (``"*"``: any other
    context); probabilities of actions not available are renormalized away, and a context
    with no row (or no available action in it) is uniform. :func:`models.ope_log.check_table`
    refuses tables where either would happen by mistake."""

    def target(context: str, actions: Sequence[str]) -> Mapping[str, float]:
        row = table.get(context) or table.get("*") or {}
        probs = {a: float(row.get(a, 0.0)) for a in actions}
        total = sum(probs.values())
        return {a: p / total for a, p in probs.items()} if total else uniform(context, actions)

    return target


def uniform(_context: str, actions: Sequence[str]) -> Mapping[str, float]:
    """The uniformly random policy."""
    return {a: 1.0 / len(actions) for a in actions}


def greedy(log: Sequence[Logged]) -> Target:
    """Always the action with the best mean logged reward in the context (a learned target)."""
    q = _direct_model(log)

    def target(context: str, actions: Sequence[str]) -> Mapping[str, float]:
        best = max(actions, key=lambda a: q(context, a))
        return {best: 1.0}

    return target


def _targets(log: Sequence[Logged], target: Target) -> list[Mapping[str, float]]:
    """The target's probabilities over each decision's available actions."""
    if target is logged_target:
        return [dict(r.target) for r in log]
    everything = tuple(sorted({r.action for r in log}))
    return [target(r.context, r.actions or everything) for r in log]


def _weights(log: Sequence[Logged], targets: Sequence[Mapping[str, float]]) -> list[float]:
    """``target(a | x) / propensity`` of each decision, from :func:`_targets`' output."""
    weights = []
    for r, probs in zip(log, targets, strict=True):
        if not 0 < r.propensity <= 1:
            raise ValueError(f"propensity must be in (0, 1], got {r.propensity}")
        weights.append(probs.get(r.action, 0.0) / r.propensity)
    return weights


def _direct(probs: Mapping[str, float], context: str, q: RewardModel) -> float:
    return sum(p * q(context, a) for a, p in probs.items())


def _model_variance(
    log: Sequence[Logged], targets: Sequence[Mapping[str, float]], prior: float = 5.0
) -> float:
    """The variance the built-in reward model adds to the direct method: each (context,
    action) mean's variance (its sample variance, or the log's for a cell with fewer than two
    decisions, over the cell's count plus the prior's weight), times the square of the share
    of the estimate that leans on it."""
    cells: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in log:
        cells[r.context, r.action].append(r.reward)
    overall = statistics.pvariance([r.reward for r in log])
    lean: dict[tuple[str, str], float] = defaultdict(float)
    for r, probs in zip(log, targets, strict=True):
        for action, p in probs.items():
            lean[r.context, action] += p / len(log)
    total = 0.0
    for cell, share in lean.items():
        rewards = cells.get(cell, [])
        spread = statistics.variance(rewards) if len(rewards) > 1 else overall
        total += share**2 * spread / (len(rewards) + prior)
    return total


def _direct_model(log: Sequence[Logged], prior: float = 5.0) -> Callable[[str, str], float]:
    sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0])
    per_action: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for r in log:
        for acc in (sums[r.context, r.action], per_action[r.action]):
            acc[0] += r.reward
            acc[1] += 1
    overall = sum(r.reward for r in log) / len(log) if log else 0.0

    def q(context: str, action: str) -> float:
        a_sum, a_n = per_action.get(action, (0.0, 0))
        base = (a_sum + prior * overall) / (a_n + prior)
        s, n = sums.get((context, action), (0.0, 0))
        return (s + prior * base) / (n + prior)

    return q


def _mean_estimate(method: str, terms: Sequence[float], level: float) -> Estimate:
    n = len(terms)
    if n == 0:
        return Estimate(method, math.nan, math.nan, math.nan, 0)
    mean = sum(terms) / n
    var = sum((t - mean) ** 2 for t in terms) / (n - 1) if n > 1 else 0.0
    half = _z(level) * math.sqrt(var / n)
    return Estimate(method, mean, mean - half, mean + half, n)


def _within_rewards(estimate: Estimate, log: Sequence[Logged]) -> Estimate:
    """The interval clipped to the range of logged rewards, where every policy's value lies;
    the point estimate is left as the estimator gives it (an IPW value outside the range is a
    sign of large weights, worth seeing)."""
    if not log or math.isnan(estimate.low):
        return estimate
    lowest, highest = min(r.reward for r in log), max(r.reward for r in log)
    low = min(max(estimate.low, lowest), highest)
    high = max(min(estimate.high, highest), lowest)
    return Estimate(estimate.method, estimate.value, low, high, estimate.n)


def _z(level: float) -> float:
    return float(norm.ppf(0.5 + level / 2))
