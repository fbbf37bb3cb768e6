"""Which campaign may contact a user now, and on which channels: the user-side half of a
decision, run in the user-keyed step where consent, caps and history live.

Campaigns are tried by priority. For each, in order: schedule, segment targeting, the
campaign's rule on profile features, required consent purposes, then per channel: the
channel was not withdrawn (unsubscribe or consent ``false``), it is not quiet hours in the
campaign's time zone, and neither the campaign's caps nor the file's cross-campaign caps are
reached (counting decisions still pending on that channel). The first campaign with an open
channel and an offer for it wins; if none does, the answer names each campaign's blocking
reason, which becomes the "no offer" decision's ``reason``.

Examples
--------

>>> from state.campaign_file import parse_campaigns
>>> from state.contacts import ContactLedger
>>> catalog = parse_campaigns('''
... [[campaign]]
... id = "promo"
... channels = ["email", "sms"]
... quiet_hours = { sms = ["00:00", "23:59"] }
... [[campaign.offer]]
... id = "coupon"
... ''')
>>> consent = {"marketing": [True, 0, "consent:e1"]}
>>> screen(catalog, {}, (), consent, ContactLedger(), None, ts=0)
Screened(campaign='promo', channels=('email',), offers=('coupon',), reason='')
>>> screen(catalog, {}, (), consent, ContactLedger(), "sms", ts=0).reason
'promo:quiet_hours'
>>> screen(catalog, {}, (), {}, ContactLedger(), "email", ts=0).reason
'promo:no_consent:marketing'

"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from state.campaigns import Campaign, Cap, Catalog
from state.contacts import ContactLedger


@dataclass(frozen=True)
class Screened:
    """A campaign and the channels and offers open to this user now; ``reason`` says why
    nothing is open when ``campaign`` is empty."""

    campaign: str
    channels: tuple[str, ...]
    offers: tuple[str, ...]
    reason: str = ""


def screen(
    catalog: Catalog,
    features: Mapping[str, Any],
    segments: tuple[str, ...],
    consent: Mapping[str, list[Any]],
    ledger: ContactLedger,
    channel: str | None,
    ts: int,
    only: str | None = None,
) -> Screened:
    """The best open campaign for a request on ``channel`` (``None``: any channel) at event
    time ``ts``; ``only`` restricts it to one campaign (behavioural triggers)."""
    reasons = []
    campaigns = catalog.by_priority()
    if only is not None:
        campaigns = [c for c in campaigns if c.id == only]
    for campaign in campaigns:
        reason = _campaign_blocked(campaign, features, segments, consent, ts)
        if reason is None:
            channels, reason = _open_channels(campaign, catalog, consent, ledger, channel, ts)
            if channels:
                offers = tuple(o.id for o in campaign.offers if set(o.channels) & set(channels))
                return Screened(campaign.id, channels, offers)
        reasons.append(f"{campaign.id}:{reason}")
    return Screened("", (), (), ",".join(reasons) or "no_campaign")


def context_features(features: Mapping[str, Any], label: str) -> dict[str, float]:
    """A few pre-scaled profile features (decayed ones at half-life ``label``) for contextual
    policies and the response model: small, so the ledger can keep them until the reward.

    >>> context_features({"purchases": 3, "spend.7d": 99.0}, "7d")["purchases"]
    1.386
    """

    def log1p(name: str) -> float:
        value = features.get(name) or 0.0
        return round(math.log1p(max(0.0, float(value))), 3)

    engagement = sum(
        float(v)
        for k, v in features.items()
        if k.startswith("eng:") and k.endswith("." + label) and isinstance(v, int | float)
    )
    return {
        "bias": 1.0,
        "purchases": log1p("purchases"),
        "spend": log1p(f"spend.{label}"),
        "views": log1p(f"act:product_view.{label}"),
        "carts": log1p(f"act:add_to_cart.{label}"),
        "engagement": round(math.log1p(engagement), 3),
        "fatigue": log1p(f"fatigue.{label}"),
    }


def decision_id(user: str, source: str, prefix: str = "d_") -> str:
    """Deterministic id: the same user and source (request event id and channel, or trigger
    and its anchor time) give the same id, so replays are detectable duplicates. Decisions
    the API makes start with :data:`API_DECISION` instead.

    >>> a, b = decision_id("u1", "e9|email"), decision_id("u1", "e9|sms")
    >>> a == decision_id("u1", "e9|email") != b
    True
    """
    digest = hashlib.blake2b(f"{user}\x00{source}".encode(), digest_size=12).hexdigest()
    return prefix + digest


#: How the ids of decisions the personalization API made begin.
API_DECISION = "a_"


def _campaign_blocked(
    campaign: Campaign,
    features: Mapping[str, Any],
    segments: tuple[str, ...],
    consent: Mapping[str, list[Any]],
    ts: int,
) -> str | None:
    if not campaign.active(ts):
        return "outside_schedule"
    if campaign.segments and not set(campaign.segments) & set(segments):
        return "not_targeted"
    if campaign.rule is not None and not campaign.rule.matches(features):
        return "rule"
    for purpose in campaign.consent:
        granted = consent.get(purpose)
        if granted is None or granted[0] is not True:
            return f"no_consent:{purpose}"
    return None


def _open_channels(
    campaign: Campaign,
    catalog: Catalog,
    consent: Mapping[str, list[Any]],
    ledger: ContactLedger,
    channel: str | None,
    ts: int,
) -> tuple[tuple[str, ...], str]:
    wanted = campaign.channels if channel is None else (channel,)
    open_, reason = [], "channel_not_offered"
    for ch in wanted:
        if ch not in campaign.channels or not any(ch in o.channels for o in campaign.offers):
            continue
        withdrawn = consent.get(ch)
        if withdrawn is not None and withdrawn[0] is False:
            reason = "unsubscribed"
        elif campaign.in_quiet_hours(ch, ts):
            reason = "quiet_hours"
        elif _capped(campaign.caps, ledger, ch, ts, campaign.id) or _capped(
            catalog.global_caps, ledger, ch, ts, None
        ):
            reason = "frequency_cap"
        else:
            open_.append(ch)
    return tuple(open_), reason


def _capped(caps: tuple[Cap, ...], ledger: ContactLedger, channel: str, ts: int, campaign) -> bool:
    for cap in caps:
        if cap.channel not in ("*", channel):
            continue
        scope = ("*",) if cap.channel == "*" else (channel,)
        if ledger.count(scope, ts - cap.window_ms, campaign) >= cap.max:
            return True
    return False
