"""Campaigns: offers (the bandit's arms), who may get them, where, when, how often, and at
what budget.

A campaign file is TOML with one ``[[campaign]]`` table per campaign (see
``docs/campaigns.md`` and ``state/campaigns.toml``). The same table as a JSON object is the
value of a record on the campaigns topic, keyed by campaign id (an empty value deletes it).
Parsing collects *every* error rather than stopping at the first, each with the line it
concerns, so ``offerflow campaigns validate`` can list them all.

Checks that depend only on the campaign and the clock (schedule, quiet hours) live here, as
pure methods: the user-keyed step applies them with the user's consent, caps and segments.

The file's parser is :mod:`state.campaign_file`.

"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from schemas.units import DAY_MS
from state.drift_config import DriftConfig
from state.experiments import Experiment
from state.segments import Segment
from state.tables import CHANNELS

REWARDS = ("click", "conversion", "revenue")
COMBINES = ("first", "max", "sum")
TRIGGERS = ("cart_abandoned", "lapsed")
#: Campaigns-topic keys of experiment records (``experiment:<id>``) and of the holdout.
EXPERIMENT_KEY = "experiment:"
HOLDOUT_KEY = "holdout"


class CampaignErrors(ValueError):
    """Every problem found in a campaign file, each ``line N: campaign 'id': what``."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Offer:
    """One arm: an id, the channels it may go out on, and its content per channel."""

    id: str
    channels: tuple[str, ...]
    payload: Mapping[str, Mapping[str, str]]

    def content(self, channel: str) -> dict[str, str]:
        """What the sender renders on ``channel`` (the ``"*"`` payload fills gaps)."""
        return {**self.payload.get("*", {}), **self.payload.get(channel, {})}


@dataclass(frozen=True)
class Cap:
    """At most ``max`` sends on ``channel`` (``"*"``: any) per user in ``window_ms``."""

    channel: str
    max: int
    window_ms: int


@dataclass(frozen=True)
class Trigger:
    """A behavioural trigger: ``cart_abandoned`` (a cart with no purchase for ``after_ms``)
    or ``lapsed`` (no event for ``after_ms``). ``channel`` ``None`` picks the best one."""

    kind: str
    after_ms: int
    channel: str | None = None


@dataclass(frozen=True)
class Campaign:
    """One campaign; built by :func:`parse_campaigns`, immutable once built."""

    id: str
    offers: tuple[Offer, ...]
    channels: tuple[str, ...] = CHANNELS
    name: str = ""
    priority: int = 0
    segments: tuple[str, ...] = ()
    consent: tuple[str, ...] = ("marketing",)
    rule: Segment | None = None
    policy: str = "thompson"
    policy_params: Mapping[str, float] = field(default_factory=dict)
    #: ``auto``: the response model learns and breaks the policy's ties and picks among
    #: several usable channels; ``off``: neither (ties and channels go by listed order).
    response_model: str = "auto"
    drift: DriftConfig = field(default_factory=DriftConfig)
    per_segment: bool = True
    reward: str = "click"
    reward_window_ms: int = DAY_MS
    reward_cap: float = 100.0
    combine: str = "first"
    ttl_ms: int = DAY_MS
    start_ms: int | None = None
    end_ms: int | None = None
    timezone: str = "UTC"
    quiet_hours: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    max_sends: int | None = None
    max_conversions: int | None = None
    caps: tuple[Cap, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    exclude_products: tuple[str, ...] = ()
    repeat: str | None = None
    version: str = ""

    def active(self, now_ms: int) -> bool:
        """Inside its schedule at ``now_ms``."""
        return (self.start_ms is None or now_ms >= self.start_ms) and (
            self.end_ms is None or now_ms < self.end_ms
        )

    def in_quiet_hours(self, channel: str, now_ms: int) -> bool:
        """Whether ``now_ms`` falls in ``channel``'s quiet hours, in the campaign's time zone
        (a window may wrap midnight: ``["21:00", "08:00"]``)."""
        window = self.quiet_hours.get(channel) or self.quiet_hours.get("*")
        if window is None:
            return False
        local = datetime.fromtimestamp(now_ms / 1000, tz=ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute
        start, end = window
        return start <= minute < end if start <= end else minute >= start or minute < end

    def offer(self, offer_id: str) -> Offer | None:
        return self.offer_ids.get(offer_id)

    @functools.cached_property
    def offer_ids(self) -> dict[str, Offer]:
        """Offers by id (a decision looks each candidate up)."""
        return {o.id: o for o in reversed(self.offers)}


@dataclass(frozen=True)
class Catalog:
    """Every live campaign, caps that count sends of all campaigns together, the experiments
    on them and the global holdout (:mod:`state.experiments`)."""

    campaigns: Mapping[str, Campaign] = field(default_factory=dict)
    global_caps: tuple[Cap, ...] = ()
    experiments: Mapping[str, Experiment] = field(default_factory=dict)
    holdout: Experiment | None = None

    def by_priority(self) -> list[Campaign]:
        """Campaigns, highest priority first (ties by id, so every worker agrees)."""
        return sorted(self.campaigns.values(), key=lambda c: (-c.priority, c.id))

    def with_campaign(self, campaign_id: str, campaign: Campaign | None) -> Catalog:
        """A copy with one campaign replaced, added or (``None``) deleted."""
        return self._with("campaigns", campaign_id, campaign)

    def with_experiment(self, experiment_id: str, experiment: Experiment | None) -> Catalog:
        """A copy with one experiment replaced, added or (``None``) deleted."""
        return self._with("experiments", experiment_id, experiment)

    def _with(self, table: str, key: str, value: Any) -> Catalog:
        entries = dict(getattr(self, table))
        if value is None:
            entries.pop(key, None)
        else:
            entries[key] = value
        return replace(self, **{table: entries})

    def by_layer(self) -> list[Experiment]:
        """Experiments in layer order (ties by id), the order their variants apply in."""
        return sorted(self.experiments.values(), key=lambda e: (e.layer, e.id))
