"""``offerflow soak``: a bounded steady-load run of the profile flow, for operators to see that
memory and lag stay flat (not part of CI: it takes as long as it is told, 10 minutes by
default).

A producer writes the benchmark's event mix (a fixed population, a share malformed) to
run-scoped topics at a steady rate while one tailing flow process consumes them. Every
``--every`` seconds it samples the flow's resident memory (``/proc/<pid>/status``), the
records the broker acknowledged, and the records the flow counted (accepted or
dead-lettered, from its operations report); the lag is the difference, in records (the
broker's own watermarks can trail the true end on the local broker, so they are not used).
At the end it prints and writes the table and compares the second half of the run with the
first: memory growth and the worst lag. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Producer

from flows import runner, stack
from flows.analytics import Analytics
from flows.config import Settings
from flows.sample import generate

#: Events generated at a time (each chunk with its own event ids).
CHUNK = 10_000


@dataclass
class Point:
    """One sample of the run."""

    elapsed_s: float
    #: records the broker acknowledged so far
    produced: int
    counted: float
    lag: int
    rss_mib: float
    #: share of a core the flow and the local broker used since the previous sample (NaN for
    #: an external broker), and the broker's resident memory: a stall shows whose it is
    flow_cpu: float
    broker_cpu: float
    broker_rss_mib: float


def run_soak(minutes: float, rate: float, users: int, every_s: float, output: str) -> bool:
    """Run the soak, print a line per sample, write ``output``; return whether memory and lag
    stayed flat (second-half RSS growth under 10% and second-half lag under 2 s of input,
    which includes the operations report's 0.5 s staleness)."""
    run_id = time.strftime("soak-%Y%m%d-%H%M%S")
    env = {
        "OFFERFLOW_TOPIC_PREFIX": f"offerflow-{run_id}",
        "OFFERFLOW_REDIS_PREFIX": f"offerflow-{run_id}",
        "OFFERFLOW_TAIL": "true",
        "OFFERFLOW_METRICS_PORT": "0",
        # positions reported every 0.5 s: the lag read against them is at most that stale
        "OFFERFLOW_OPS_INTERVAL_S": "0.5",
    }
    settings = Settings.from_env({**os.environ, **env})
    stack.up(settings, external_kafka="OFFERFLOW_KAFKA_BOOTSTRAP" in os.environ)
    producer = Producer(settings.kafka(**{"linger.ms": "5"}))
    acked = [0]

    def on_delivery(err: object, _msg: object) -> None:
        acked[0] += err is None

    topic = settings.topic("events")
    procs = runner.start("profiles", env=env)
    broker = stack.broker_pid(settings)
    analytics = Analytics(settings)
    points: list[Point] = []
    started = time.monotonic()
    produced = 0
    next_sample = every_s
    cpu_before = (runner.cpu_seconds(procs[0].pid), runner.cpu_seconds(broker), started)
    print(f"soak {run_id}: {minutes:g} min at {rate:,.0f} events/s, {users:,} users")
    try:
        while (elapsed := time.monotonic() - started) < minutes * 60:
            due = int(elapsed * rate)
            while produced < due:
                if produced % CHUNK == 0:  # fresh event ids and times, the same population
                    chunk = generate(
                        CHUNK,
                        seed=produced // CHUNK,
                        users=users,
                        malformed_rate=0.02,
                        now_ms=int(time.time() * 1000),
                    )
                sample = chunk[produced % CHUNK]
                producer.produce(topic, sample.value, sample.key, on_delivery=on_delivery)
                produced += 1
            producer.poll(0)
            if elapsed >= next_sample:
                next_sample += every_s
                totals = analytics.operations()["totals"]
                counted = (
                    sum(totals.get("events_in", {}).values())
                    + sum(totals.get("dead_letters", {}).values())
                    - totals.get("dead_letters", {}).get("duplicate_event", 0)
                )
                lag = max(0, int(acked[0] - counted))
                cpu_now = (runner.cpu_seconds(procs[0].pid), runner.cpu_seconds(broker))
                span = time.monotonic() - cpu_before[2]
                point = Point(
                    elapsed,
                    acked[0],
                    counted,
                    lag,
                    runner.memory_mib(procs[0].pid),
                    (cpu_now[0] - cpu_before[0]) / span,
                    (cpu_now[1] - cpu_before[1]) / span,
                    runner.memory_mib(broker) if broker is not None else float("nan"),
                )
                cpu_before = (*cpu_now, time.monotonic())
                points.append(point)
                print(
                    f"{point.elapsed_s:6.0f} s  acked {point.produced:>9,}  counted "
                    f"{point.counted:>11,.0f}  lag {point.lag:>7,}  RSS {point.rss_mib:7.1f} MiB"
                    f"  CPU flow {point.flow_cpu:4.0%} broker {point.broker_cpu:4.0%}"
                    f"  broker RSS {point.broker_rss_mib:7.1f} MiB",
                    flush=True,
                )
            time.sleep(0.005)
        producer.flush(30)
    finally:
        runner.stop(procs)
        analytics.close()
        stack.remove_run(settings)
    return _report(points, minutes, rate, users, output)


def _report(points: list[Point], minutes: float, rate: float, users: int, output: str) -> bool:
    half = len(points) // 2
    first, second = points[:half], points[half:]
    growth = (second[-1].rss_mib - second[0].rss_mib) / max(second[0].rss_mib, 1e-9)
    worst_lag = max(p.lag for p in second)
    flat = growth < 0.10 and worst_lag < 2 * rate
    lines = [
        "# Soak run",
        "",
        f"`offerflow soak --minutes {minutes:g} --rate {rate:g} --users {users}` on "
        f"{time.strftime('%Y-%m-%d')}: one tailing flow process, the benchmark's event mix "
        "(2% malformed) produced at a steady rate. Do not edit by hand: rerun the command.",
        "",
        "| elapsed | acknowledged | counted | lag (records) | RSS (MiB) | flow CPU "
        "| broker CPU | broker RSS (MiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {p.elapsed_s:.0f} s | {p.produced:,} | {p.counted:,.0f} | {p.lag:,} | "
            f"{p.rss_mib:.1f} | {p.flow_cpu:.0%} | {p.broker_cpu:.0%} | {p.broker_rss_mib:.1f} |"
            for p in points
        ),
        "",
        f"- RSS: median {statistics.median(p.rss_mib for p in first):.1f} MiB in the first "
        f"half, {statistics.median(p.rss_mib for p in second):.1f} MiB in the second; growth "
        f"across the second half {growth:+.1%}.",
        f"- Lag: worst {max(p.lag for p in first):,} events in the first half, "
        f"{worst_lag:,} in the second (the bound is 2 s of input, {2 * rate:,.0f}).",
        f"- Verdict: {'flat' if flat else 'NOT flat'}.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if output:
        Path(output).write_text(text)
    return flat
