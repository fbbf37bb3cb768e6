"""``offerflow latency``: decision latency under a steady background load.

On fresh run-scoped topics it starts the main flow (one process, tailing), introduces the
users (consent), then for ``duration_s`` produces browsing events at ``load`` events/s and, in
the same stream, decision requests at ``requests_per_s``. A consumer on the decisions topic
timestamps each decision as it becomes readable; latency is that time minus the moment the
request was handed to the producer (same host, same clock). Requests in the first
``warmup_s`` seconds are not counted. Beside it, the flow's own share: its latency histogram
(``stage="flow"``, from a request leaving the Kafka source to its decision leaving the flow),
read from its metrics endpoint when the warm-up ends and when the load stops; the quantiles
are interpolated within the histogram's buckets, as Prometheus's ``histogram_quantile`` does.
Writes ``docs/LATENCY.md`` unless told otherwise.
"""

from __future__ import annotations

import os
import platform
import statistics
import threading
import time
import urllib.request

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from config.settings import Settings
from offerflow import runner
from offerflow.devstack import stack
from operators.pseudonymize import Pseudonymizer


def measure(
    loads: tuple[float, ...] = (500.0, 2_000.0),
    requests_per_s: float = 20.0,
    duration_s: float = 60.0,
    warmup_s: float = 10.0,
    users: int = 5_000,
    output: str = "docs/LATENCY.md",
) -> list[dict[str, float]]:
    """One measurement per background load; writes the report and returns the rows."""
    rows = [_one(load, requests_per_s, duration_s, warmup_s, users) for load in loads]
    _write(output, rows, requests_per_s, duration_s, warmup_s)
    return rows


def _one(
    load: float, requests_per_s: float, duration_s: float, warmup_s: float, users: int
) -> dict[str, float]:
    run_id = time.strftime("latency-%Y%m%d-%H%M%S")
    overrides = {
        "OFFERFLOW_TOPIC_PREFIX": f"offerflow-{run_id}",
        "OFFERFLOW_REDIS_PREFIX": f"offerflow-{run_id}",
        "OFFERFLOW_TAIL": "true",
    }
    settings = Settings.from_env({**os.environ, **overrides})
    stack.fresh_broker(settings, say=lambda _line: None)
    stack.ensure_topics(settings)
    producer = Producer(settings.kafka(**{"linger.ms": "5"}))
    now = int(time.time() * 1000)
    for i in range(users):
        body = {"event_id": f"c{i}", "type": "consent", "user_id": f"u{i}", "ts": now}
        producer.produce(
            settings.topic("events"), orjson.dumps({**body, "consent": {"marketing": True}})
        )
    producer.flush(30)
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = threading.Event()
    reader = threading.Thread(target=_read, args=(settings, seen, stop), daemon=True)
    reader.start()
    log_path = os.path.join(settings.stack_dir, f"{run_id}.log")
    procs = runner.start("profiles", env=overrides, log_path=log_path)
    broker = stack.broker_pid(settings)
    try:
        time.sleep(3)  # the flow's start-up is not what we measure
        cpu_before = (
            runner.cpu_seconds(broker),
            runner.cpu_seconds(procs[0].pid),
            time.monotonic(),
        )
        port = settings.metrics_port
        flow: list[dict[float, float]] = []
        warm = threading.Timer(warmup_s, lambda: flow.append(_flow_histogram(port)))
        warm.start()
        background, started = _drive(
            producer, settings, load, requests_per_s, duration_s, users, sent
        )
        warm.join()
        cpu = [
            (runner.cpu_seconds(pid) - before) / (time.monotonic() - cpu_before[2])
            for pid, before in ((broker, cpu_before[0]), (procs[0].pid, cpu_before[1]))
        ]
        deadline = time.monotonic() + 15
        while len(seen.keys() & sent.keys()) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.2)
        flow.append(_flow_histogram(port))
    finally:
        stop.set()
        runner.stop(procs)
        reader.join(10)
        stack.remove_run(settings)
        os.unlink(log_path)
    counted = [
        (seen[r] - t) * 1000 for r, t in sent.items() if r in seen and t - started >= warmup_s
    ]
    qs = statistics.quantiles(counted, n=100) if len(counted) >= 2 else [float("nan")] * 99
    return {
        "load": load,
        "background_events_per_s": background,
        "requests": len(counted),
        "unanswered": sum(r not in seen for r in sent),
        "p50_ms": qs[49],
        "p95_ms": qs[94],
        "p99_ms": qs[98],
        "flow_p50_ms": _quantile(flow[0], flow[1], 0.50) * 1000,
        "flow_p99_ms": _quantile(flow[0], flow[1], 0.99) * 1000,
        "max_ms": max(counted) if counted else float("nan"),
        "broker_cpu": cpu[0],
        "flow_cpu": cpu[1],
    }


