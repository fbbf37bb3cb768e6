"""The end-to-end demo on the local stack: synthetic traffic through the profile flow.

It produces mixed events (JSON and Avro, a share malformed, a few redeliveries) to run-scoped
topics, runs the flow as a real Bytewax process until the topic is drained, then reads back the
dead-letter topic and the Redis profiles and checks that every record is accounted for.
"""

from __future__ import annotations

import os
import time
from collections import Counter

from flows import runner, stack
from flows.config import Settings
from flows.kafka_io import produce
from flows.sample import generate
from flows.tally import tally


def run_demo(events: int, *, malformed_rate: float, users: int, seed: int) -> bool:
    """Run the demo and print what it did; return whether every record was accounted for."""
    run_id = time.strftime("demo-%Y%m%d-%H%M%S")
    overrides = {
        "OFFERFLOW_TOPIC_PREFIX": f"offerflow-{run_id}",
        "OFFERFLOW_REDIS_PREFIX": f"offerflow-{run_id}",
        "OFFERFLOW_TAIL": "false",
    }
    settings = Settings.from_env({**os.environ, **overrides})
    print(f"== OfferFlow demo {run_id}: {events:,} events from {users:,} users")
    stack.up(settings, external_kafka="OFFERFLOW_KAFKA_BOOTSTRAP" in os.environ)

    samples = generate(
        events,
        seed=seed,
        users=users,
        malformed_rate=malformed_rate,
        now_ms=int(time.time() * 1000),
    )
    produce(
        settings,
        settings.topic("events"),
        ((s.key, s.value) for s in samples),
        total=len(samples),
        desc="producing events",
    )

    print("running the profile flow (one Bytewax process) until the topic is drained ...")
    started = time.monotonic()
    code = runner.run("profiles", env=overrides)
    elapsed = time.monotonic() - started
    if code != 0:
        print(f"the flow exited with code {code}")
        return False

    result = tally(settings)
    expected = Counter(s.expect for s in samples)
    expected_dead = {k: v for k, v in expected.items() if k not in ("valid", "duplicate")}
    rows = [
        ("produced", len(samples), len(samples)),
        ("accepted (counted)", expected["valid"], result.events),
        ("accepted (redeliveries dropped)", expected["duplicate"], result.duplicates),
        ("dead-lettered", sum(expected_dead.values()), result.dead),
    ]
    rows += [
        (f"  {reason}", n, result.dead_letters.get(reason, 0))
        for reason, n in sorted(expected_dead.items())
    ]
    rows += [
        (f"  {reason} (unexpected)", 0, n)
        for reason, n in result.dead_letters.items()
        if reason not in expected_dead
    ]
    print(f"\n{'':34}{'expected':>10}{'observed':>10}")
    for label, want, got in rows:
        print(f"{label:34}{want:>10,}{got:>10,}{'' if want == got else '   <-- MISMATCH'}")
    print(f"\nusers with a profile in Redis: {result.users:,}")
    print(
        f"flow wall time: {elapsed:.2f} s including start-up "
        f"({len(samples) / elapsed:,.0f} events/s)"
    )
    print(
        f"topics: {settings.topic('events')}, {settings.topic('dlq')}; "
        f"Redis keys: {settings.redis_key('profile', '*')}"
    )
    ok = all(want == got for _, want, got in rows)
    print("every record accounted for: " + ("yes" if ok else "NO"))
    return ok
