"""One campaign's delivery funnel: what the dashboard and ``offerflow report campaigns`` show.

Keyed by campaign id, like the budget gate, and for the same reason: a campaign's numbers
are global. It sees each of the campaign's final decisions once (offer or "no offer", with
the segment and channel) and each feedback event the user step resolved to one of its
decisions (``impression``, ``open``, ``click``, ``conversion`` with revenue); the work per
record is a few dictionary increments, so the hot key costs little (see the README).

The document is the state itself (:meth:`CampaignStats.document` returns the live dict, not a
copy): the Redis mirror serializes it once per batch, after every increment of that batch,
instead of the step copying a growing document for every record.

Examples
--------

>>> stats = CampaignStats("spring", bucket_ms=60_000)
>>> stats.decision({"offer_id": "a", "segment": "new", "channel": "email", "ts": 1_000,
...                 "reason": None})
>>> stats.decision({"offer_id": None, "segment": "new", "channel": "email", "ts": 2_000,
...                 "reason": "budget_exhausted:max_sends"})
>>> stats.feedback({"stage": "impression", "channel": "email", "ts": 3_000, "revenue": 0.0})
>>> stats.feedback({"stage": "conversion", "channel": "email", "ts": 4_000, "revenue": 25.0})
>>> doc = stats.document()
>>> doc["totals"]  # doctest: +NORMALIZE_WHITESPACE
{'decisions': 1, 'no_offers': 1, 'impressions': 1, 'opens': 0, 'clicks': 0,
 'conversions': 1, 'revenue': 25.0}
>>> doc["no_offer_reasons"], doc["allocation"]
({'budget_exhausted:max_sends': 1}, [[0, {'new': {'a': 1}}]])

"""

from __future__ import annotations

from typing import Any

from state.history import Series, fresh

#: Feedback stages, as the user step names them.
STAGES = ("impression", "open", "click", "conversion")
_COUNTS = ("decisions", "no_offers", "impressions", "opens", "clicks", "conversions")
#: Points of the allocation series: a point holds segments by offers counts.
ALLOCATION_POINTS = 120


def _zero() -> dict[str, Any]:
    return {**dict.fromkeys(_COUNTS, 0), "revenue": 0.0}


class CampaignStats:
    """Running funnel counts of one campaign, overall and per channel, and the offers it
    chose per segment in each bucket of event time.

    Parameters
    ----------
    campaign
        Campaign id.
    bucket_ms
        Event time per point of the allocation series.

    """

    def __init__(self, campaign: str, bucket_ms: int) -> None:
        self.allocation = Series(bucket_ms, ALLOCATION_POINTS)
        self.doc: dict[str, Any] = {
            "campaign": campaign,
            "totals": _zero(),
            "channels": {},
            "no_offer_reasons": {},
            "allocation": self.allocation.points,
            "budget": {},
        }

    def decision(self, record: dict[str, Any]) -> None:
        """Count a final decision record of this campaign."""
        totals, channel = self.doc["totals"], self._channel(record["channel"])
        if record["offer_id"] is None:
            reason = str(record.get("reason") or "none")
            reasons = self.doc["no_offer_reasons"]
            reasons[reason] = reasons.get(reason, 0) + 1
            totals["no_offers"] += 1
            channel["no_offers"] += 1
            return
        totals["decisions"] += 1
        channel["decisions"] += 1
        offers = self.allocation.slot(int(record["ts"]), fresh).setdefault(
            record.get("segment") or "*", {}
        )
        offers[record["offer_id"]] = offers.get(record["offer_id"], 0) + 1

    def feedback(self, item: dict[str, Any]) -> None:
        """Count an impression, open, click or conversion of one of this campaign's
        decisions."""
        field = item["stage"] + "s"
        for counts in (self.doc["totals"], self._channel(item["channel"])):
            counts[field] += 1
            counts["revenue"] += float(item.get("revenue") or 0.0)

    def set_budget(self, max_sends: int | None, max_conversions: int | None) -> None:
        """The campaign's budget limits as defined now (the gate counts against them)."""
        self.doc["budget"] = {"max_sends": max_sends, "max_conversions": max_conversions}

    def document(self) -> dict[str, Any]:
        """The live document (see the module docstring: not a copy)."""
        return self.doc

    def _channel(self, channel: str | None) -> dict[str, Any]:
        channels = self.doc["channels"]
        name = channel or "unknown"
        if name not in channels:
            channels[name] = _zero()
        return channels[name]
