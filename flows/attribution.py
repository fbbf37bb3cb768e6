"""The attribution half of the main dataflow, after the user-keyed profile step.

Steps: the profile step's rule-based attribution records, and the paths it ended (converted
or not) → keyed ``markov`` → the Markov chain step (learns every path, credits conversions
under the data-driven model) → all records to the attributions topic (keyed by conversion
id) → keyed by model → running totals per channel and campaign, mirrored to Redis as
``<prefix>:attribution:<model>``, with the chain's removal effects at
``<prefix>:attribution_chain``.
"""

from __future__ import annotations

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSinkMessage
from bytewax.dataflow import Stream

from config.settings import Settings
from flows.placement import MODEL_KEYS
from flows.wiring import keyed_outputs, publish, stateful_fold
from models.attribution_models import HeuristicParams
from operators import metrics
from operators.attribution_totals import AttributionTotals, add_record
from operators.markov_step import MarkovStep
from operators.redis_mirror import RedisMirrorSink
from operators.user_attribution import AttributionConfig
from schemas import codec


def attribution_config(settings: Settings) -> AttributionConfig | None:
    """The user step's attribution settings, or ``None`` when attribution is off."""
    if not settings.attribution:
        return None
    first, last = settings.attribution_position
    return AttributionConfig(
        lookback_ms=settings.attribution_lookback_ms,
        max_touches=settings.attribution_max_touches,
        inactivity_ms=settings.attribution_inactivity_ms,
        conversion_types=frozenset(settings.attribution_conversions),
        heuristics=HeuristicParams(settings.attribution_half_life_ms, first, last),
    )


def attribute(changes: Stream, settings: Settings) -> None:
    """Wire the Markov step, the attributions topic and the Redis totals after the profile
    step's ``changes``."""
    paths = op.filter_map(
        "ended_paths",
        changes,
        lambda kv: (MODEL_KEYS["markov"], kv[1][1]) if kv[1][0] == "path" else None,
    )
    markov = MarkovStep(settings.markov_order, settings.markov_refresh)
    chain_out = keyed_outputs("markov", paths, markov)
    rule_based = op.filter_map(
        "rule_based_credits", changes, lambda kv: kv[1][1] if kv[1][0] == "attribution" else None
    )
    data_driven = op.filter_map(
        "markov_credits", chain_out, lambda kv: kv[1][1] if kv[1][0] == "attribution" else None
    )
    records = op.inspect(
        "count_attributions",
        op.merge("attribution_records", rule_based, data_driven),
        lambda _s, r: metrics.count_attribution(r["model"]),
    )
    fmt = settings.output_format
    encoded = op.map(
        "encode_attributions",
        records,
        lambda r: KafkaSinkMessage(
            r["conversion_id"].encode(), codec.encode("attribution", r, fmt)
        ),
    )  # type: ignore[arg-type]
    publish("attributions", encoded, settings)

    by_model = op.key_on("key_by_model", records, lambda r: r["model"])
    totals = op.map(
        "totals_documents",
        stateful_fold("attribution_totals", by_model, add_record, AttributionTotals.document),
        lambda kv: (settings.redis_key("attribution", kv[0]), kv[1]),
    )
    chain = op.filter_map(
        "chain_document",
        chain_out,
        lambda kv: (
            (settings.redis_key("attribution_chain"), kv[1][1]) if kv[1][0] == "chain" else None
        ),
    )
    op.output(
        "redis_attribution",
        op.merge("attribution_documents", totals, chain),
        RedisMirrorSink(settings.redis_url, ttl_s=settings.analytics_ttl_s),
    )
