"""Offline policy evaluation: what would a target policy have earned, estimated from a log of
decisions made by another (logging) policy, with the propensities the log recorded.

A log is a sequence of :class:`Logged` decisions: the context (the segment), the action
taken, the probability with which the logging policy took it, the reward, and the actions that
were available (all actions seen in the log when empty). :mod:`models.ope_log` reads and checks
logs and target tables from files (docs/ope.md).

Estimators, each with a normal-approximation confidence interval:

- **IPW** (inverse propensity weighting): mean of ``w * r`` with ``w = pi(a|x) / p``;
- **SNIPW** (self-normalized): ``sum(w r) / sum(w)``, interval by the delta method;
- **DR** (doubly robust): a direct-method model ``q(x, a)`` (mean logged reward per context
  and action, shrunk to the action's mean) plus the IPW correction of its residual;
- **replay** (Li et al., 2011) for a *learning* policy on uniformly random logs: walk the log
  in order; where the policy picks the logged action, count the reward and let it learn.

Examples
--------

>>> log = [Logged("s", "a", 0.5, 1.0), Logged("s", "b", 0.5, 0.0)] * 50
>>> always_a = lambda context, actions: {"a": 1.0}
>>> round(ipw(log, always_a).value, 3), round(snipw(log, always_a).value, 3)
(1.0, 1.0)
>>> round(doubly_robust(log, always_a).value, 3)
1.0

"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from scipy.stats import norm

from models.bandits import Bandit

#: ``target(context, actions) -> {action: probability}``
Target = Callable[[str, Sequence[str]], Mapping[str, float]]


@dataclass(frozen=True)
class Logged:
    """One logged decision."""

    context: str
    action: str
    propensity: float
    reward: float
    actions: tuple[str, ...] = ()


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


def ipw(log: Sequence[Logged], target: Target, level: float = 0.95) -> Estimate:
    """Inverse propensity weighting."""
    terms = [w * r.reward for w, r in zip(_weights(log, target), log, strict=True)]
    return _within_rewards(_mean_estimate("ipw", terms, level), log)


def snipw(log: Sequence[Logged], target: Target, level: float = 0.95) -> Estimate:
    """Self-normalized IPW: biased but far less variable when weights are large."""
    weights = _weights(log, target)
    total = sum(weights)
    if total == 0:
        return Estimate("snipw", math.nan, math.nan, math.nan, len(log))
    value = sum(w * r.reward for w, r in zip(weights, log, strict=True)) / total
    mean_w = total / len(log)
    var = sum((w * (r.reward - value)) ** 2 for w, r in zip(weights, log, strict=True)) / len(log)
    half = _z(level) * math.sqrt(var / len(log)) / mean_w
    return _within_rewards(Estimate("snipw", value, value - half, value + half, len(log)), log)


def doubly_robust(log: Sequence[Logged], target: Target, level: float = 0.95) -> Estimate:
    """Doubly robust: direct method plus the IPW correction of its error."""
    q = _direct_model(log)
    everything = sorted({r.action for r in log})
    terms = []
    for w, r in zip(_weights(log, target), log, strict=True):
        actions = r.actions or tuple(everything)
        probs = target(r.context, actions)
        direct = sum(p * q(r.context, a) for a, p in probs.items())
        terms.append(direct + w * (r.reward - q(r.context, r.action)))
    return _within_rewards(_mean_estimate("dr", terms, level), log)


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


def _weights(log: Sequence[Logged], target: Target) -> list[float]:
    everything = sorted({r.action for r in log})
    weights = []
    for r in log:
        if not 0 < r.propensity <= 1:
            raise ValueError(f"propensity must be in (0, 1], got {r.propensity}")
        probs = target(r.context, r.actions or tuple(everything))
        weights.append(probs.get(r.action, 0.0) / r.propensity)
    return weights


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
