"""``offerflow bench`` (``scripts/bench``): the figures operators need, in one report.

- **Throughput** of the main flow, everything on, in one process and in two, with recovery
  on, and with each optional feature off; against the **ceiling**, a plain confluent-kafka
  consume, decode, produce loop over the same records.
- **A real log**: the CDNOW purchases replayed through the same flow
  (:mod:`offerflow.devstack.replay`), with the internal messages and attribution records it
  caused.
- **Decision latency** p50/p95/p99 under steady loads
  (:mod:`offerflow.devstack.latency`), and the highest sustainable one.
- **Memory**: peak resident set and flow state per user at each population size.
- The batch attribution command on 10,000 paths.

Events (the benchmark mix: JSON and Avro, 5% malformed) are produced to fresh topics first, so
only the flow is timed. Every run (and every latency load) starts on a freshly restarted local
broker (:func:`offerflow.devstack.stack.fresh_broker`): Tansu's cost per request grows with the
records it holds, so without it each run would be slower than the one before. An external broker
(``OFFERFLOW_KAFKA_BOOTSTRAP``) is used as it is. Each run is a real ``python -m bytewax.run``
process (or two) reading the topic to its end; its wall time includes start-up, which an
empty run measures separately. Medians go to a Markdown report with the machine, versions
and the issue's targets, and a PNG chart beside it.
"""

from __future__ import annotations

import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from config.settings import Settings
from flows.wiring import SOURCE_TUNING
from offerflow import runner
from offerflow.devstack import bench_report, latency, replay, stack
from offerflow.devstack.bench_report import ONE, TWO
from offerflow.devstack.sample import generate
from offerflow.devstack.tally import tally
from offerflow.kafka_io import produce, read_to_end
from schemas import codec
from schemas.rejection import Rejected

#: Distinct paths in the batch attribution timing.
PATHS = 10_000
#: A run still going after this long has stalled (the local broker can stop answering);
#: longer runs get a second per 500 events beyond it (the 1M-user state run took 872 s).
RUN_TIMEOUT_S = 900
#: Throughput variants: settings, processes, recovery on.
VARIANTS: dict[str, tuple[dict[str, str], int, bool]] = {
    ONE: ({}, 1, False),
    TWO: ({}, 2, False),
    "recovery on (offerflow run's default)": ({}, 1, True),
    "attribution off": ({"OFFERFLOW_ATTRIBUTION": "false"}, 1, False),
    "recommendations off": ({"OFFERFLOW_RECOMMENDATIONS": "false"}, 1, False),
}


