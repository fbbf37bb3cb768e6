"""The statistics half of the main dataflow: what the dashboard and ``offerflow report`` read.

Steps: final decisions and the user step's funnel events, keyed by campaign → each
campaign's funnel (:class:`~state.campaign_stats.CampaignStats`) → Redis
``<prefix>:campaign:<id>``; segment changes split into a +1/-1 per segment named, keyed by
segment → each segment's size and its history (:class:`~state.segment_sizes.SegmentSize`)
→ Redis ``<prefix>:segment_size:<name>``.
"""

from __future__ import annotations

from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream

from config.settings import Settings
from flows.wiring import stateful_fold
from operators.campaign_book import CampaignBook
from operators.redis_mirror import RedisMirrorSink
from state.campaign_stats import CampaignStats
from state.segment_sizes import SegmentSize


def count_campaigns(
    changes: Stream, decisions: Stream[dict[str, Any]], book: CampaignBook, settings: Settings
) -> None:
    """Wire the campaign funnels: ``decisions`` (every final decision record) and the
    ``("funnel", ...)`` outputs of the profile step's ``changes``."""
    funnel = op.filter_map(
        "funnel_events", changes, lambda kv: ("funnel", kv[1][1]) if kv[1][0] == "funnel" else None
    )
    campaign_decisions = op.filter_map(
        "campaign_decisions",
        decisions,
        lambda d: ("decision", (d["campaign_id"], d)) if d["campaign_id"] else None,
    )
    merged = op.merge("funnel_and_decisions", funnel, campaign_decisions)
    keyed = op.key_on("key_by_campaign_stats", merged, lambda item: item[1][0])

    def count(stats: CampaignStats | None, item: tuple) -> CampaignStats:
        kind, (campaign_id, payload) = item
        stats = stats or CampaignStats(campaign_id, settings.history_bucket_ms)
        if kind == "decision":
            stats.decision(payload)
        elif payload["stage"] == "decision":  # one the API made, as its user step recorded it
            stats.decision(payload["record"])
        else:
            stats.feedback(payload)
        campaign = book.current().campaigns.get(campaign_id)
        if campaign is not None:
            stats.set_budget(campaign.max_sends, campaign.max_conversions)
        return stats

    counted = stateful_fold("campaign_stats", keyed, count, CampaignStats.document)
    _mirror("campaign", counted, settings)


def count_segments(changes: Stream, settings: Settings) -> None:
    """Wire the segment sizes after the profile step's ``changes``."""
    moves = op.flat_map(
        "segment_moves",
        changes,
        lambda kv: _moves(kv[1][1]) if kv[1][0] == "segment" else [],
    )
    keyed = op.key_on("key_by_segment", moves, lambda move: move[0])

    def add(size: SegmentSize | None, move: tuple[str, int, int]) -> SegmentSize:
        segment, change, ts = move
        size = size or SegmentSize(segment, settings.history_bucket_ms)
        size.add(change, ts)
        return size

    sizes = stateful_fold("segment_sizes", keyed, add, SegmentSize.document)
    _mirror("segment_size", sizes, settings)


def _moves(change: dict[str, Any]) -> list[tuple[str, int, int]]:
    ts = int(change["ts"])
    return [(s, 1, ts) for s in change["added"]] + [(s, -1, ts) for s in change["removed"]]


def _mirror(kind: str, keyed_docs: Stream, settings: Settings) -> None:
    documents = op.map(
        f"{kind}_documents", keyed_docs, lambda kv: (settings.redis_key(kind, kv[0]), kv[1])
    )
    op.output(
        f"redis_{kind}",
        documents,
        RedisMirrorSink(settings.redis_url, ttl_s=settings.analytics_ttl_s),
    )
