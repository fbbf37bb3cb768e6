"""The flow's policies beside MABWiser's on the same simulated requests (see --help).

Each run puts one request stream (``offerflow simulate``'s population, 6 segments and 8
offers, rewards ``--delay`` decisions late) to per-segment Thompson sampling and
per-segment contextual policies (LinTS, LinUCB on the users' traits) through the flow's
policy code,
and to MABWiser's Thompson sampling with one bandit per segment, as the flow keys its own.
Two populations: segment-only (traits in the context, no effect on clicks) and contextual
(traits move click rates within a persona, ``--strength``). Regret against the oracle at
20k/50k/100k/200k decisions, the oracle share over the last 20% and decisions/s are
averaged over ``--seeds`` and written as a Markdown table (``--out``).

MABWiser is not a dependency of OfferFlow: ``scripts/bench_policies`` installs it into the
virtualenv when it is missing.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Sequence
from statistics import mean

from offerflow.flags import nonnegative_float, nonnegative_int, positive_int
from offerflow.lab.policy_sim import CHECKPOINTS, Result, compare
from offerflow.lab.traits import TraitEffects
from operators.campaign_book import default_campaigns_text
from state.campaign_file import parse_campaigns

#: Policies compared, as the table names them.
ROWS = {
    "per_segment": "per-segment Thompson sampling (flow)",
    "lints": "per-segment LinTS on traits (flow)",
    "linucb": "per-segment LinUCB on traits (flow)",
    "mabwiser_ts": "MABWiser 2.7.4 Thompson sampling, per segment",
}


class MabwiserThompson:
    """MABWiser's Thompson sampling with one bandit per segment; rewards wait until the
    segment's next choice and are learned in one ``partial_fit``."""

    def __init__(self, offers: Sequence[str], seed: int) -> None:
        self.offers = list(offers)
        self.seed = seed
        self.bandits: dict = {}
        self.waiting: dict[str, list[tuple[str, float]]] = defaultdict(list)

    def choose(self, segment: str, offers: list[str], seed: int) -> str:
        from mabwiser.mab import MAB, LearningPolicy

        bandit = self.bandits.get(segment)
        if bandit is None:
            policy = LearningPolicy.ThompsonSampling()
            bandit = MAB(self.offers, policy, seed=self.seed * 100 + len(self.bandits))
            bandit.fit(decisions=[], rewards=[])
            self.bandits[segment] = bandit
        waiting = self.waiting.pop(segment, None)
        if waiting:
            bandit.partial_fit([o for o, _r in waiting], [r for _o, r in waiting])
        sampled = bandit.predict_expectations()
        return max(offers, key=sampled.__getitem__)

    def learn(self, segment: str, offer: str, reward: float) -> None:
        self.waiting[segment].append((offer, reward))


def run(
    decisions: int,
    seeds: Sequence[int],
    strength: float,
    delays: tuple[int, int | None],
    provisional: bool = True,
) -> dict:
    """Per policy: mean regret at each checkpoint, oracle share of the last 20%, and
    decisions/s, over ``seeds``; ``delays``: a miss's and a click's (``None``: the same)."""
    offers = [
        o.id for o in parse_campaigns(default_campaigns_text()).campaigns["spring_sale"].offers
    ]
    runs: dict[str, list[tuple[Result, float]]] = defaultdict(list)
    for seed in seeds:
        results, _population, _tail = compare(
            decisions,
            delay=delays[0],
            click_delay=delays[1],
            provisional=provisional,
            seed=seed,
            traits=TraitEffects.planted(offers, strength, seed),
            contextual=("lints", "linucb"),
            others={"mabwiser_ts": MabwiserThompson(offers, seed)},
            only=("per_segment",),
            progress=sys.stderr.isatty(),
        )
        oracle = results["oracle"].tail_expected
        for name in ROWS:
            runs[name].append((results[name], results[name].tail_expected / oracle))
    return {
        name: {
            "regret": {c: mean(r.regret_at.get(c, 0.0) for r, _s in rows) for c in CHECKPOINTS},
            "oracle_share": mean(share for _r, share in rows),
            "per_second": mean(decisions / r.seconds for r, _s in rows),
        }
        for name, rows in runs.items()
    }


def render(tables: dict[str, dict], decisions: int, seeds: Sequence[int], how: str) -> str:
    """Both populations' tables in Markdown; ``how``: the rewards' timing, in words."""
    marks = [c for c in CHECKPOINTS if c <= decisions and c != 150_000]
    seeds_text = ", ".join(map(str, seeds))
    lines = [
        f"{decisions:,} requests, 6 segments and 8 offers, {how}, "
        f"seeds {seeds_text} (means); `scripts/bench_policies`.",
    ]
    for title, table in tables.items():
        lines += ["", f"**{title}**", ""]
        head = "".join(f" regret at {c // 1000}k |" for c in marks)
        lines += [f"| policy |{head} oracle share, last 20% | decisions/s |"]
        lines += ["|---|" + "---|" * (len(marks) + 2)]
        for name, label in ROWS.items():
            row = table[name]
            cells = "".join(f" {row['regret'][c]:,.0f} |" for c in marks)
            lines.append(
                f"| {label} |{cells} {row['oracle_share']:.1%} | {row['per_second']:,.0f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/bench_policies", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--decisions", type=positive_int, default=200_000, help="requests per run")
    parser.add_argument("--seeds", default="1,2,3,4,5", help="comma-separated seeds")
    parser.add_argument(
        "--strength", type=nonnegative_float, default=1.0, help="traits' effect (1)"
    )
    parser.add_argument(
        "--delay", type=nonnegative_int, default=500, help="decisions before a miss lands"
    )
    parser.add_argument(
        "--click-delay", type=nonnegative_int, help="decisions before a click lands"
    )
    parser.add_argument("--provisional", action=argparse.BooleanOptionalAction, default=True,
                        help="the flow's policies count provisional misses (on)")  # fmt: skip
    parser.add_argument("--out", help="also write the tables to this Markdown file")
    args = parser.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s]
    except ValueError:
        seeds = []
    if not seeds:
        parser.error("--seeds must list whole numbers, like 1,2,3")
    click = args.click_delay
    delays = (args.delay, click)
    tables = {
        "Segment-only population (traits in the context, no effect)": run(
            args.decisions, seeds, 0.0, delays, args.provisional
        ),
        f"Contextual population (traits, strength {args.strength:g})": run(
            args.decisions, seeds, args.strength, delays, args.provisional
        ),
    }
    timing = (
        f"misses {args.delay:,} and clicks {click:,}"
        if click is not None
        else f"all {args.delay:,}"
    )
    how = f"rewards landing {timing} decisions late" + (
        "" if args.provisional else ", the flow's provisional misses off"
    )
    text = render(tables, args.decisions, seeds, how)
    print(text, end="")
    if args.out:
        with open(args.out, "w") as fh:
            fh.write("# Policy comparison\n\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
