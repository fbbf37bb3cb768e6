"""Profile flow: Kafka events → ingestion gate → per-user profile → Redis and topics.

The main dataflow. Steps: consume and gate the events (refused ones go to the dead-letter
topic); consume the flow's own internal topic (cluster answers, identity links and
hand-overs, decision outcomes); key both by user; fold them into each user's profile
(segments, consent, erasure, expiry, identity stitching, contact ledger, decision requests and
triggers, reward windows); then fan out: profile documents to Redis
(``<prefix>:profile:<pseudonym>``, JSON, with the profile TTL), segment changes to the
segments topic, consent/erasure/expiry audits to the privacy topic, events for erased users
and feedback for unknown decisions to the dead-letter topic, unclaimed users' behaviour to
the online clustering model, candidates and rewards to the policy and budget steps
(:mod:`flows.decisioning`) and from there decisions to the decisions topic, conversions'
credits and ended journeys to the attribution steps (:mod:`flows.attribution`) and from
there to the attributions topic and Redis totals, experiment exposures and metric changes to
the experiment totals (:mod:`flows.experiments`) and Redis, customers' purchase facts to the
predictive models (:mod:`flows.predictions`) whose churn risk, expected purchases and CLV
come back into the profiles, segment changes to the segment sizes (:mod:`flows.statistics`),
product events (with content decisions) to the recommendation step
(:mod:`flows.recommendations`), and internal messages back to the internal topic.

Run it with ``offerflow run`` or ``python -m bytewax.run flows.profiles:flow``.
"""

from __future__ import annotations

import gc
from typing import Any

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSinkMessage, KafkaSourceMessage
from bytewax.dataflow import Dataflow, Stream

from config.settings import Settings
from flows import ops
from flows.attribution import attribute, attribution_config
from flows.decisioning import campaign_book, decide
from flows.experiments import measure
from flows.placement import MODEL_KEYS
from flows.predictions import predict
from flows.statistics import count_segments
from flows.wiring import (
    consume,
    ingest,
    origin,
    packed_stateful,
    publish,
    publish_dead_letters,
    stateful_map,
)
from operators.campaign_book import CampaignBook
from operators.dead_letter import DeadLetter
from operators.feedback import Feedback, decode_feedback
from operators.profile_step import ProfileLogic, ProfileStepConfig
from operators.redis_mirror import RedisMirrorSink
from operators.slots import KEEP_MS as SLOTS_KEEP_MS
from operators.slots import SlotBook
from operators.user_decisions import Decisioning
from operators.user_predictions import Predictions
from schemas import codec
from schemas.event import Event
from schemas.rejection import Rejected
from state.clusters import ClusterModel, ClusterUpdate
from state.profile import ProfileConfig
from state.segments import RuleFile


def build(settings: Settings) -> Dataflow:
    """The profile dataflow for ``settings``."""
    flow = Dataflow("offerflow_profiles")
    accepted, refused = ingest(flow, settings)
    feedback, bad_feedback = _internal_in(flow, settings)
    updates = op.merge("events_and_feedback", accepted, feedback)
    by_user = op.key_on("key_by_user", updates, _target)
    book = campaign_book(settings)
    step = step_config(settings, book)
    changes = packed_stateful("profile", by_user, lambda resume: ProfileLogic(step, resume))

    documents = op.flat_map("profile_documents", changes, lambda kv: _documents(settings, kv))
    op.output(
        "redis_profiles",
        documents,
        RedisMirrorSink(settings.redis_url, ttl_s=settings.profile_ttl_s),
    )
    _publish(
        "segments",
        _tagged("segment_changes", changes, "segment", _record),
        "segment_change",
        settings,
    )
    _publish(
        "privacy", _tagged("privacy_audits", changes, "privacy", _record), "privacy_audit", settings
    )

    internal = _tagged("internal_messages", changes, "internal", lambda kv: kv[1][1])
    internal = op.merge("internal_and_ledger", internal, decide(changes, book, settings))
    if settings.clusters:
        internal = op.merge("internal_and_clusters", internal, _clusters(changes, settings))
    if settings.predictions:
        internal = op.merge("internal_and_predictions", internal, predict(changes, settings))
    encoded = op.map(
        "encode_internal", internal, lambda m: KafkaSinkMessage(m.target.encode(), m.encode())
    )
    publish("internal", encoded, settings)

    measure(changes, book, settings)
    count_segments(changes, settings)
    if settings.attribution:
        attribute(changes, settings)

    erased = _tagged("profile_dead_letters", changes, "dead", lambda kv: kv[1][1])
    publish_dead_letters(op.merge("all_dead_letters", refused, bad_feedback, erased), settings)
    return flow


