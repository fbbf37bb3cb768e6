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

``--broker-only`` runs the same load with a plain confluent-kafka consumer tailing the topic
in place of the flow (its "counted" is the records that consumer read, its "flow" columns are
the soak process's own): the broker's baseline. A broker that cannot hold this flat cannot
carry the flow's soak, which adds the flow's own output records on top.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from config.settings import Settings
from flows.wiring import SOURCE_TUNING
from offerflow import runner
from offerflow.devstack import stack
from offerflow.devstack.sample import generate
from offerflow.reports.analytics import Analytics

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


def run_soak(
    minutes: float, rate: float, users: int, every_s: float, output: str, broker_only: bool = False
) -> bool:
    """Run the soak, print a line per sample, write ``output``; return whether memory and lag
    stayed flat (second-half RSS growth under 10% and second-half lag under 2 s of input,
    which includes the operations report's 0.5 s staleness). ``broker_only``: a tailing
    consumer instead of the flow (see the module docstring)."""
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
    tail = _Tail(settings, topic) if broker_only else None
    procs = [] if broker_only else runner.start("profiles", env=env)
    consumer_pid = os.getpid() if broker_only else procs[0].pid
    broker = stack.broker_pid(settings)
    analytics = Analytics(settings)
    points: list[Point] = []
    started = time.monotonic()
    produced = 0
    next_sample = every_s
    cpu_before = (runner.cpu_seconds(consumer_pid), runner.cpu_seconds(broker), started)
    print(
        f"soak {run_id}: {minutes:g} min at {rate:,.0f} events/s, {users:,} users"
        + (", a plain consumer instead of the flow" if broker_only else "")
    )
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
                counted = tail.read if tail is not None else _counted(analytics)
                lag = max(0, int(acked[0] - counted))
                cpu_now = (runner.cpu_seconds(consumer_pid), runner.cpu_seconds(broker))
                span = time.monotonic() - cpu_before[2]
                point = Point(
                    elapsed,
                    acked[0],
                    counted,
                    lag,
                    runner.memory_mib(consumer_pid),
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
        if tail is not None:
            tail.close()
        runner.stop(procs)
        analytics.close()
        stack.remove_run(settings)
    return _report(points, minutes, rate, users, output, broker_only)


def _counted(analytics: Analytics) -> float:
    """Records the flow has dealt with, from its operations report: accepted events and dead
    letters, less the redeliveries (counted among the events too)."""
    totals = analytics.operations()["totals"]
    return (
        sum(totals.get("events_in", {}).values())
        + sum(totals.get("dead_letters", {}).values())
        - totals.get("dead_letters", {}).get("duplicate_event", 0)
    )


class _Tail(threading.Thread):
    """A plain consumer reading every partition of ``topic`` from the start, counting what it
    reads (with the flow's source tuning), until :meth:`close`."""

    def __init__(self, settings: Settings, topic: str) -> None:
        super().__init__(name="soak-tail", daemon=True)
        self.read = 0
        self._done = threading.Event()
        config = settings.kafka(
            **{"group.id": "offerflow-soak-tail", "enable.auto.commit": "false"},
            **SOURCE_TUNING,
        )
        self._consumer = Consumer(config)
        self._consumer.assign(
            [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(settings.partitions)]
        )
        self.start()

    def run(self) -> None:
        while not self._done.is_set():
            self.read += sum(m.error() is None for m in self._consumer.consume(1000, 0.1))

    def close(self) -> None:
        self._done.set()
        self.join(10)
        self._consumer.close()


def _report(
    points: list[Point], minutes: float, rate: float, users: int, output: str, broker_only: bool
) -> bool:
    half = len(points) // 2
    first, second = points[:half], points[half:]
    growth = (second[-1].rss_mib - second[0].rss_mib) / max(second[0].rss_mib, 1e-9)
    worst_lag = max(p.lag for p in second)
    flat = growth < 0.10 and worst_lag < 2 * rate
    who = "consumer" if broker_only else "flow"
    lines = [
        "# Soak run" + (": the broker alone" if broker_only else ""),
        "",
        f"`offerflow soak --minutes {minutes:g} --rate {rate:g} --users {users}"
        f"{' --broker-only' if broker_only else ''}` on {time.strftime('%Y-%m-%d')}: "
        + (
            "a plain confluent-kafka consumer tailing the topic (the broker's baseline, no flow)"
            if broker_only
            else "one tailing flow process"
        )
        + ", the benchmark's event mix (2% malformed) produced at a steady rate. Do not edit "
        "by hand: rerun the command.",
        "",
        f"| elapsed | acknowledged | counted | lag (records) | {who} RSS (MiB) | {who} CPU "
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
