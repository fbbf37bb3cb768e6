"""Ingestion flow: Kafka events → ingestion gate → per-user event counter → Redis.

Refused records (and Kafka consumer errors) go to the dead-letter topic with their reason and
original bytes; accepted events are keyed by pseudonymous user and counted, deduplicated by
event id; each updated count is mirrored to Redis as JSON at ``<prefix>:counter:<pseudonym>``.

Run it with ``offerflow run`` or ``python -m bytewax.run flows.ingest_counter:flow``
(settings from ``OFFERFLOW_*``).
"""

from __future__ import annotations

import gc

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from flows.config import Settings
from flows.wiring import ingest, publish_dead_letters
from operators.redis_mirror import RedisMirrorSink
from schemas.event import Event
from state.event_counter import EventCounter


def build(settings: Settings) -> Dataflow:
    """The ingestion + counter dataflow for ``settings``."""
    flow = Dataflow("offerflow_ingest_counter")
    accepted, dead = ingest(flow, settings)
    publish_dead_letters(dead, settings)
    by_user = op.key_on("key_by_user", accepted, lambda e: e.user_id)
    counts = op.stateful_map("count_events", by_user, _count_with(settings.dedup_window))
    to_redis = op.map(
        "counter_to_redis", counts, lambda kv: (settings.redis_key("counter", kv[0]), kv[1])
    )
    op.output(
        "redis_counters", to_redis, RedisMirrorSink(settings.redis_url, ttl_s=settings.redis_ttl_s)
    )
    return flow


def flow() -> Dataflow:
    """Entry point for ``python -m bytewax.run flows.ingest_counter:flow``."""
    built = build(Settings.from_env())
    gc.freeze()  # long-lived import-time objects out of the GC's way: no full-GC pauses
    return built


def _count_with(dedup_window: int):
    def count(state: EventCounter | None, event: Event) -> tuple[EventCounter, dict[str, object]]:
        state = state or EventCounter(dedup_window)
        state.update(event)
        return state, state.to_document()

    return count
