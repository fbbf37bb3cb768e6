"""The decision half of the main dataflow, after the user-keyed profile step.

Steps: screened requests and closed reward windows, keyed by ``campaign|segment`` → the
policy step (bandit and response model: a decision, or learning) → keyed by campaign → the
budget gate → (decisions that carry content, and recommendations-only requests: the
recommendation step, :mod:`flows.recommendations`, fills their ``products``) → the
decisions topic (with the "no offer" decisions the user step made itself) and the campaign
funnels (:mod:`flows.statistics`),
plus ``decided``/``released`` messages back to each user's ledger through the internal topic,
policy and budget aggregates to Redis (``<prefix>:policy:<campaign>:<segment>``, which
also holds the policy key's last drift detections, ``<prefix>:budget:<campaign>``), and
drift detections to the drift topic.
"""

from __future__ import annotations

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSinkMessage
from bytewax.dataflow import Stream

from config.settings import Settings
from flows.recommendations import carries_content, recommend
from flows.statistics import count_campaigns
from flows.wiring import keyed_outputs, publish
from operators import metrics
from operators.budget_gate import BudgetGate
from operators.campaign_book import CampaignBook
from operators.feedback import Feedback
from operators.policy_step import PolicyStep
from operators.redis_mirror import RedisMirrorSink
from schemas import codec


def campaign_book(settings: Settings) -> CampaignBook:
    """The process's live campaign catalog: the campaign file, then the campaigns topic."""
    return CampaignBook(
        settings.campaigns_file,
        kafka=settings.kafka(),
        topic=settings.topic("campaigns"),
        dlq_topic=settings.topic("dlq"),
        dlq_format=settings.output_format,
    )


def decide(changes: Stream, book: CampaignBook, settings: Settings) -> Stream[Feedback]:
    """Wire the policy and budget steps after the profile step's ``changes``; returns the
    messages for the internal topic."""
    to_policy = op.filter_map(
        "policy_inputs",
        changes,
        lambda kv: (kv[1][0], kv[1][1]) if kv[1][0] in ("candidate", "reward") else None,
    )
    to_policy = op.inspect("count_rewards", to_policy, _count_reward)
    by_policy = op.key_on("key_by_policy", to_policy, lambda item: item[1][0])
    policy_in = op.map_value("policy_payload", by_policy, lambda item: (item[0], item[1][1]))
    policy_out = keyed_outputs("policy", policy_in, PolicyStep(book))

    to_budget = op.filter_map(
        "budget_inputs",
        policy_out,
        lambda kv: kv[1] if kv[1][0] in ("decision", "conversion") else None,
    )
    by_campaign = op.key_on("key_by_campaign", to_budget, _campaign_of)
    gated = keyed_outputs("budget", by_campaign, BudgetGate(book))

    local = op.filter_map(
        "user_no_offers", changes, lambda kv: kv[1][1] if kv[1][0] == "decision" else None
    )
    final = op.filter_map("final", gated, lambda kv: kv[1][1] if kv[1][0] == "final" else None)
    if settings.recommendations:
        content = op.branch("content_decisions", final, carries_content)
        requests = op.filter_map(
            "recommendation_requests",
            changes,
            lambda kv: kv[1][1] if kv[1][0] == "recommend" else None,
        )
        filled = recommend(changes, op.merge("to_fill", content.trues, requests), book, settings)
        final = op.merge("final_decisions", content.falses, filled)
    decisions = op.inspect(
        "count_decisions",
        op.merge("all_decisions", local, final),
        lambda _s, d: metrics.count_decision(d),
    )
    count_campaigns(changes, decisions, book, settings)
    fmt = settings.output_format
    encoded = op.map(
        "encode_decisions",
        decisions,
        lambda d: KafkaSinkMessage(d["user_id"].encode(), codec.encode("decision", d, fmt)),
    )  # type: ignore[arg-type]
    publish("decisions", encoded, settings)

    drifts = op.filter_map(
        "drift_detections", policy_out, lambda kv: kv[1][1] if kv[1][0] == "drift" else None
    )
    encoded_drifts = op.map(
        "encode_drifts",
        op.inspect("count_drifts", drifts, lambda _s, d: metrics.count_drift(d)),
        lambda d: KafkaSinkMessage(
            d["campaign_id"].encode(), codec.encode("drift_detection", d, fmt)
        ),
    )  # type: ignore[arg-type]
    publish("drift", encoded_drifts, settings)

    policy_docs = op.filter_map(
        "policy_documents",
        policy_out,
        lambda kv: _doc(settings, "policy", kv[1][1]) if kv[1][0] == "policy" else None,
    )
    budget_docs = op.filter_map(
        "budget_documents",
        gated,
        lambda kv: _doc(settings, "budget", kv[1][1]) if kv[1][0] == "budget" else None,
    )
    op.output(
        "redis_aggregates",
        op.merge("aggregates", policy_docs, budget_docs),
        RedisMirrorSink(settings.redis_url, ttl_s=settings.analytics_ttl_s),
    )
    return op.filter_map(
        "ledger_updates", gated, lambda kv: kv[1][1] if kv[1][0] == "internal" else None
    )


def _count_reward(_step: str, item: tuple) -> None:
    kind, (_key, payload) = item
    if kind == "reward" and not payload.get("shown"):
        metrics.count_reward(payload["campaign"], payload["reward"])


def _campaign_of(item: tuple) -> str:
    kind, payload = item
    return payload if kind == "conversion" else payload["campaign_id"]


def _doc(settings: Settings, kind: str, keyed: tuple) -> tuple[str, dict]:
    key, doc = keyed
    return settings.redis_key(kind, *key.split("|")), doc
