"""Disjoint LinUCB (Li et al. 2010): one ridge regression of the reward on the context per
arm, played by its upper confidence bound.

Arm ``a``'s score for context ``x`` is ``theta_a . x + alpha * sqrt(x' A_a^-1 x)`` with
``A_a = I + sum x x'`` over the contexts it was rewarded in and ``theta_a = A_a^-1 b_a``,
``b_a = sum reward * x``. ``A_a^-1`` is kept up to date with the Sherman-Morrison formula, so
a choice and an update cost ``O(d^2)`` for ``d`` features. Features are named (a context is a
dict, like River's); one not seen before extends every arm's matrices with the identity it
would have had from the start, which is exact because every earlier context held it at 0.

``alpha`` scales exploration in units of the reward's noise: for click rates near 5% the
noise is ``sqrt(0.05 * 0.95) ~= 0.22``, and ``alpha = 1`` explores several times more than
that calls for.

Why not ``river.bandit.LinUCBDisjoint``: a decision engine needs to replay a decision alike
and to know how likely each choice was, and River breaks ties with a generator it keeps to
itself. Here ties are broken by the order of ``arms`` (the caller's preference), so a choice
is a deterministic function of the state, the context and the arms.

Examples
--------

>>> policy = LinUCB(alpha=0.25)
>>> young, old = {"bias": 1.0, "young": 1.0}, {"bias": 1.0, "young": 0.0}
>>> for _ in range(50):
...     policy.update("a", young, 1.0); policy.update("a", old, 0.0)
...     policy.update("b", young, 0.0); policy.update("b", old, 1.0)
>>> policy.choose(["a", "b"], young), policy.choose(["a", "b"], old)
('a', 'b')

"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


class LinUCB:
    """Per-arm ridge regressions and their upper confidence bounds.

    Parameters
    ----------
    alpha
        Width of the confidence bound, in standard deviations of the reward's noise.

    """

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha
        #: Feature name -> column, in first-seen order.
        self.features: dict[str, int] = {}
        #: Arm -> (A^-1, b).
        self.arms: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def choose(self, arms: Sequence[str], context: Mapping[str, float]) -> str:
        """The arm with the highest upper confidence bound; the first in ``arms`` on a tie."""
        x = self._vector(context)
        scores = [self._score(arm, x) for arm in arms]
        return arms[scores.index(max(scores))]

    def update(self, arm: str, context: Mapping[str, float], reward: float) -> None:
        """Learn ``reward`` for ``arm`` in ``context``."""
        x = self._vector(context)
        inverse, b = self._arm(arm)
        ax = inverse @ x
        inverse -= np.outer(ax, ax) / (1.0 + x @ ax)
        b += reward * x

    def _score(self, arm: str, x: np.ndarray) -> float:
        inverse, b = self.arms.get(arm, (None, None))
        if inverse is None or b is None:
            return self.alpha * float(np.sqrt(x @ x))  # A = I: no evidence yet
        ax = inverse @ x
        return float((inverse @ b) @ x + self.alpha * np.sqrt(max(x @ ax, 0.0)))

    def _arm(self, arm: str) -> tuple[np.ndarray, np.ndarray]:
        found = self.arms.get(arm)
        if found is None:
            d = len(self.features)
            found = self.arms[arm] = (np.eye(d), np.zeros(d))
        return found

    def _vector(self, context: Mapping[str, float]) -> np.ndarray:
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
