"""Linear bandits: one ridge regression of the reward on the context per arm (the
"disjoint" model of Li et al. 2010), played by an upper confidence bound (LinUCB) or by
Thompson sampling from the regression's posterior (LinTS, Agrawal & Goyal 2013).

Arm ``a``'s regression has ``A_a = I + sum x x'`` over the contexts it was rewarded in and
``b_a = sum reward * x``; its estimate for context ``x`` is ``theta_a . x`` with
``theta_a = A_a^-1 b_a``, and ``x' A_a^-1 x`` is the variance of that estimate in units of
the reward's noise. ``A_a^-1`` is kept up to date with the Sherman-Morrison formula, so a
choice and an update cost ``O(d^2)`` for ``d`` features. Features are named (a context is a
dict, like River's); one not seen before extends every arm's matrices with the identity it
would have had from the start, which is exact because every earlier context held it at 0.

The exploration parameter is in units of the reward's noise: for click rates near 5% the
noise is ``sqrt(0.05 * 0.95) ~= 0.22``, so 0.25 (the default) explores about as much as the
data warrant, where the customary 1 explores several times more.

- :class:`LinUCB` plays the highest ``theta . x + alpha * sqrt(x' A^-1 x)``; ties go to the
  first arm in the caller's order, so a choice is a deterministic function of the state.
- :class:`LinTS` draws each arm's score from ``N(theta . x, v^2 x' A^-1 x)`` and plays the
  largest. Its randomness keeps exploring between delayed, batched updates, where a
  deterministic bound repeats the same choice until the rewards land. The probability of
  the choice is exact (:func:`models.thompson.normal_win_probability`).

Why not ``river.bandit.LinUCBDisjoint``: a decision engine needs to replay a decision alike
and to know how likely each choice was, and River breaks ties with a generator it keeps to
itself.

Examples
--------

>>> young, old = {"bias": 1.0, "young": 1.0}, {"bias": 1.0, "young": 0.0}
>>> for policy in (LinUCB(), LinTS()):
...     for _ in range(50):
...         policy.update("a", young, 1.0); policy.update("a", old, 0.0)
...         policy.update("b", young, 0.0); policy.update("b", old, 1.0)
...     print(policy.choose(["a", "b"], young)[0], policy.choose(["a", "b"], old, seed=3)[0])
a b
a b

"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import numpy as np

from models.thompson import normal_win_probability


class RidgeArms:
    """Per-arm ridge regressions of the reward on named context features."""

    def __init__(self) -> None:
        #: Feature name -> column, in first-seen order.
        self.features: dict[str, int] = {}
        #: Arm -> (A^-1, b).
        self.arms: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def update(self, arm: str, context: Mapping[str, float], reward: float) -> None:
        """Learn ``reward`` for ``arm`` in ``context``."""
        x = self.vector(context)
        found = self.arms.get(arm)
        if found is None:
            d = len(self.features)
            found = self.arms[arm] = (np.eye(d), np.zeros(d))
        inverse, b = found
        ax = inverse @ x
        inverse -= np.outer(ax, ax) / (1.0 + x @ ax)
        b += reward * x

    def credit(self, arm: str, context: Mapping[str, float], reward: float) -> None:
        """Add ``reward`` to an observation of ``arm`` in ``context`` learned before with
        reward 0 (a provisional miss): only ``b`` changes, ``A`` already holds the context."""
        x = self.vector(context)
        found = self.arms.get(arm)
        if found is not None:
            found[1][:] += reward * x

    def estimate(self, arm: str, x: np.ndarray) -> tuple[float, float]:
        """``arm``'s expected reward at ``x`` and its variance in units of the noise (an
        arm never rewarded: 0 and ``x . x``, the prior's)."""
        found = self.arms.get(arm)
        if found is None:
            return 0.0, float(x @ x)
        inverse, b = found
        ax = inverse @ x
        return float(b @ ax), max(float(x @ ax), 0.0)

    def vector(self, context: Mapping[str, float]) -> np.ndarray:
        """``context`` as a vector over the features known so far (new ones added)."""
        new = [name for name in context if name not in self.features]
        if new:
            for name in new:
                self.features[name] = len(self.features)
            d = len(self.features)
            for arm, (inverse, b) in self.arms.items():
                grown = np.eye(d)
                grown[: len(b), : len(b)] = inverse
                self.arms[arm] = (grown, np.concatenate([b, np.zeros(d - len(b))]))
        x = np.zeros(len(self.features))
        for name, value in context.items():
            x[self.features[name]] = value
        return x


class LinUCB(RidgeArms):
    """Upper confidence bounds over per-arm ridge regressions.

    Parameters
    ----------
    alpha
        Width of the bound, in standard deviations of the reward's noise.

    """

    def __init__(self, alpha: float = 0.25) -> None:
        super().__init__()
        self.alpha = alpha

    def choose(
        self, arms: Sequence[str], context: Mapping[str, float], seed: int = 0
    ) -> tuple[str, float]:
        """The arm with the highest bound (the first in ``arms`` on a tie) and its
        probability, 1: the choice is deterministic (``seed`` is not used)."""
        x = self.vector(context)
        scores = []
        for arm in arms:
            mean, variance = self.estimate(arm, x)
            scores.append(mean + self.alpha * variance**0.5)
        return arms[scores.index(max(scores))], 1.0


class LinTS(RidgeArms):
    """Thompson sampling over per-arm ridge regressions.

    Parameters
    ----------
    v
        Posterior scale, in standard deviations of the reward's noise.

    """

    def __init__(self, v: float = 0.25) -> None:
        super().__init__()
        self.v = v

    def choose(
        self, arms: Sequence[str], context: Mapping[str, float], seed: int = 0
    ) -> tuple[str, float]:
        """The arm whose score drawn from its posterior (seeded by ``seed``) is largest, and
        the probability it had of being chosen."""
        x = self.vector(context)
        rng = random.Random(seed)
        means, devs = [], []
        for arm in arms:
            mean, variance = self.estimate(arm, x)
            means.append(mean)
            devs.append(self.v * variance**0.5)
        draws = [rng.gauss(m, s) for m, s in zip(means, devs, strict=True)]
        chosen = draws.index(max(draws))
        return arms[chosen], normal_win_probability(means, devs, chosen)
