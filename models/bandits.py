"""Bandit policies over a campaign's offers, with the probability of each choice (what
offline evaluation needs), built on River's public statistics.

Per arm, River keeps the statistics (``proba.Beta`` posteriors for Thompson sampling,
``stats.Mean`` for UCB and epsilon-greedy); this class chooses and adds what a decision
engine needs on top:

- **determinism per decision**: a choice is a function of the state, the request and a seed
  derived from the decision id, so a replay after a crash makes the same choice;
- **the selection probability** ("propensity") of the chosen arm, exact for every kind:

  - ``thompson``: by quadrature over the Beta posteriors (:mod:`models.thompson`);
  - ``epsilon_greedy``: ``epsilon / k + (1 - epsilon) * [greedy]``;
  - ``random``: ``1 / k``;
  - ``ucb`` and ``linucb`` (:mod:`models.linear_bandits`): deterministic, ties going to the
    first arm in the caller's order (the response model's ranking), so 1;
  - ``lints`` (linear Thompson sampling): exact, by quadrature over its normal draws;

- **revenue rewards for Thompson sampling**: a reward ``r`` in [0, 1] updates the Beta
  posterior as a Bernoulli(``r``) draw (Agrawal & Goyal 2012), seeded like the choice;
- **provisional misses** (:meth:`Bandit.assume_miss`): a shown offer counts as a miss at
  once and is corrected when its reward lands, so clicks (fast) and misses (known only when
  the window ends) reach the posteriors alike, instead of recent offers looking better;
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

import math
import random
from collections.abc import Mapping, Sequence

from river import proba, stats

from models import thompson
from models.discounted_beta import DiscountedBeta
from models.linear_bandits import LinTS, LinUCB

KINDS = ("thompson", "ucb", "epsilon_greedy", "linucb", "lints", "random")


class Bandit:
    """One policy over a set of arms (offer ids).

    Parameters
    ----------
    kind
        ``thompson`` (Beta-Bernoulli), ``ucb``, ``epsilon_greedy``, ``linucb`` or ``lints``
        (contextual, on the decision's context features) or ``random``.
    params
        Policy parameters: ``epsilon`` (0.1), ``delta`` (UCB exploration, 1.0), ``alpha``
        (LinUCB's and LinTS's exploration, in units of the reward's noise, 0.25).
    half_life_ms
        Thompson sampling only: evidence halves every ``half_life_ms`` of event time (the
        ``now`` of :meth:`choose` and :meth:`update`); ``None`` keeps it all.

    """

    def __init__(
        self,
        kind: str = "thompson",
        params: Mapping[str, float] | None = None,
        half_life_ms: int | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown policy {kind!r}; one of {', '.join(KINDS)}")
        params = dict(params or {})
        self.kind = kind
        self.epsilon = params.get("epsilon", 0.1)
        self.delta = params.get("delta", 1.0)
        self.updates = 0
        #: Latest event time seen (what :meth:`means` and :meth:`posterior` decay to).
        self.clock = 0
        #: Rewards learned per arm.
        self.counts: dict[str, int] = {}
        #: Provisional misses not yet corrected, per arm.
        self.assumed: dict[str, int] = {}
        self.discounted = (
            DiscountedBeta(half_life_ms) if kind == "thompson" and half_life_ms else None
        )
        #: Thompson sampling's posteriors (when not discounted).
        self.betas: dict[str, proba.Beta] = {}
        #: Mean reward per arm of the other kinds (what UCB and epsilon-greedy choose by;
        #: for the linear kinds, what their document shows).
        self.averages: dict[str, stats.Mean] = {}
        self.linear: LinUCB | LinTS | None = None
        if kind == "linucb":
            self.linear = LinUCB(params.get("alpha", 0.25))
        elif kind == "lints":
            self.linear = LinTS(params.get("alpha", 0.25))

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
            if self.discounted is not None:
                posteriors = [self.posterior(a) for a in arms]
            else:
                found = map(self.betas.get, arms)
                posteriors = [(b.alpha, b.beta) if b is not None else (1.0, 1.0) for b in found]
            chosen, propensity = thompson.choose(posteriors, seed)
            return arms[chosen], propensity
        if self.kind == "random":
            return random.Random(seed).choice(list(arms)), 1.0 / len(arms)
        if self.linear is not None:
            return self.linear.choose(arms, context or {}, seed)
        if self.kind == "ucb":
            bounds = [self._upper_bound(a) for a in arms]
            return arms[bounds.index(max(bounds))], 1.0
        means = [self._mean(a) for a in arms]
        greedy = arms[means.index(max(means))]
        rng = random.Random(seed)
        arm = rng.choice(list(arms)) if rng.random() < self.epsilon else greedy
        return arm, self.epsilon / len(arms) + (1.0 - self.epsilon) * (arm == greedy)

    def assume_miss(
        self, arm: str, context: Mapping[str, float] | None = None, now: int = 0
    ) -> None:
        """Count a miss for ``arm`` shown in ``context`` at event time ``now``; the reward
        that lands later with ``provisional=True`` (and the same context) replaces it."""
        if self.kind == "random":
            return
        self.clock = max(self.clock, now)
        self.assumed[arm] = self.assumed.get(arm, 0) + 1
        if self.linear is not None:
            self.linear.update(arm, context or {}, 0.0)
        self._learn(arm, False, now)

    def update(
        self,
        arm: str,
        reward: float,
        context: Mapping[str, float] | None = None,
        seed: int = 0,
        now: int = 0,
        provisional: bool = False,
    ) -> None:
        """Learn ``reward`` (in [0, 1]) for ``arm``, observed at event time ``now`` (ms);
        ``provisional``: a miss was assumed for it (:meth:`assume_miss`) and is replaced."""
        self.updates += 1
        self.counts[arm] = self.counts.get(arm, 0) + 1
        self.clock = max(self.clock, now)
        replacing = provisional and self.assumed.get(arm, 0) > 0
        if replacing:
            self.assumed[arm] -= 1
            self._learn(arm, False, now, undo=True)
        if self.kind == "thompson":
            success = reward >= 1.0 or (reward > 0.0 and random.Random(seed).random() < reward)
            self._learn(arm, success, now)
        elif self.kind != "random":
            if self.linear is not None and replacing:
                # The regression already holds this context, with reward 0: add the reward.
                self.linear.credit(arm, context or {}, reward)
            elif self.linear is not None:
                self.linear.update(arm, context or {}, reward)
            self._learn(arm, reward, now)

    def _learn(self, arm: str, outcome: float, now: int, undo: bool = False) -> None:
        """Add (or with ``undo`` take back) one outcome of ``arm`` to its statistics."""
        if self.discounted is not None:
            self.discounted.update(arm, bool(outcome), now, weight=-1.0 if undo else 1.0)
            return
        if self.kind == "thompson":
            statistic = self.betas.get(arm)
            if statistic is None:
                statistic = self.betas[arm] = proba.Beta()
            outcome = bool(outcome)
        else:
            statistic = self.averages.get(arm)
            if statistic is None:
                statistic = self.averages[arm] = stats.Mean()
        if undo:
            statistic.revert(outcome)
        else:
            statistic.update(outcome)

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
            # Its provisional misses went with the evidence: rewards still to land for them
            # are learned as they are.
            self.assumed.pop(other, None)
            if self.discounted is not None:
                self.discounted.shrink(factor, arm=other)
            else:
                self.betas[other] = proba.Beta(
                    1.0 + (alpha - 1.0) * factor, 1.0 + (beta - 1.0) * factor
                )

    def means(self) -> dict[str, float]:
        """Estimated mean reward of every arm seen so far (posterior mean for Thompson)."""
        if self.discounted is not None:
            arms = self.discounted.arms()
        elif self.kind == "thompson":
            arms = list(self.betas)
        else:
            arms = list(self.averages)
        return {a: self._mean(a) for a in arms}

    def pulls(self) -> dict[str, int]:
        """Rewards learned per arm."""
        return dict(self.counts)

    def posterior(self, arm: str) -> tuple[float, float]:
        """Beta ``(alpha, beta)`` of ``arm``'s mean reward, for credible intervals: Thompson
        sampling's own posterior, else the uniform-prior Beta of the learned mean (exact for
        0/1 rewards), so every policy kind can show how sure it is."""
        if self.discounted is not None:
            return self.discounted.posterior(arm, self.clock)
        if self.kind == "thompson":
            found = self.betas.get(arm)
            return (float(found.alpha), float(found.beta)) if found else (1.0, 1.0)
        n = self.counts.get(arm, 0)
        mean = self._mean(arm)
        return 1.0 + mean * n, 1.0 + (1.0 - mean) * n

    def _mean(self, arm: str) -> float:
        if self.kind == "thompson":
            alpha, beta = self.posterior(arm)
            return alpha / (alpha + beta)
        average = self.averages.get(arm)
        return float(average.get()) if average is not None else 0.0

    def _upper_bound(self, arm: str) -> float:
        """UCB1's optimistic estimate (an arm never rewarded first)."""
        average = self.averages.get(arm)
        if average is None or not average.n:
            return math.inf
        total = sum(self.counts.values())
        return average.get() + self.delta * math.sqrt(2.0 * math.log(total) / average.n)

    def __setstate__(self, state: dict) -> None:
        """Load a bandit pickled by an earlier version, which kept a ``river.bandit`` policy
        object: its per-arm statistics carry over (LinUCB's start afresh)."""
        old = state.pop("policy", None)
        state.pop("samples", None)
        state.pop("ucb_samples", None)
        if old is not None:
            params = {k: getattr(old, k) for k in ("epsilon", "delta", "alpha") if hasattr(old, k)}
            fresh = Bandit(state["kind"], params)
            discounted = state.get("discounted")
            state = {**vars(fresh), **state, "discounted": discounted}
            # The only place a private attribute is read: River's pickled statistics.
            rewards = vars(old)["_rewards"]
            counts = discounted.counts if discounted is not None else vars(old)["_counts"]
            state["counts"] = {str(a): int(n) for a, n in counts.items()}
            # (a discounted posterior's evidence is in its sums, already in the state)
            if discounted is None and state["kind"] == "thompson":
                state["betas"] = {str(a): proba.Beta(r.alpha, r.beta) for a, r in rewards.items()}
            elif state["kind"] in ("ucb", "epsilon_greedy"):
                state["averages"] = {str(a): r for a, r in rewards.items()}
        self.__dict__.update(state)
