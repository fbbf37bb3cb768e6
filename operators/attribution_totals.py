"""Running attribution totals per model, by channel and by campaign, for Redis and reports.

A fold keyed by model name (:func:`add_record`, then :meth:`AttributionTotals.document`
once per batch). Sums are kept in the same integer units the records were split in
(:mod:`models.credit_split`), so a total is exactly the sum of the records on the
attributions topic, however many there are.

Examples
--------

>>> record = {"model": "linear", "conversion_value": 10.0, "credits": [
...     {"channel": "email", "campaign_id": "spring", "fraction": 0.5, "value": 5.0},
...     {"channel": "google", "campaign_id": None, "fraction": 0.5, "value": 5.0}]}
>>> doc = add_record(add_record(None, record), record).document()
>>> doc["conversions"], doc["value"], doc["channels"]["email"], doc["campaigns"]["(none)"]
(2, 20.0, {'conversions': 1.0, 'value': 10.0}, {'conversions': 1.0, 'value': 10.0})

"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.credit_split import FRACTION_UNITS, from_cents, to_cents

#: Campaign name of credits no campaign earned (organic visits, direct conversions).
NO_CAMPAIGN = "(none)"


@dataclass
class AttributionTotals:
    """One model's totals: conversions, value, and (fraction units, cents) per key."""

    model: str
    conversions: int = 0
    value_cents: int = 0
    channels: dict[str, list[int]] = field(default_factory=dict)
    campaigns: dict[str, list[int]] = field(default_factory=dict)

    def add(self, record: dict[str, Any]) -> None:
        """Count one attribution record."""
        self.conversions += 1
        self.value_cents += to_cents(record["conversion_value"])
        for credit in record["credits"]:
            parts = round(credit["fraction"] * FRACTION_UNITS)
            cents = to_cents(credit["value"])
            for table, key in (
                (self.channels, credit["channel"]),
                (self.campaigns, credit["campaign_id"] or NO_CAMPAIGN),
            ):
                sums = table.setdefault(key, [0, 0])
                sums[0] += parts
                sums[1] += cents

    def document(self) -> dict[str, Any]:
        """Totals as plain numbers: conversions credited and value, per channel and campaign."""

        def shown(table: dict[str, list[int]]) -> dict[str, dict[str, float]]:
            return {
                key: {"conversions": parts / FRACTION_UNITS, "value": from_cents(cents)}
                for key, (parts, cents) in sorted(table.items())
            }

        return {
            "model": self.model,
            "conversions": self.conversions,
            "value": from_cents(self.value_cents),
            "channels": shown(self.channels),
            "campaigns": shown(self.campaigns),
        }


def add_record(totals: AttributionTotals | None, record: dict[str, Any]) -> AttributionTotals:
    """Fold ``record`` into its model's totals."""
    totals = totals or AttributionTotals(record["model"])
    totals.add(record)
    return totals
