"""``offerflow simulate``: how well the flow's policies learn the population's hidden tastes,
and how fast they follow when the tastes change.

The same decisions are put to five policies side by side, each through the code the flow runs
(:class:`state.policy.PolicyState`: bandit, response model, drift watch, propensities):

- ``per_segment``: the campaign's policy with one state per segment (persona), as the flow
  keys it;
- ``drift_aware``: the same with a drift response (by default ``shrink``, see
  :mod:`state.drift_config`), and optionally a discount half-life;
- ``single``: the same policy with one state for everybody (a non-segmented bandit);
- ``uniform_random``: ``random`` policy;
- ``linucb``, ``lints`` (when asked for): per-segment linear policies on the users' traits
  (:mod:`offerflow.lab.traits`: with traits, click rates vary within a persona too);
- ``oracle``: the best offer for the user (persona, channel, traits), knowing the
  probabilities.

A :class:`~offerflow.lab.population.Drift` changes the tastes mid-run; the result then says
how many decisions after it (after its end, for a fade) each policy needed to be back at 90%
of the new oracle's click rate (over a sliding window of ``window`` decisions). Decision *i*
happens at event time *i* seconds, which is what a discount half-life is measured against.

Every decision draws one uniform number and each policy is rewarded if it falls under its
chosen offer's probability (common random numbers: the comparison is not blurred by luck).
Rewards reach the policies ``delay`` decisions later, as closed reward windows do in the flow;
with ``click_delay`` a click arrives sooner than a miss, which is only known when the window
ends (what real traffic does). As in the flow, each shown offer counts as a provisional miss
at once and its reward replaces it (``provisional``; off, a policy learns of clicks before
misses and overrates what it showed recently).
This measures learning, not transport: the broker path is exercised by the demo and the
integration tests.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import itertools
import random
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from offerflow.lab.population import Drift, Population
from offerflow.lab.traits import TraitEffects
from offerflow.progress import progress as with_progress
from operators.campaign_book import default_campaigns_text
from state.campaign_file import parse_campaigns
from state.drift_config import DriftConfig
from state.policy import PolicyState

POLICIES = ("per_segment", "drift_aware", "single", "uniform_random", "oracle")
#: Decisions at which cumulative regret is reported.
CHECKPOINTS = (20_000, 50_000, 100_000, 150_000, 200_000)


@dataclass
class Result:
    """Rewards of one policy: all decisions, and the last ``tail`` share of them; expected
    regret against the oracle; recovery after a drift."""

    rewards: int = 0
    tail_rewards: int = 0
    tail_expected: float = 0.0
    best_share: Counter = dataclasses.field(default_factory=Counter)
    regret: float = 0.0
    regret_at: dict[int, float] = dataclasses.field(default_factory=dict)
    #: Decisions after the drift completed until back at 90% of the oracle (``None``: never).
    recovery: int | None = None
    detections: int = 0
    #: Time spent choosing and learning (what decisions/s is measured from).
    seconds: float = 0.0
    _recent: deque = dataclasses.field(default_factory=deque, repr=False)
    _sums: list[float] = dataclasses.field(default_factory=lambda: [0.0, 0.0], repr=False)

    def track(self, i: int, expected: float, oracle: float, drift_at: int | None, window: int):
        """Account decision ``i``'s expected reward against the oracle's."""
        self.regret += oracle - expected
        if i + 1 in CHECKPOINTS:
            self.regret_at[i + 1] = self.regret
        if drift_at is None or i < drift_at or self.recovery is not None:
            return
        self._recent.append((expected, oracle))
        self._sums[0] += expected
        self._sums[1] += oracle
        if len(self._recent) > window:
            old_expected, old_oracle = self._recent.popleft()
            self._sums[0] -= old_expected
            self._sums[1] -= old_oracle
        if len(self._recent) == window and self._sums[0] >= 0.9 * self._sums[1]:
            self.recovery = i + 1 - window - drift_at


class Learner(Protocol):
    """A policy from outside the flow's code (a library's), put to the same requests; it
    hears each reward when the flow's policies do, with no provisional miss before."""

    def choose(self, segment: str, offers: list[str], seed: int) -> str: ...

    def learn(self, segment: str, offer: str, reward: float) -> None: ...