def flow() -> Dataflow:
    """Entry point for ``python -m bytewax.run flows.profiles:flow``: the dataflow, plus
    this process's metrics endpoint and operations report (:func:`flows.ops.start`). It
    stops on SIGINT even when its launcher left SIGINT ignored (:func:`ops.honour_sigint`)."""
    ops.honour_sigint()
    settings = Settings.from_env()
    built = build(settings)
    ops.start(settings)
    gc.freeze()  # long-lived import-time objects out of the GC's way: no full-GC pauses
    # Per-user state is many small containers, and the default thresholds (700, 10, 10) made
    # the collector traverse it over and over as it grew: 13.1 s of a 54.7 s run over 100,000
    # events of 100,000 users went to the GC, 1.8 s with these. Garbage without cycles is
    # freed at once either way; only cyclic garbage waits longer.
    gc.set_threshold(10_000, 50, 100)
    return built


def context_label(settings: Settings) -> str:
    """The half-life label of the features decisions use as context (the middle one: 7d)."""
    labels = ProfileConfig(half_lives_ms=settings.half_lives_ms).labels
    return labels[len(labels) // 2]


def step_config(settings: Settings, book: CampaignBook | None = None) -> ProfileStepConfig:
    """The profile step's configuration from ``settings`` (decisions off without ``book``)."""
    profile = ProfileConfig(
        half_lives_ms=settings.half_lives_ms,
        max_categories=settings.max_categories,
        dedup_window=settings.dedup_window,
    )
    return ProfileStepConfig(
        profile=profile,
        rules=RuleFile(settings.segments_file),
        ttl_ms=settings.profile_ttl_s * 1000,
        erase_grace_ms=settings.erase_grace_s * 1000,
        clustering=settings.clusters > 0,
        decisioning=Decisioning(
            book,
            context_label(settings),
            settings.recommendations,
            SlotBook(settings.redis_url, settings.redis_key, SLOTS_KEEP_MS)
            if settings.shared_slots
            else None,
        )
        if book
        else None,
        attribution=attribution_config(settings),
        predictions=Predictions(settings.predict_refresh_ms) if settings.predictions else None,
        recommendations=settings.recommendations,
    )


def _internal_in(flow: Dataflow, settings: Settings) -> tuple[Stream[Feedback], Stream[DeadLetter]]:
    records, consumer_errors = consume("internal_in", flow, settings, "internal")
    decoded = op.map("decode_internal", records, _decode_internal)
    split = op.branch("split_internal", decoded, lambda r: isinstance(r, Feedback))
    return split.trues, op.merge("internal_dead_letters", split.falses, consumer_errors)


def _decode_internal(msg: KafkaSourceMessage) -> Feedback | DeadLetter:
    try:
        return decode_feedback(msg.value)
    except Rejected as err:
        return DeadLetter(err.reason, err.detail, msg.key, msg.value, origin(msg))


def _clusters(changes: Stream, settings: Settings) -> Stream[Feedback]:
    """Unclaimed users' vectors → one online KMeans (a single key: see the README) → an
    answer for each user whose cluster changed."""
    vectors = _tagged("cluster_vectors", changes, "vector", lambda kv: kv[1][1])
    keyed = op.key_on("one_cluster_model", vectors, lambda _v: MODEL_KEYS["kmeans"])

    def assign(
        model: ClusterModel | None, update: ClusterUpdate
    ) -> tuple[ClusterModel, Feedback | None]:
        model = model or ClusterModel(n_clusters=settings.clusters)
        cluster = model.answer(update)
        answer = None if cluster is None else Feedback("cluster", update.user, {"cluster": cluster})
        return model, answer

    answers = stateful_map("cluster_model", keyed, assign)
    return op.filter_map("cluster_answers", answers, lambda kv: kv[1])


def _target(value: Event | Feedback) -> str:
    return value.user_id if isinstance(value, Event) else value.target


def _record(kv: tuple) -> tuple[str, dict]:
    return kv[0], kv[1][1]


def _documents(settings: Settings, kv: tuple[str, tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The Redis writes of a profile change: a ``None`` document (erased, or expired) deletes
    the profile, the user's in-app inbox that the senders keep, and their cap slots."""
    user, (tag, document) = kv
    if tag != "profile":
        return []
    profile = settings.redis_key("profile", user)
    if document is None:
        return [(profile, None), *((settings.redis_key(k, user), None) for k in ("inbox", "slots"))]
    return [(profile, document)]


def _tagged(step_id: str, changes: Stream, tag: str, pick) -> Stream:
    return op.filter_map(step_id, changes, lambda kv: pick(kv) if kv[1][0] == tag else None)


def _publish(logical: str, records: Stream, schema: str, settings: Settings) -> None:
    fmt = settings.output_format
    encoded = op.map(
        f"encode_{logical}",
        records,
        lambda kv: KafkaSinkMessage(kv[0].encode(), codec.encode(schema, kv[1], fmt)),
    )  # type: ignore[arg-type]
    publish(logical, encoded, settings)
