"""The budget gate, keyed by campaign: the last check before a decision goes out.

A campaign's budget (``max_sends``, ``max_conversions``) is global, so it is counted in one
place: this step, keyed by campaign id. It is a hot key by design (every decision of a
campaign passes through it), but the work per decision is two integer comparisons, so it is
not where time goes; see the README's note on hot keys.

Every decision that leaves tells its user's ledger how it ended, through the internal topic:
``decided`` (offer and channel) or ``released`` (no offer: the reserved cap slot is freed).

Examples
--------

>>> from operators.campaign_book import CampaignBook
>>> gate = BudgetGate(CampaignBook(text='''
... [[campaign]]
... id = "c"
... budget = { max_sends = 1 }
... [[campaign.offer]]
... id = "o"
... '''))
>>> decision = {"decision_id": "d1", "user_id": "u", "campaign_id": "c", "offer_id": "o",
...             "channel": "web", "reason": None}
>>> state, out = gate(None, ("decision", decision))
>>> [(tag, getattr(p, "kind", None)) for tag, p in out]
[('final', None), ('internal', 'decided'), ('budget', None)]
>>> state, out = gate(state, ("decision", {**decision, "decision_id": "d2"}))
>>> out[0][1]["offer_id"], out[0][1]["reason"], out[1][1].kind
(None, 'budget_exhausted:max_sends', 'released')

"""

from __future__ import annotations

from typing import Any

from operators.campaign_book import CampaignBook
from operators.feedback import Feedback

Output = tuple[str, Any]


class BudgetGate:
    """``op.stateful_map`` mapper over ``{"sends": n, "conversions": m}`` per campaign."""

    def __init__(self, campaigns: CampaignBook) -> None:
        self.campaigns = campaigns

    def __call__(
        self, state: dict[str, int] | None, item: tuple[str, Any]
    ) -> tuple[dict[str, int], list[Output]]:
        state = dict(state or {"sends": 0, "conversions": 0})
        kind, payload = item
        if kind == "conversion":
            state["conversions"] += 1
            return state, [("budget", (payload, dict(state)))]
        record = payload
        campaign = self.campaigns.current().campaigns.get(record["campaign_id"] or "")
        if record["offer_id"] is not None:
            exhausted = _exhausted(campaign, state) if campaign else "campaign_deleted"
            if exhausted:
                record = {**record, "offer_id": None, "payload": {}, "reason": exhausted}
        user, did = record["user_id"], record["decision_id"]
        if record["offer_id"] is None:
            return state, [
                ("final", record),
                ("internal", Feedback("released", user, {"decision_id": did})),
            ]
        state["sends"] += 1
        decided = {"decision_id": did, "offer": record["offer_id"], "channel": record["channel"]}
        return state, [
            ("final", record),
            ("internal", Feedback("decided", user, decided)),
            ("budget", (record["campaign_id"], dict(state))),
        ]


def _exhausted(campaign, state: dict[str, int]) -> str | None:
    if campaign.max_sends is not None and state["sends"] >= campaign.max_sends:
        return "budget_exhausted:max_sends"
    if campaign.max_conversions is not None and state["conversions"] >= campaign.max_conversions:
        return "budget_exhausted:max_conversions"
    return None