@dataclass(frozen=True)
class Asked:
    """One request as the hidden tastes see it: whose, on which channel, with which traits."""

    population: Population
    persona: str
    channel: str
    user: Mapping[str, float]
    traits: TraitEffects | None

    def click(self, offer: str) -> float:
        """The probability that this user clicks ``offer`` here."""
        p = self.population.probability(self.persona, offer, self.channel)
        return min(0.95, p * self.traits.factor(offer, self.user)) if self.traits else p


def compare(
    decisions: int = 200_000,
    *,
    campaign_id: str = "spring_sale",
    policy: str | None = None,
    delay: int = 500,
    click_delay: int | None = None,
    provisional: bool = True,
    seed: int = 7,
    tail: float = 0.2,
    drift: Drift | None = None,
    response: DriftConfig | None = None,
    window: int = 2_000,
    traits: TraitEffects | None = None,
    contextual: tuple[str, ...] = (),
    others: Mapping[str, Learner] | None = None,
    only: tuple[str, ...] | None = None,
    progress: bool = True,
) -> tuple[dict[str, Result], Population, int]:
    """Run the comparison; returns results per policy, the population and the tail size.
    ``response`` is the drift-aware policy's drift setting (default: ``shrink``); ``traits``
    move click rates per user (their values in every request's context); ``contextual``
    adds per-segment policies of those kinds (``linucb``, ``lints``) learning on them;
    ``others`` puts the same requests to policies from outside the flow's code; ``only``
    keeps just the listed built-in policies (and the oracle)."""
    campaign = parse_campaigns(default_campaigns_text()).campaigns[campaign_id]
    if policy is not None:
        campaign = dataclasses.replace(campaign, policy=policy)
    offers = tuple(o.id for o in campaign.offers)
    channels = tuple(c for c in campaign.channels if c in ("email", "push", "web"))
    base = Population.planted(offers, channels=channels, seed=seed)
    variants = {
        "per_segment": campaign,
        "drift_aware": dataclasses.replace(
            campaign, drift=response or DriftConfig("adwin", response="shrink")
        ),
        "single": campaign,
        "uniform_random": dataclasses.replace(campaign, policy="random"),
    }
    names = tuple(p for p in POLICIES if p == "oracle" or only is None or p in only)
    for kind in contextual:
        names = (*names[:-1], kind, "oracle")
        variants[kind] = dataclasses.replace(campaign, policy=kind)
    after = drift.after(base) if drift else base
    blends: dict[float, Population] = {0.0: base, 1.0: after}
    outside = dict(others or {})
    names = (*names[:-1], *outside, "oracle")
    states: dict[str, dict[str, PolicyState]] = {p: {} for p in names}
    pending: list = []  # (due decision, order, the learning call, result)
    order = itertools.count()
    results = {p: Result() for p in names}
    rng = random.Random(seed)
    trait_rng = random.Random(seed + 1_000_003)  # its own stream: the others' stay as they were
    tail_start = int(decisions * (1 - tail))
    for i in with_progress(range(decisions), desc="decisions", unit="decisions", enabled=progress):
        weight = drift.progress(i) if drift else 0.0
        if weight not in blends:
            blends[weight] = base.blend(after, weight)
        population = blends[weight]
        persona = population.personas[rng.randrange(len(population.personas))]
        channel = rng.choice(channels)
        hidden = drift.hidden(base, i) if drift else None
        available = [o.id for o in campaign.offers if channel in o.channels and o.id != hidden]
        u = rng.random()
        user = traits.draw(trait_rng) if traits else {}
        click = Asked(population, persona, channel, user, traits).click
        request = {
            "decision_id": f"sim-{seed}-{i}",
            "user": f"user-{i}",
            "ts": i * 1000,
            "trigger": "request",
            "channels": [channel],
            "offers": available,
            "segment": persona,
            "context": {"bias": 1.0, **user},
        }
        best = max(available, key=click)
        best_p = click(best)
        for name in names:
            result = results[name]
            started = time.perf_counter()
            state = learner = None
            if name == "oracle":
                offer = best
            elif name in outside:
                learner = outside[name]
                offer = learner.choose(persona, available, i)
            else:
                key = "all" if name == "single" else persona
                state = states[name].get(key) or states[name].setdefault(
                    key, PolicyState(variants[name])
                )
                offer = state.decide(variants[name], request)["offer_id"]
            p = click(offer)
            won = u < p
            due = i + (click_delay if won and click_delay is not None else delay)
            if learner is not None:
                lesson = functools.partial(learner.learn, persona, offer, float(won))
                heapq.heappush(pending, (due, next(order), lesson, result))
            elif state is not None:
                reward = {**request, "offer": offer, "channel": channel, "reward": float(won)}
                if provisional:
                    state.assume_miss(reward)
                    reward["provisional"] = True
                lesson = functools.partial(state.learn, reward, variants[name].drift)
                heapq.heappush(pending, (due, next(order), lesson, result))
            result.seconds += time.perf_counter() - started
            result.rewards += won
            result.track(i, p, best_p, drift.at + drift.length if drift else None, window)
            if i >= tail_start:
                result.tail_rewards += won
                result.tail_expected += p
            if i < decisions * tail or i >= tail_start:
                result.best_share["first" if i < decisions * tail else "last"] += offer == best
        while pending and pending[0][0] <= i:
            _due, _order, lesson, result = heapq.heappop(pending)
            started = time.perf_counter()
            result.detections += len(lesson() or ())
            result.seconds += time.perf_counter() - started
    return results, base, decisions - tail_start


