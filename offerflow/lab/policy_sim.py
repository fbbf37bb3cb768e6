"""``offerflow simulate``: how well the flow's policies learn the population's hidden tastes.

The same decisions are put to four policies side by side, each through the code the flow runs
(:class:`state.policy.PolicyState`: bandit, response model, propensities):

- ``per_segment``: the campaign's policy with one state per segment (persona), as the flow
  keys it;
- ``single``: the same policy with one state for everybody (a non-segmented bandit);
- ``uniform_random``: ``random`` policy;
- ``oracle``: the best offer for the user's persona and channel, knowing the probabilities.

Every decision draws one uniform number and each policy is rewarded if it falls under its
chosen offer's probability (common random numbers: the comparison is not blurred by luck).
Rewards reach the policies ``delay`` decisions later, as closed reward windows do in the flow.
This measures learning, not transport: the broker path is exercised by the demo and the
integration tests.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter, deque
from dataclasses import dataclass

from tqdm import tqdm

from offerflow.lab.population import Population
from operators.campaign_book import default_campaigns_text
from state.campaign_file import parse_campaigns
from state.policy import PolicyState

POLICIES = ("per_segment", "single", "uniform_random", "oracle")


@dataclass
class Result:
    """Rewards of one policy: all decisions, and the last ``tail`` share of them."""

    rewards: int = 0
    tail_rewards: int = 0
    tail_expected: float = 0.0
    best_share: Counter = dataclasses.field(default_factory=Counter)


def compare(
    decisions: int = 200_000,
    *,
    campaign_id: str = "spring_sale",
    policy: str | None = None,
    delay: int = 500,
    seed: int = 7,
    tail: float = 0.2,
    progress: bool = True,
) -> tuple[dict[str, Result], Population, int]:
    """Run the comparison; returns results per policy, the population and the tail size."""
    campaign = parse_campaigns(default_campaigns_text()).campaigns[campaign_id]
    if policy is not None:
        campaign = dataclasses.replace(campaign, policy=policy)
    offers = tuple(o.id for o in campaign.offers)
    channels = tuple(c for c in campaign.channels if c in ("email", "push", "web"))
    population = Population.planted(offers, channels=channels, seed=seed)
    uniform = dataclasses.replace(campaign, policy="random")
    states: dict[str, dict[str, PolicyState]] = {p: {} for p in POLICIES}
    pending: deque = deque()
    results = {p: Result() for p in POLICIES}
    rng = random.Random(seed)
    tail_start = int(decisions * (1 - tail))
    for i in tqdm(range(decisions), desc="decisions", unit="dec", disable=not progress or None):
        persona = population.personas[rng.randrange(len(population.personas))]
        channel = rng.choice(channels)
        available = [o.id for o in campaign.offers if channel in o.channels]
        u = rng.random()
        request = {
            "decision_id": f"sim-{seed}-{i}",
            "user": f"user-{i}",
            "ts": i,
            "trigger": "request",
            "channels": [channel],
            "offers": available,
            "segment": persona,
            "context": {"bias": 1.0},
        }
        best, _ = population.oracle(persona, channel, available)
        for name in POLICIES:
            state = None
            if name == "oracle":
                offer = best
            else:
                key = persona if name == "per_segment" else "all"
                chosen = campaign if name != "uniform_random" else uniform
                state = states[name].setdefault(key, PolicyState(chosen))
                offer = state.decide(chosen, request)["offer_id"]
            p = population.probability(persona, offer, channel)
            won = u < p
            if state is not None:
                reward = {**request, "offer": offer, "channel": channel, "reward": float(won)}
                pending.append((i, state, reward))
            result = results[name]
            result.rewards += won
            if i >= tail_start:
                result.tail_rewards += won
                result.tail_expected += p
            if i < decisions * tail or i >= tail_start:
                result.best_share["first" if i < decisions * tail else "last"] += offer == best
        while pending and pending[0][0] <= i - delay:
            _, state, reward = pending.popleft()
            state.learn(reward)
    return results, population, decisions - tail_start
