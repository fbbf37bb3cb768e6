"""In-process CPU cost of an optional feature, streaming attribution or recommendations: the
profile step (and, with attribution, the Markov chain step, the totals and record encoding;
with recommendations, the users' half and the recommendation step learning every product
event and refreshing top-k lists) over the benchmark's event mix, with and without the
feature, alternating. No broker and no Bytewax, so the figure is the feature's own cost,
which the end-to-end ``offerflow bench`` figures hide in their run-to-run noise.
``--feature drift`` times a policy key learning rewards (two offers, 5% clicks) with the
default drift detectors and with ``detector = "none"``.

Run ``scripts/bench_step_cost --help``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import time

import orjson

from config.settings import Settings
from flows.profiles import step_config
from offerflow.devstack.sample import generate
from offerflow.flags import positive_int
from operators.attribution_totals import add_record
from operators.markov_step import MarkovStep, run_paths
from operators.profile_step import ProfileLogic
from operators.reco_step import RecoStep
from operators.taste_step import TasteStep, user_of
from schemas import codec
from schemas.event import Event, parse_event
from schemas.rejection import Rejected
from state.campaign_file import parse_campaigns
from state.drift_config import DriftConfig
from state.policy import PolicyState

#: Optional features this measures, the step setting that turns each off, and its off value.
FEATURES = {"attribution": "attribution", "recommendations": "recommendations", "drift": ""}
FEATURE_OFF = {"attribution": None, "recommendations": False}


def measure(events: list[Event], settings: Settings, feature: str, on: bool) -> float:
    """Events per second through the user step and ``feature``'s steps after it (``on``), or
    the user step with ``feature`` off."""
    cfg = dataclasses.replace(step_config(settings), recommendations=settings.recommendations)
    if not on:
        cfg = dataclasses.replace(cfg, **{FEATURES[feature]: FEATURE_OFF[feature]})
    users: dict[str, ProfileLogic] = {}
    markov, chain, totals = MarkovStep(refresh=settings.markov_refresh), None, {}
    reco_step = RecoStep(k=settings.reco_k, refresh_ms=settings.reco_refresh_ms)
    taste_step, tastes, reco = TasteStep(refresh_ms=settings.reco_refresh_ms), {}, None
    started = time.perf_counter()
    for event in events:
        logic = users.get(event.user_id) or users.setdefault(event.user_id, ProfileLogic(cfg, None))
        out, _ = logic.on_item(event)
        logic.notify_at()
        chain, out = run_paths(markov, chain, out)
        for tag, payload in out:
            if tag == "attribution":
                totals[payload["model"]] = add_record(totals.get(payload["model"]), payload)
                codec.encode("attribution", payload, settings.output_format)
            elif tag == "reco":  # the users' half, then the item model
                user = user_of(payload)
                tastes[user], message = taste_step(tastes.get(user), payload)
                if message is not None:
                    reco, _tops = reco_step(reco, message)
    return len(events) / (time.perf_counter() - started)


def measure_drift(rewards: int, on: bool) -> float:
    """Rewards per second learned by one policy key, detectors on or off."""
    campaign = parse_campaigns(
        '[[campaign]]\nid = "p"\n[[campaign.offer]]\nid = "a"\n[[campaign.offer]]\nid = "b"'
    ).campaigns["p"]
    setting = DriftConfig() if on else DriftConfig(detector="none")
    rng = random.Random(1)
    rows = [
        {"decision_id": f"d{i}", "offer": "ab"[i % 2], "channel": "web", "segment": "s",
         "reward": float(rng.random() < 0.05), "context": {"x": rng.random()}, "ts": i * 1000}
        for i in range(rewards)
    ]  # fmt: skip
    state = PolicyState(campaign)
    started = time.perf_counter()
    for row in rows:
        state.learn(row, setting)
    return rewards / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=positive_int, default=100_000, help="events (100,000)")
    parser.add_argument("--repeat", type=positive_int, default=3, help="runs of each variant (3)")
    parser.add_argument("--feature", choices=sorted(FEATURES), default="attribution")
    args = parser.parse_args(argv)
    if args.feature == "drift":
        return _report("drift detection", "rewards", args.repeat,
                       lambda on: measure_drift(args.events, on))  # fmt: skip
    settings = Settings.from_env({**os.environ, "OFFERFLOW_ENV": "dev"})  # OFFERFLOW_* tune it
    now = int(time.time() * 1000)
    samples = generate(args.events, seed=1, users=args.events // 20, malformed_rate=0.0, now_ms=now)
    events = []
    for sample in samples:
        try:
            events.append(parse_event(orjson.loads(sample.value)))
        except (Rejected, orjson.JSONDecodeError):
            continue  # the mix's Avro records: the JSON ones suffice here
    print(f"{len(events):,} events")
    return _report(args.feature, "events", args.repeat,
                   lambda on: measure(events, settings, args.feature, on))  # fmt: skip


def _report(name: str, unit: str, repeat: int, rate) -> int:
    """Time ``rate(on)`` with the feature on and off, alternating; print the best of each."""
    rates: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(repeat):
        for on in (True, False):
            rates[on].append(rate(on))
    on, off = max(rates[True]), max(rates[False])
    one = unit[:-1]
    print(f"best of {repeat}:")
    print(f"  {name} on:  {on:,.0f} {unit}/s ({1e6 / on:.1f} µs/{one})")
    print(f"  {name} off: {off:,.0f} {unit}/s ({1e6 / off:.1f} µs/{one})")
    print(f"  {name} costs {1e6 / on - 1e6 / off:.1f} µs/{one} ({off / on - 1:.0%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