def _flow_histogram(port: int) -> dict[float, float]:
    """Cumulative counts by upper bound of the flow's ``stage="flow"`` latency histogram."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    out = {}
    for line in text.splitlines():
        if (
            line.startswith("offerflow_processing_latency_seconds_bucket{")
            and 'stage="flow"' in line
        ):
            bound = line.split('le="')[1].split('"')[0]
            out[float(bound)] = float(line.rsplit(" ", 1)[1])
    return out


def _quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """The ``q`` quantile (seconds) of what the histogram counted between two readings,
    linear within the bucket it falls in (NaN if nothing was counted).

    >>> inf = float("inf")
    >>> _quantile({0.01: 0, 0.02: 0, inf: 0}, {0.01: 50, 0.02: 100, inf: 100}, 0.75)
    0.015

    """
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return float("nan")
    rank, lower, below = q * counts[-1], 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = bound, count
    return lower


def _drive(producer, settings, load, requests_per_s, duration_s, users, sent):
    topic = settings.topic("events")
    hashed = Pseudonymizer(settings.id_key).event
    started = time.monotonic()
    n_events = n_requests = 0
    while (elapsed := time.monotonic() - started) < duration_s:
        ts = int(time.time() * 1000)
        while n_events < elapsed * load:
            user = f"u{n_events % users}"
            body = {"event_id": f"b{n_events}", "type": "product_view", "user_id": user, "ts": ts}
            producer.produce(
                topic, orjson.dumps({**body, "properties": {"category": "shoes"}}), user.encode()
            )
            n_events += 1
        while n_requests < elapsed * requests_per_s:
            user = f"u{(n_requests * 7919) % users}"
            rid = f"r{n_requests}"
            body = {"event_id": rid, "type": "decision_request", "user_id": user, "ts": ts}
            sent[hashed(rid)] = time.monotonic()  # decisions carry the hashed request id
            producer.produce(topic, orjson.dumps({**body, "channel": "web"}), user.encode())
            n_requests += 1
        producer.poll(0)
        time.sleep(0.001)
    producer.flush(30)
    return n_events / (time.monotonic() - started), started


def _read(settings: Settings, seen: dict[str, float], stop: threading.Event) -> None:
    consumer = Consumer(
        settings.kafka(**{"group.id": "offerflow-latency", "fetch.wait.max.ms": "100"})
    )
    topic = settings.topic("decisions")
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    while not stop.is_set():
        for msg in consumer.consume(num_messages=1000, timeout=0.05):
            if msg.error() is None:
                rid = orjson.loads(msg.value()).get("request_event_id")
                if rid:
                    seen.setdefault(rid, time.monotonic())
    consumer.close()


def _write(output: str, rows: list[dict[str, float]], rps, duration, warmup) -> None:
    loads = ",".join(f"{r['load']:g}" for r in rows)
    lines = [
        "# Decision latency",
        "",
        "Request produced → decision readable on the decisions topic, one Bytewax process, "
        "local Tansu broker and Redis on the same machine",
        f"({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}). "
        f"Command: `offerflow latency --loads {loads} --requests-per-s {rps:g} "
        f"--duration {duration:g}`",
        f"({warmup:g} s warm-up not counted). Generated by `offerflow/devstack/latency.py`; "
        "CPU is the share of one core used during the measured window.",
        "",
        "The flow's own share (request leaving the Kafka source → decision leaving the flow, "
        'from its `stage="flow"` histogram) is in the last two columns.',
        "",
        "| background load (events/s, achieved) | requests counted | unanswered | p50 | p95 "
        "| p99 | max | broker CPU | flow CPU | flow's share p50 | flow's share p99 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['background_events_per_s']:,.0f} | {r['requests']:,} | {r['unanswered']} "
            f"| {r['p50_ms']:.0f} ms | {r['p95_ms']:.0f} ms | {r['p99_ms']:.0f} ms "
            f"| {r['max_ms']:.0f} ms | {r['broker_cpu']:.0%} | {r['flow_cpu']:.0%} "
            f"| {r['flow_p50_ms']:.1f} ms | {r['flow_p99_ms']:.1f} ms |"
        )
    with open(output, "w") as fh:
        fh.write("\n".join(lines) + "\n")