def run_bench(
    events: int,
    *,
    repeat: int,
    output: str,
    state_users: tuple[int, ...],
    per_user: int = 2,
    latency_loads: tuple[float, ...] = (500.0, 1_000.0, 2_000.0, 5_000.0),
    latency_s: float = 45.0,
    chart: str = "docs/benchmarks.png",
) -> dict[str, object]:
    """Run every measurement, print and write the figures and the chart; return them."""
    base = {**os.environ, "OFFERFLOW_ENV": os.environ.get("OFFERFLOW_ENV", "dev")}
    stack.up(
        Settings.from_env(base),
        external_kafka="OFFERFLOW_KAFKA_BOOTSTRAP" in os.environ,
        say=lambda _line: None,
    )
    samples = generate(
        events,
        seed=1,
        users=max(1, events // 20),
        malformed_rate=0.05,
        now_ms=int(time.time() * 1000),
    )
    startup = _timed_run(base, [], "start-up (empty topic)").wall_s
    runs: dict[str, list[Run]] = {name: [] for name in VARIANTS}
    for i in range(repeat):  # interleaved, so broker drift hits every variant alike
        for name, (overrides, processes, recovery) in VARIANTS.items():
            label = f"run {i + 1}/{repeat}: {name}"
            with tempfile.TemporaryDirectory() as tmp:
                runs[name].append(
                    _timed_run(base, samples, label, overrides, tmp if recovery else "", processes)
                )
    throughput = {
        name: {
            "wall_s": (wall := statistics.median(r.wall_s for r in done)),
            "rate": events / wall,
            "rate_net": events / max(wall - startup, 1e-9),
            "peak_rss_mib": max(r.peak_rss_mib for r in done),
            **{
                cores: statistics.median(getattr(r, cores) for r in done)
                for cores in ("flow_cores", "broker_cores", "machine_cores")
            },
        }
        for name, done in runs.items()
    }
    purchases = replay.cdnow_purchases()
    cdnow = _timed_run(base, purchases, "CDNOW replay", {"OFFERFLOW_MAX_EVENT_AGE_S": str(
        replay.MAX_AGE_S)}, count=("internal", "attributions"))  # fmt: skip
    ceiling = statistics.median(_ceiling(base, samples) for _ in range(repeat))
    for name, row in throughput.items():
        print(f"{name}: {row['rate']:,.0f} events/s ({row['rate'] / ceiling:.1%} of the ceiling)")
    print(f"ceiling (plain confluent-kafka consume, decode, produce): {ceiling:,.0f} events/s")
    latency_rows = latency.measure(
        loads=latency_loads, duration_s=latency_s, output=str(Path(output).with_name("LATENCY.md"))
    )
    memory = []
    for users in state_users:
        try:
            memory.append(_memory_run(base, users, per_user))
        except RuntimeError as exc:  # reported, not fatal: the other figures still stand
            print(f"memory run at {users:,} users failed: {exc}")
            memory.append({"users": users, "error": str(exc)})
    figures: dict[str, object] = {
        "events": events,
        "repeat": repeat,
        "startup_s": startup,
        "throughput": throughput,
        "cdnow": {
            "events": len(purchases),
            "customers": len({p.key for p in purchases}),
            "wall_s": cdnow.wall_s,
            "rate": len(purchases) / cdnow.wall_s,
            "peak_rss_mib": cdnow.peak_rss_mib,
            **cdnow.counts,
        },
        "ceiling": ceiling,
        "latency": latency_rows,
        "latency_s": latency_s,
        "sustainable": _sustainable(latency_rows),
        "memory": memory,
        "state_users": state_users,
        "per_user": per_user,
        "paths": PATHS,
    }
    # kept beside the report first: a late failure must not lose an hour of measurements
    Path(output).with_suffix(".json").write_bytes(orjson.dumps(figures, default=str))
    figures["paths_s"] = _paths_run(PATHS)
    bench_report.chart(Path(chart), figures)
    bench_report.write(Path(output), figures, Path(chart))
    return figures


@dataclass(frozen=True)
class Run:
    """One timed flow run: wall time, peak memory, the cores used on average by the flow
    processes (summed), by the local broker (NaN for an external one) and by the whole
    machine, and the records on the topics asked to be counted."""

    wall_s: float
    peak_rss_mib: float
    flow_cores: float
    broker_cores: float
    machine_cores: float
    counts: dict[str, int] = field(default_factory=dict)


def _sustainable(rows: list[dict[str, float]]) -> dict[str, float] | None:
    """The highest measured load the flow kept up with: at least 95% of it produced, every
    request answered, p99 under a second."""
    kept = [
        r
        for r in rows
        if r["background_events_per_s"] >= 0.95 * r["load"]
        and r["unanswered"] == 0
        and r["p99_ms"] < 1_000
    ]
    return max(kept, key=lambda r: r["load"]) if kept else None


def _ceiling(base: dict[str, str], samples: list) -> float:
    """Events/s of a plain confluent-kafka loop over the same records, the most a Python
    consumer of this broker does: consume in batches of 1,000 (manual assignment, the
    flow's fetch tuning), decode (orjson or fastavro, as the gate does), produce each
    decoded record as JSON (refused ones as they came, to a second topic), flush."""
    run_id = f"ceiling-{time.strftime('%H%M%S')}-{time.monotonic_ns() % 10**6}"
    env = {"OFFERFLOW_TOPIC_PREFIX": f"offerflow-{run_id}", "OFFERFLOW_REDIS_PREFIX": run_id}
    settings = Settings.from_env({**base, **env})
    stack.fresh_broker(settings, say=lambda _line: None)
    stack.ensure_topics(settings)
    topic = settings.topic("events")
    produce(settings, topic, ((s.key, s.value) for s in samples), total=len(samples),
            desc="ceiling: producing")  # fmt: skip
    consumer = Consumer(
        settings.kafka(
            **SOURCE_TUNING,
            **{"group.id": run_id, "enable.auto.commit": "false", "enable.partition.eof": "true"},
        )
    )
    producer = Producer(settings.kafka(**{"linger.ms": "5"}))
    out, dlq = settings.topic("decisions"), settings.topic("dlq")
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        done, ended = 0, set()
        started = time.monotonic()
        while len(ended) < len(parts):
            for msg in consumer.consume(1000, 0.5):
                if msg.error() is not None:
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        ended.add(msg.partition())
                    continue
                try:
                    topic_out, value = out, orjson.dumps(codec.decode("event", msg.value()))
                except (Rejected, TypeError):
                    topic_out, value = dlq, msg.value()
                while True:
                    try:
                        producer.produce(topic_out, value, msg.key())
                        break
                    except BufferError:  # the local queue is full: let deliveries drain
                        producer.poll(0.05)
                done += 1
            producer.poll(0)
        producer.flush(60)
        rate = done / (time.monotonic() - started)
        print(f"ceiling: {done:,} records, {rate:,.0f} records/s")
        return rate
    finally:
        consumer.close()
        stack.remove_run(settings)


def _memory_run(base: dict[str, str], users: int, per_user: int) -> dict[str, float]:
    """The flow over ``users`` users (``per_user`` events each on average), with recovery:
    its peak resident memory, and the newest snapshot of every user's profile state."""
    population = generate(
        users * per_user, seed=2, users=users, malformed_rate=0.0, now_ms=int(time.time() * 1000)
    )
    with tempfile.TemporaryDirectory() as recovery:
        run = _timed_run(base, population, f"state at {users:,} users", recovery=recovery)
        sizes = _snapshot_sizes(Path(recovery))
    row = {
        "users": len(sizes),
        "events": len(population),
        "wall_s": run.wall_s,
        "peak_rss_mib": run.peak_rss_mib,
        "rss_per_user_b": run.peak_rss_mib * 2**20 / max(len(sizes), 1),
        "state_mean": statistics.fmean(sizes),
        "state_p99": statistics.quantiles(sizes, n=100)[98],
        "state_max": max(sizes),
    }
    print(
        f"{len(sizes):,} users: peak RSS {run.peak_rss_mib:,.0f} MiB, state mean "
        f"{row['state_mean']:,.0f} B/user (p99 {row['state_p99']:,.0f} B)"
    )
    return row


def _timed_run(
    base: dict[str, str],
    samples: list,
    label: str,
    overrides: dict[str, str] | None = None,
    recovery: str = "",
    processes: int = 1,
    count: tuple[str, ...] = (),
) -> Run:
    run_id = f"bench-{time.strftime('%H%M%S')}-{time.monotonic_ns() % 10**6}"
    env = {
        "OFFERFLOW_TOPIC_PREFIX": f"offerflow-{run_id}",
        "OFFERFLOW_REDIS_PREFIX": run_id,
        "OFFERFLOW_TAIL": "false",
        "OFFERFLOW_METRICS_PORT": "0",
        **(overrides or {}),
    }
    settings = Settings.from_env({**base, **env})
    stack.fresh_broker(settings, say=lambda _line: None)
    stack.ensure_topics(settings)
    try:
        produce(
            settings,
            settings.topic("events"),
            ((s.key, s.value) for s in samples),
            total=len(samples),
            desc=f"{label}: producing",
        )
        broker = stack.broker_pid(settings)
        started = time.monotonic()
        before = (runner.cpu_seconds(broker), runner.machine_cpu_seconds())
        timeout_s = max(RUN_TIMEOUT_S, len(samples) / 500)
        procs = runner.start("profiles", env=env, recovery_dir=recovery, processes=processes,
                             snapshot_s=settings.snapshot_s)  # fmt: skip
        peaks = {p.pid: 0.0 for p in procs}
        cpu = {p.pid: 0.0 for p in procs}  # the last reading before each process exits
        while any(p.poll() is None for p in procs):
            for p in procs:
                peaks[p.pid] = max(peaks[p.pid], runner.memory_mib(p.pid, "VmHWM"))
                cpu[p.pid] = max(cpu[p.pid], runner.cpu_seconds(p.pid))
            if time.monotonic() - started > timeout_s:
                runner.stop(procs)
                raise RuntimeError(f"{label}: not done after {timeout_s:.0f} s")
            time.sleep(0.5)
        wall = time.monotonic() - started
        after = (runner.cpu_seconds(broker), runner.machine_cpu_seconds())
        if any(p.returncode != 0 for p in procs):
            raise RuntimeError(f"{label}: the flow failed")
        result = tally(settings)
        if result.accepted + result.dead != len(samples):
            raise RuntimeError(f"{label}: {result.accepted} + {result.dead} != {len(samples)}")
        run = Run(
            wall,
            sum(peaks.values()),
            sum(cpu.values()) / wall,
            (after[0] - before[0]) / wall,
            (after[1] - before[1]) / wall,
            {logical: len(read_to_end(settings, settings.topic(logical))) for logical in count},
        )
        print(
            f"{label}: {wall:.2f} s ({len(samples) / wall:,.0f} events/s; cores: flow "
            f"{run.flow_cores:.2f}, broker {run.broker_cores:.2f}, "
            f"machine {run.machine_cores:.2f})",
            flush=True,
        )
        return run
    finally:
        stack.remove_run(settings)


def _paths_run(n: int) -> float:
    """Wall time of ``offerflow attribution paths`` (a fresh process) on ``n`` distinct paths
    of 1 to 8 touches over 8 channels."""
    rng = random.Random(3)
    channels = ("email", "sms", "push", "web", "google", "facebook", "affiliate", "direct")
    paths: set[str] = set()
    while len(paths) < n:
        paths.add(" > ".join(rng.choice(channels) for _ in range(rng.randint(1, 8))))
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "paths.csv"
        rows = (f"{p},{(c := rng.randint(0, 40))},{c * 55.5},{rng.randint(0, 400)}" for p in paths)
        header = "path,total_conversions,total_conversion_value,total_null"
        file.write_text("\n".join((header, *sorted(rows))) + "\n")
        started = time.monotonic()
        command = [sys.executable, "-m", "offerflow", "attribution", "paths", str(file)]
        subprocess.run([*command, "--format", "csv"], check=True, stdout=subprocess.DEVNULL)
        return time.monotonic() - started


def _snapshot_sizes(recovery: Path) -> list[int]:
    """Bytes of the newest recovery snapshot of every profile key: the flow state per user
    as Bytewax stores it."""
    sizes = []
    newest = """SELECT length(ser_change) FROM snaps s WHERE step_id LIKE '%.profile.%'
                AND ser_change IS NOT NULL AND snap_epoch = (SELECT max(snap_epoch) FROM snaps t
                WHERE t.step_id = s.step_id AND t.state_key = s.state_key)"""
    for db in recovery.glob("*.sqlite3"):
        with sqlite3.connect(db) as conn:
            sizes += [n for (n,) in conn.execute(newest)]
    return sizes
