"""Bandit policies over a campaign's offers, from ``river.bandit``, plus the probability with
which each choice was made (what offline evaluation needs).

River keeps the per-arm statistics and does the updates; this wrapper adds what a decision
engine needs on top:

- **determinism per decision**: every choice draws from a generator seeded by the decision id,
  so a replay after a crash (same state, same request) makes the same choice;
- **the selection probability** ("propensity") of the chosen arm:

  - ``thompson``: the fraction of ``samples`` joint draws from the arms' Beta posteriors
    (river's ``proba.Beta``) in which the chosen arm wins, the first draw being the one that
    chose (so it is never 0; standard error at most ``0.5 / sqrt(samples)``). Drawing is
    vectorized with numpy, which is why this class samples instead of calling
    ``ThompsonSampling.pull`` (one Python ``betavariate`` call per arm and draw);
  - ``epsilon_greedy``: exact, ``epsilon / k + (1 - epsilon) * [greedy]``;
  - ``random``: exact, ``1 / k``;
  - ``ucb`` and ``linucb`` (river's ``UCB`` and ``LinUCBDisjoint``) are deterministic except
    for ties, which river breaks at random: the fraction of ``ucb_samples`` re-pulls with
    other seeds that return the same arm.

- **revenue rewards for Thompson sampling**: a reward ``r`` in [0, 1] updates the Beta
  posterior as a Bernoulli(``r``) draw (Agrawal & Goyal 2012), seeded like the choice;
- **discounted Thompson sampling** (``half_life_ms``): posteriors whose evidence fades in
  event time (:class:`models.discounted_beta.DiscountedBeta`), for rates that change;
- **forgetting on demand** (:meth:`Bandit.forget`): an arm's evidence back to the prior and
  the other arms' down to a few observations, what a drift response does.

Examples
--------

>>> b = Bandit("thompson")
>>> for i in range(300):
...     b.update("good", 1.0 if i % 3 else 0.0, seed=i)   # 2/3 success
...     b.update("bad", 1.0 if i % 10 == 0 else 0.0, seed=i)  # 1/10
>>> arm, p = b.choose(["good", "bad"], seed=7)
>>> arm, p > 0.99
('good', True)
>>> b.choose(["good", "bad"], seed=7) == (arm, p)  # same decision, same answer
True
>>> g = Bandit("epsilon_greedy", {"epsilon": 0.2})
>>> g.update("a", 1.0); g.update("b", 0.0)
>>> g.choose(["a", "b"], seed=1)
('a', 0.9)

"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import numpy as np
from river import bandit, proba, stats

from models.discounted_beta import DiscountedBeta

KINDS = ("thompson", "ucb", "epsilon_greedy", "linucb", "random")


class Bandit:
    """One policy over a set of arms (offer ids).

    Parameters
    ----------
    kind
        ``thompson`` (Beta-Bernoulli), ``ucb``, ``epsilon_greedy``, ``linucb`` (contextual,
        on the decision's context features) or ``random``.
    params
        Policy parameters: ``epsilon`` (0.1), ``delta`` (UCB exploration, 1.0), ``alpha``
        (LinUCB exploration, 1.0).
    samples
        Posterior draws used to estimate Thompson sampling's propensity.
    ucb_samples
        Re-pulls used to estimate the tie-breaking probability of UCB and LinUCB.
    half_life_ms
        Thompson sampling only: evidence halves every ``half_life_ms`` of event time (the
        ``now`` of :meth:`choose` and :meth:`update`); ``None`` keeps it all.

    """

    def __init__(
        self,
        kind: str = "thompson",
        params: Mapping[str, float] | None = None,
        samples: int = 256,
        ucb_samples: int = 16,
        half_life_ms: int | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown policy {kind!r}; one of {', '.join(KINDS)}")
        params = dict(params or {})
        self.kind = kind
        self.samples = samples
        self.ucb_samples = ucb_samples
        self.updates = 0
        #: Latest event time seen (what :meth:`means` and :meth:`posterior` decay to).
        self.clock = 0
        self.discounted = (
            DiscountedBeta(half_life_ms) if kind == "thompson" and half_life_ms else None
        )
        if kind == "thompson":
            self.policy: bandit.base.Policy = bandit.ThompsonSampling(reward_obj=proba.Beta())
        elif kind == "ucb":
            self.policy = bandit.UCB(delta=params.get("delta", 1.0), reward_obj=stats.Mean())
        elif kind == "epsilon_greedy":
            self.policy = bandit.EpsilonGreedy(epsilon=params.get("epsilon", 0.1))
        elif kind == "linucb":
            self.policy = bandit.LinUCBDisjoint(alpha=params.get("alpha", 1.0))
        else:
            self.policy = bandit.RandomPolicy()

    def choose(
        self,
        arms: Sequence[str],
        context: Mapping[str, float] | None = None,
        seed: int = 0,
        now: int = 0,
    ) -> tuple[str, float]:
        """The arm to play among ``arms`` (in preference order for ties) at event time
        ``now`` (ms), and the probability this policy had of choosing it."""
        self.clock = max(self.clock, now)
        if not arms:
            raise ValueError("no arm to choose from")
        if len(arms) == 1:
            return arms[0], 1.0
        if self.kind == "thompson":
            return self._thompson(arms, seed)
        if self.kind == "random":
            return random.Random(seed).choice(list(arms)), 1.0 / len(arms)
        if self.kind == "epsilon_greedy":
            arm = self._pull(arms, context, seed)
            means = [self._mean(a) for a in arms]
            greedy = arms[means.index(max(means))]
            eps = self.policy.current_epsilon  # type: ignore[attr-defined]
            return arm, eps / len(arms) + (1.0 - eps) * (arm == greedy)
        arm = self._pull(arms, context, seed)
        same = sum(
            self._pull(arms, context, seed * 7919 + i) == arm for i in range(1, self.ucb_samples)
        )
        return arm, (1 + same) / self.ucb_samples

    def update(
        self,
        arm: str,
        reward: float,
        context: Mapping[str, float] | None = None,
        seed: int = 0,
        now: int = 0,
    ) -> None:
        """Learn ``reward`` (in [0, 1]) for ``arm``, observed at event time ``now`` (ms)."""
        self.updates += 1
        self.clock = max(self.clock, now)
        if self.kind == "thompson":
            success = reward >= 1.0 or (reward > 0.0 and random.Random(seed).random() < reward)
            if self.discounted is not None:
                self.discounted.update(arm, success, now)
            else:
                self.policy.update(arm, success)
        elif self.kind == "linucb":
            self.policy.update(arm, dict(context or {}), reward)
        else:
            self.policy.update(arm, reward)

    def forget(self, arm: str, keep: float | None = None) -> None:
        """Drop what was learned of ``arm`` (back to the prior), and with ``keep`` scale
        every other arm's evidence down to at most ``keep`` observations, its mean unchanged.
        Thompson sampling only (other kinds have no prior to go back to).

        >>> b = Bandit("thompson")
        >>> for i in range(100):
        ...     b.update("a", 1.0); b.update("b", float(i % 2))
        >>> b.forget("a", keep=10)
        >>> b.posterior("a"), b.posterior("b")
        ((1.0, 1.0), (6.0, 6.0))

        """
        if self.kind != "thompson":
            return
        for other in self.means():
            alpha, beta = self.posterior(other)
            seen = alpha + beta - 2.0
            if other == arm:
                factor = 0.0
            elif keep is not None and seen > keep:
                factor = keep / seen
            else:
                continue
            if self.discounted is not None:
                self.discounted.shrink(factor, arm=other)
            else:
                posterior = self.policy._rewards[other]
                posterior.alpha = 1.0 + (alpha - 1.0) * factor
                posterior.beta = 1.0 + (beta - 1.0) * factor

    def means(self) -> dict[str, float]:
        """Estimated mean reward of every arm seen so far (posterior mean for Thompson)."""
        if self.discounted is not None:
            return {a: self._mean(a) for a in self.discounted.arms()}
        return {str(a): self._mean(a) for a in list(self.policy._rewards)}

    def pulls(self) -> dict[str, int]:
        """Rewards learned per arm."""
        if self.discounted is not None:
            return dict(self.discounted.counts)
        return {str(a): n for a, n in self.policy._counts.items()}

    def posterior(self, arm: str) -> tuple[float, float]:
        """Beta ``(alpha, beta)`` of ``arm``'s mean reward, for credible intervals: Thompson
        sampling's own posterior, else the uniform-prior Beta of the learned mean (exact for
        0/1 rewards), so every policy kind can show how sure it is."""
        if self.discounted is not None:
            return self.discounted.posterior(arm, self.clock)
        reward = self.policy._rewards.get(arm)
        if isinstance(reward, proba.Beta):
            return float(reward.alpha), float(reward.beta)
        n = self.policy._counts.get(arm, 0)
        mean = self._mean(arm)
        return 1.0 + mean * n, 1.0 + (1.0 - mean) * n

    def _mean(self, arm: str) -> float:
        if self.discounted is not None:
            alpha, beta = self.discounted.posterior(arm, self.clock)
            return alpha / (alpha + beta)
        reward = self.policy._rewards.get(arm)
        if reward is None:
            return 0.5 if self.kind == "thompson" else 0.0
        if isinstance(reward, proba.Beta):
            return reward.alpha / (reward.alpha + reward.beta)
        return float(reward.get() or 0.0)

    def _thompson(self, arms: Sequence[str], seed: int) -> tuple[str, float]:
        if self.discounted is not None:
            pairs = [self.discounted.posterior(a, self.clock) for a in arms]
        else:
            found = [self.policy._rewards.get(a) for a in arms]
            pairs = [(p.alpha, p.beta) if p is not None else (1.0, 1.0) for p in found]
        chosen, propensity = thompson(pairs, seed, self.samples)
        return arms[chosen], propensity

    def _pull(self, arms: Sequence[str], context: Mapping[str, float] | None, seed: int) -> str:
        self.policy._rng = random.Random(seed)  # type: ignore[attr-defined]
        if isinstance(self.policy, bandit.base.ContextualPolicy):
            return self.policy.pull(list(arms), context=dict(context or {}))
        return self.policy.pull(list(arms))


def thompson(
    posteriors: Sequence[tuple[float, float]], seed: int, samples: int = 256
) -> tuple[int, float]:
    """Thompson sampling over Beta ``(alpha, beta)`` posteriors: the index of the arm the
    first joint draw picks, and the share of ``samples`` joint draws it wins (its propensity;
    never 0, standard error at most ``0.5 / sqrt(samples)``). Used by :class:`Bandit` and by
    deciders that hold only the posteriors (the personalization API).

    >>> thompson([(30.0, 70.0), (2.0, 98.0)], seed=3)
    (0, 1.0)
    """
    a = np.array([p[0] for p in posteriors], dtype=float)
    b = np.array([p[1] for p in posteriors], dtype=float)
    draws = np.random.default_rng(seed).beta(a[:, None], b[:, None], (len(a), samples))
    winners = draws.argmax(axis=0)
    chosen = int(winners[0])
    return chosen, float(np.count_nonzero(winners == chosen)) / samples
