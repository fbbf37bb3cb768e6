"""Each flow process's health, for operators: a Prometheus endpoint and a Redis document.

:func:`document` turns the process's metrics (:mod:`operators.metrics`) into one JSON
document: counters by label, input positions per partition, latency histograms, the newest
recovery snapshot's time, and a short history of totals (``[ts, events in, records out,
{reason: dead letters}]``, for the per-second charts).
:class:`OpsReporter` is a daemon thread that writes it to Redis at
``<prefix>:ops:<host>:<process>`` every interval with a TTL of a few intervals, so a key
disappears soon after its process dies and the dashboard counts live processes by key. It
never stops the flow: a Redis outage only costs the reporter a logged warning per interval.

Examples
--------

>>> from operators import metrics
>>> metrics.count_dead_letter("unparseable")
>>> doc = document(process=0, history=[])
>>> doc["counters"]["dead_letters"]["unparseable"] >= 1
True
>>> sorted(doc)[:4]
['counters', 'history', 'host', 'latency']

"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
import redis
from prometheus_client import CollectorRegistry, Metric, start_http_server
from prometheus_client.registry import Collector

from operators.metrics import REGISTRY

log = logging.getLogger(__name__)

#: Metric name → (document section, label names joined with ``|`` as the key).
_SECTIONS = {
    "offerflow_events_in_total": "events_in",
    "offerflow_dead_letters_total": "dead_letters",
    "offerflow_records_out_total": "records_out",
    "offerflow_decisions_total": "decisions",
    "offerflow_rewards_total": "rewards",
    "offerflow_attribution_records_total": "attribution",
    "offerflow_redis_write_errors_total": "redis_write_errors",
    "offerflow_bounded_total": "bounded",
}
#: History samples kept in the document (at a 2 s interval: five minutes).
HISTORY = 150


def document(
    *, process: int, history: list[list[float]], recovery_dir: str = "", started_ms: int = 0
) -> dict[str, Any]:
    """This process's operations document (see the module docstring)."""
    counters: dict[str, dict[str, float]] = {section: {} for section in _SECTIONS.values()}
    positions: dict[str, int] = {}
    latency: dict[str, dict[str, Any]] = {}
    for family in REGISTRY.collect():
        for sample in family.samples:
            labels = sample.labels
            section = _SECTIONS.get(sample.name)
            if section is not None:
                counters[section]["|".join(labels.values()) or "all"] = sample.value
            elif sample.name == "offerflow_input_offset":
                positions[f"{labels['topic']}|{labels['partition']}"] = int(sample.value)
            elif sample.name.startswith("offerflow_processing_latency_seconds"):
                stage = latency.setdefault(labels["stage"], {"buckets": {}})
                if sample.name.endswith("_bucket"):
                    stage["buckets"][labels["le"]] = sample.value
                elif sample.name.endswith("_count"):
                    stage["count"] = sample.value
                elif sample.name.endswith("_sum"):
                    stage["sum"] = sample.value
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "process": process,
        "started_ms": started_ms,
        "ts": int(time.time() * 1000),
        "counters": counters,
        "positions": positions,
        "latency": latency,
        "recovery": {"dir": recovery_dir, "last_snapshot_ms": last_snapshot_ms(recovery_dir)},
        "history": history,
    }


def last_snapshot_ms(recovery_dir: str) -> int | None:
    """When Bytewax last wrote a recovery partition in ``recovery_dir`` (file times), or
    ``None`` without recovery."""
    if not recovery_dir or not os.path.isdir(recovery_dir):
        return None
    times = []
    for path in Path(recovery_dir).glob("*.sqlite3*"):
        try:
            times.append(path.stat().st_mtime)
        except FileNotFoundError:  # SQLite removes its -wal and -shm files as it goes
            continue
    return int(max(times) * 1000) if times else None


class OpsReporter(threading.Thread):
    """Writes :func:`document` to Redis every ``interval_s`` (a daemon thread).

    Parameters
    ----------
    client
        Redis client (short timeouts: :func:`operators.redis_mirror.client_for`).
    key
        Redis key of this process's document.
    process
        Bytewax process index.
    interval_s
        Seconds between documents; the key expires after three intervals plus five seconds.
    recovery_dir
        The flow's recovery directory ('' without recovery).

    """

    def __init__(
        self,
        client: redis.Redis,
        key: str,
        *,
        process: int,
        interval_s: float = 2.0,
        recovery_dir: str = "",
    ) -> None:
        super().__init__(name="offerflow-ops-report", daemon=True)
        self.client = client
        self.key = key
        self.process = process
        self.interval_s = interval_s
        self.recovery_dir = recovery_dir
        self.started_ms = int(time.time() * 1000)
        self.history: list[list[float]] = []
        self._halt = threading.Event()

    def report(self) -> dict[str, Any]:
        """Sample the totals into the history and write one document; returns it."""
        doc = document(
            process=self.process,
            history=self.history,
            recovery_dir=self.recovery_dir,
            started_ms=self.started_ms,
        )
        c = doc["counters"]
        ins, outs = sum(c["events_in"].values()), sum(c["records_out"].values())
        self.history.append([doc["ts"], ins, outs, dict(c["dead_letters"])])
        del self.history[:-HISTORY]
        ttl = int(self.interval_s * 3) + 5
        try:
            self.client.set(self.key, orjson.dumps(doc), ex=ttl)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("ops report not written to Redis: %s", exc)
        return doc

    def run(self) -> None:
        while not self._halt.wait(self.interval_s):
            try:
                self.report()
            except Exception:  # one bad sample must not end the reports for good
                log.exception("ops report failed; trying again in %s s", self.interval_s)

    def stop(self) -> None:
        self._halt.set()


def serve_metrics(host: str, port: int, scraped: Iterable[Collector] = ()) -> bool:
    """Start the Prometheus ``/metrics`` endpoint of this process's registry, plus
    ``scraped``: collectors that do work when read (the input lag asks the broker), so they
    run on a scrape only, never in the operations report; a taken port is logged, not fatal
    (the flow matters more than its metrics)."""
    endpoint = CollectorRegistry()
    for collector in (_Registry(REGISTRY), *scraped):
        endpoint.register(collector)
    try:
        start_http_server(port, addr=host, registry=endpoint)
    except OSError as exc:
        log.warning("metrics endpoint not started on %s:%d: %s", host, port, exc)
        return False
    log.info("metrics on http://%s:%d/metrics", host, port)
    return True


class _Registry(Collector):
    """A registry's metrics as one collector of another registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        return self.registry.collect()
