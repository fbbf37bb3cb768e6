"""Profile flow: Kafka events → ingestion gate → per-user profile → Redis and topics.

Steps: consume and gate the events (refused ones go to the dead-letter topic); key accepted
events by pseudonymous user; fold them into each user's profile (segments, consent, erasure,
expiry); then fan out: profile documents to Redis (``<prefix>:profile:<pseudonym>``, JSON,
with the profile TTL), segment changes to the segments topic, consent/erasure/expiry audits to
the privacy topic, and events for erased users to the dead-letter topic.

Run it with ``offerflow run`` or ``python -m bytewax.run flows.profiles:flow``.
"""

from __future__ import annotations

import gc

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSinkMessage
from bytewax.connectors.kafka import operators as kop
from bytewax.dataflow import Dataflow, Stream

from flows.config import Settings
from flows.wiring import brokers, ingest, publish_dead_letters
from operators.profile_step import ProfileLogic, ProfileStepConfig
from operators.redis_mirror import FlushTicks, RedisMirrorSink
from schemas import codec
from state.profile import ProfileConfig
from state.segments import RuleFile


def build(settings: Settings) -> Dataflow:
    """The profile dataflow for ``settings``."""
    flow = Dataflow("offerflow_profiles")
    accepted, refused = ingest(flow, settings)
    by_user = op.key_on("key_by_user", accepted, lambda e: e.user_id)
    step = step_config(settings)
    changes = op.stateful("profile", by_user, lambda resume: ProfileLogic(step, resume))
    documents = op.filter_map(
        "profile_documents",
        changes,
        lambda kv: (
            (settings.redis_key("profile", kv[0]), kv[1][1]) if kv[1][0] == "profile" else None
        ),
    )
    if settings.tail:  # retry pending Redis writes even while no events arrive
        documents = op.merge(
            "documents_and_ticks", documents, op.input("redis_flush_ticks", flow, FlushTicks(1.0))
        )
    op.output(
        "redis_profiles",
        documents,
        RedisMirrorSink(settings.redis_url, ttl_s=settings.profile_ttl_s),
    )
    _publish("segments", changes, "segment_change", settings)
    _publish("privacy", changes, "privacy_audit", settings)
    erased = op.filter_map(
        "erased_letters", changes, lambda kv: kv[1][1] if kv[1][0] == "dead" else None
    )
    publish_dead_letters(op.merge("all_dead_letters", refused, erased), settings)
    return flow


def flow() -> Dataflow:
    """Entry point for ``python -m bytewax.run flows.profiles:flow``."""
    built = build(Settings.from_env())
    gc.freeze()  # long-lived import-time objects out of the GC's way: no full-GC pauses
    return built


def step_config(settings: Settings) -> ProfileStepConfig:
    """The profile step's configuration from ``settings``."""
    return ProfileStepConfig(
        profile=ProfileConfig(
            half_lives_ms=settings.half_lives_ms,
            max_categories=settings.max_categories,
            dedup_window=settings.dedup_window,
        ),
        rules=RuleFile(settings.segments_file),
        ttl_ms=settings.profile_ttl_s * 1000,
        erase_grace_ms=settings.erase_grace_s * 1000,
    )


def _publish(logical: str, changes: Stream, schema: str, settings: Settings) -> None:
    fmt = settings.output_format
    tag = "segment" if logical == "segments" else logical
    encoded = op.filter_map(
        f"encode_{logical}",
        changes,
        lambda kv: (
            KafkaSinkMessage(kv[0].encode(), codec.encode(schema, kv[1][1], fmt))
            if kv[1][0] == tag
            else None
        ),
    )
    kop.output(
        f"{logical}_out",
        encoded,
        brokers=brokers(settings),
        topic=settings.topic(logical),
        add_config=dict(settings.kafka_config),
    )