def render(results: dict[str, Result], decisions: int, tail: int, drift: Drift | None) -> str:
    """The comparison as text tables: the last 20%, regret over time, and with a drift the
    decisions each policy needed to be back at 90% of the oracle."""
    oracle = results["oracle"].tail_expected / tail
    first = int(decisions * 0.2)
    lines = [
        f"{decisions:,} decisions, 6 segments"
        + (f", drift {drift.kind} at {drift.at:,}" if drift else "")
        + f"; last {tail:,} decisions:",
        f"{'policy':>16}{'reward':>10}{'expected':>10}{'of oracle':>11}{'best offer':>18}"
        f"{'decisions/s':>13}",
    ]
    for name, r in results.items():
        share = f"{r.best_share['first'] / first:.0%} -> {r.best_share['last'] / tail:.0%}"
        speed = f"{decisions / r.seconds:,.0f}" if name != "oracle" and r.seconds else ""
        lines.append(
            f"{name:>16}{r.tail_rewards / tail:>10.4f}{r.tail_expected / tail:>10.4f}"
            f"{r.tail_expected / tail / oracle:>11.1%}{share:>18}{speed:>13}"
        )
    marks = [c for c in CHECKPOINTS if c <= decisions]
    lines += ["", "expected regret against the oracle (clicks lost), after N decisions:"]
    lines.append(f"{'policy':>16}" + "".join(f"{f'{c:,}':>10}" for c in marks))
    for name, r in results.items():
        if name == "oracle":
            continue
        row = "".join(f"{r.regret_at.get(c, 0.0):>10.0f}" for c in marks)
        lines.append(f"{name:>16}{row}")
    if drift is not None:
        lines += ["", "decisions after the drift (a fade: its end) until back at 90% of the",
                  "oracle (2,000-decision window), and drift detections:"]  # fmt: skip
        for name, r in results.items():
            if name != "oracle":
                back = f"{r.recovery:,}" if r.recovery is not None else "not within the run"
                lines.append(f"{name:>16}{back:>20}{r.detections:>8}")
    lines += [
        "reward: realized click rate; expected: mean hidden click probability of the choices;",
        "best offer: share of decisions choosing the persona's best offer, first -> last 20%;",
        "decisions/s: choices and learning in process, this policy alone.",
    ]
    return "\n".join(lines) + "\n"
