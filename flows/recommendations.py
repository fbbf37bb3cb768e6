"""The recommendation half of the main dataflow.

Steps: product interactions and departures from the profile step, and the decisions that
carry content (offers on email, push and web, and recommendations-only requests) → keyed by
user → the users' half (``reco_users``: each user's taste, and what a ranking needs from it)
→ keyed ``reco`` → the recommendation step (the item model learns the interactions, fills
each decision's ``products``) → the filled decisions back to the decisions topic, and each
user's current top-k to Redis (``<prefix>:reco:<pseudonym>``, with the profile TTL; erasure
deletes it).
"""

from __future__ import annotations

import bytewax.operators as op
from bytewax.dataflow import Stream

from config.settings import Settings
from flows.placement import MODEL_KEYS
from flows.wiring import keyed_outputs, packed_map
from operators.campaign_book import CampaignBook
from operators.reco_step import RecoStep, catalog_features
from operators.redis_mirror import RedisMirrorSink
from operators.taste_step import TasteStep, user_of

#: Channels whose messages carry content around the offer.
CONTENT_CHANNELS = frozenset({"email", "push", "web"})


def carries_content(decision: dict) -> bool:
    """Whether a decision gets products: an offer on a content channel, or a
    recommendations-only request."""
    if decision["reason"] == "recommendations_only":
        return True
    return decision["offer_id"] is not None and decision["channel"] in CONTENT_CHANNELS


def recommend(
    changes: Stream, to_fill: Stream, book: CampaignBook, settings: Settings
) -> Stream[dict]:
    """Wire the recommendation step; returns ``to_fill``'s decisions with their products."""
    from_users = op.filter_map(
        "reco_interactions", changes, lambda kv: kv[1][1] if kv[1][0] == "reco" else None
    )
    fill = op.map("reco_decisions", to_fill, lambda d: ("decision", d))
    by_user = op.key_on("key_reco_users", op.merge("reco_inputs", from_users, fill), user_of)

    def excluded(campaign_id: str) -> tuple[tuple[str, ...], str | None]:
        campaign = book.current().campaigns.get(campaign_id)
        return (campaign.exclude_products, campaign.repeat) if campaign else ((), None)

    tastes = TasteStep(
        repeat=settings.reco_repeat,
        half_life_ms=settings.reco_half_life_ms,
        refresh_ms=settings.reco_refresh_ms,
        catalog=catalog_features(settings.catalog_file) if settings.catalog_file else None,
        excluded=excluded,
    )
    messages = op.filter_map("reco_messages", packed_map("reco_users", by_user, tastes),
                             lambda kv: kv[1])  # fmt: skip
    keyed = op.key_on("key_reco", messages, lambda _message: MODEL_KEYS["reco"])
    step = RecoStep(
        k=settings.reco_k,
        per_category=settings.reco_per_category,
        half_life_ms=settings.reco_half_life_ms,
        refresh_ms=settings.reco_refresh_ms,
        catalog_file=settings.catalog_file,
        max_products=settings.max_products,
    )
    outputs = keyed_outputs("reco", keyed, step)
    tops = op.filter_map(
        "reco_tops",
        outputs,
        lambda kv: (
            (
                settings.redis_key("reco", kv[1][1][0]),
                None if kv[1][1][1] is None else {"products": kv[1][1][1]},
            )
            if kv[1][0] == "top"
            else None
        ),
    )
    op.output("redis_reco", tops, RedisMirrorSink(settings.redis_url, ttl_s=settings.profile_ttl_s))
    return op.filter_map(
        "filled_decisions", outputs, lambda kv: kv[1][1] if kv[1][0] == "decision" else None
    )
