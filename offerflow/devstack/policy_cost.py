"""In-process CPU cost of the policy step's two operations on one trained (campaign,
segment) key: a decision (:meth:`state.policy.PolicyState.decide`: the record, the channel,
and the bandit's choice with its propensity, also timed alone) and learning a reward. No
broker and no Bytewax: the figures are the policy's own cost, per call, the best of
``--repeat`` rounds (this machine's speed drifts; compare trees in the same run).

Run ``scripts/bench_policy --help``.
"""

from __future__ import annotations

import argparse
import random
import time

from models.bandits import KINDS
from offerflow.flags import positive_int
from operators.campaign_book import default_campaigns_text
from state.campaign_file import parse_campaigns
from state.policy import PolicyState


def measure(kind: str, trained: int, calls: int, repeat: int) -> dict[str, float]:
    """Microseconds per decision, per choice (the bandit's alone) and per learned reward on a
    key trained with ``trained`` rewards of the shipped spring_sale campaign's email offers;
    and how many offers."""
    catalog = parse_campaigns(default_campaigns_text())
    campaign = catalog.campaigns["spring_sale"]
    if kind != campaign.policy:
        campaign = type(campaign)(**{**vars(campaign), "policy": kind})
    offers = [o.id for o in campaign.offers if "email" in o.channels]
    rates = {o: 0.02 + 0.01 * i for i, o in enumerate(offers)}
    rng = random.Random(1)
    state = PolicyState(campaign)

    def request(i: int) -> dict:
        context = {"bias": 1.0, "recency": (i % 7) / 7}
        return {"decision_id": f"d{i}", "user": "u", "ts": i * 1000, "trigger": "request",
                "channels": ["email"], "offers": offers, "segment": "s", "context": context,
                "request_event_id": f"e{i}"}  # fmt: skip

    def reward(i: int, offer: str, won: bool) -> dict:
        return {**request(i), "offer": offer, "channel": "email", "reward": float(won),
                "revenue": 0.0, "campaign": campaign.id}  # fmt: skip

    for i in range(trained):
        offer = state.decide(campaign, request(i))["offer_id"]
        state.learn(reward(i, offer, rng.random() < rates[offer]))
    decide = choose = learn = float("inf")
    for r in range(repeat):
        base = trained + r * calls
        requests = [request(base + i) for i in range(calls)]
        started = time.perf_counter()
        chosen = [state.decide(campaign, one)["offer_id"] for one in requests]
        decide = min(decide, (time.perf_counter() - started) / calls * 1e6)
        started = time.perf_counter()
        for i, one in enumerate(requests):
            state.bandit.choose(offers, one["context"], seed=base + i, now=one["ts"])
        choose = min(choose, (time.perf_counter() - started) / calls * 1e6)
        rewards = [reward(base + i, o, rng.random() < rates[o]) for i, o in enumerate(chosen)]
        started = time.perf_counter()
        for row in rewards:
            state.learn(row)
        learn = min(learn, (time.perf_counter() - started) / calls * 1e6)
    return {"decide": decide, "choose": choose, "learn": learn, "offers": len(offers)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/bench_policy",
        description="Microseconds per policy decision and per learned reward, in process.",
    )
    parser.add_argument("--kinds", default="thompson", help="comma-separated policy kinds")
    parser.add_argument(
        "--trained", type=positive_int, default=20_000, help="rewards learned first"
    )
    parser.add_argument("--calls", type=positive_int, default=5_000, help="calls per round (5000)")
    parser.add_argument(
        "--repeat", type=positive_int, default=3, help="rounds; the best counts (3)"
    )
    args = parser.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        parser.error(f"unknown kind {unknown[0]!r} (one of {', '.join(KINDS)})")
    for kind in kinds:
        cost = measure(kind, args.trained, args.calls, args.repeat)
        print(
            f"{kind:>15}: decide {cost['decide']:7.1f} us (choice {cost['choose']:6.1f} us), "
            f"learn {cost['learn']:6.1f} us ({cost['offers']} offers)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
