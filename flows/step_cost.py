"""In-process CPU cost of streaming attribution: the profile step (and, with attribution, the
Markov chain step, the totals and record encoding) over the benchmark's event mix, with and
without attribution, alternating. No broker and no Bytewax, so the figure is the attribution
logic's own cost, which the end-to-end ``offerflow bench`` figures hide in their run-to-run
noise.

Run ``scripts/bench_step_cost --help``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import orjson

from flows.config import Settings
from flows.profiles import step_config
from flows.sample import generate
from operators.attribution_totals import totals_step
from operators.markov_step import MarkovStep, run_paths
from operators.profile_step import ProfileLogic
from schemas import codec
from schemas.event import Event, parse_event
from schemas.rejection import Rejected


def measure(events: list[Event], settings: Settings, attribution: bool) -> float:
    """Events per second through the user step and the attribution steps after it."""
    cfg = step_config(settings)
    if not attribution:
        cfg = dataclasses.replace(cfg, attribution=None)
    users: dict[str, ProfileLogic] = {}
    markov, chain, totals = MarkovStep(refresh=settings.markov_refresh), None, {}
    started = time.perf_counter()
    for event in events:
        logic = users.get(event.user_id) or users.setdefault(event.user_id, ProfileLogic(cfg, None))
        out, _ = logic.on_item(event)
        logic.notify_at()
        chain, out = run_paths(markov, chain, out)
        for tag, payload in out:
            if tag == "attribution":
                totals[payload["model"]], _doc = totals_step(totals.get(payload["model"]), payload)
                codec.encode("attribution", payload, settings.output_format)
    return len(events) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events (100,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each variant (3)")
    args = parser.parse_args(argv)
    settings = Settings.from_env({"OFFERFLOW_ENV": "dev"})
    now = int(time.time() * 1000)
    samples = generate(args.events, seed=1, users=args.events // 20, malformed_rate=0.0, now_ms=now)
    events = []
    for sample in samples:
        try:
            events.append(parse_event(orjson.loads(sample.value)))
        except (Rejected, orjson.JSONDecodeError):
            continue  # the mix's Avro records: the JSON ones suffice here
    rates: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.repeat):
        for attribution in (True, False):
            rates[attribution].append(measure(events, settings, attribution))
    on, off = max(rates[True]), max(rates[False])
    print(f"{len(events):,} events, best of {args.repeat}:")
    print(f"  attribution on:  {on:,.0f} events/s ({1e6 / on:.1f} µs/event)")
    print(f"  attribution off: {off:,.0f} events/s ({1e6 / off:.1f} µs/event)")
    print(f"  attribution costs {1e6 / on - 1e6 / off:.1f} µs/event ({off / on - 1:.0%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
