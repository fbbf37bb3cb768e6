"""The policy step, keyed by ``"<campaign>|<segment>"``: screened requests in, decisions out;
closed reward windows in, learning.

Each key's state is a :class:`~state.policy.PolicyState`. A request whose campaign was
deleted (or whose offers were all removed) since the user step screened it becomes a "no
offer" decision, released downstream. A changed policy kind in a campaign update starts a
fresh state for its keys: posteriors of another policy kind do not carry over.

Outputs: ``("decision", record)`` and ``("conversion", campaign_id)`` for the budget gate
(keyed by campaign), ``("policy", (key, document))`` for Redis.

Examples
--------

>>> from operators.campaign_book import CampaignBook
>>> step = PolicyStep(CampaignBook(text='[[campaign]]\\nid = "c"\\n[[campaign.offer]]\\nid = "o"'))
>>> request = {"decision_id": "d1", "user": "u", "ts": 0, "trigger": "request",
...            "campaign": "c", "channels": ["web"], "offers": ["o"], "segment": None,
...            "context": {}, "policy_segment": "all"}
>>> state, out = step(None, ("candidate", request))
>>> [(tag, payload["offer_id"]) for tag, payload in out if tag == "decision"]
[('decision', 'o')]
>>> reward = {"decision_id": "d1", "campaign": "c", "segment": "all", "offer": "o",
...           "channel": "web", "reward": 1.0, "revenue": 0.0, "context": {}, "ts": 1}
>>> state, out = step(state, ("reward", reward))
>>> out[0][1][1]["arms"]
{'o': {'pulls': 1, 'mean': 0.666667}}

"""

from __future__ import annotations

from typing import Any

from operators.campaign_book import CampaignBook
from state.policy import PolicyState, no_offer

Output = tuple[str, Any]


class PolicyStep:
    """``op.stateful_map`` mapper: ``(state, (kind, payload)) -> (state, outputs)``."""

    def __init__(self, campaigns: CampaignBook) -> None:
        self.campaigns = campaigns

    def __call__(
        self, state: PolicyState | None, item: tuple[str, dict[str, Any]]
    ) -> tuple[PolicyState | None, list[Output]]:
        kind, payload = item
        campaign = self.campaigns.current().campaigns.get(payload["campaign"])
        if campaign is None:
            if kind == "reward":
                return state, []  # a deleted campaign learns nothing more
            channel = payload["channels"][0]
            return state, [("decision", no_offer(payload, channel, "campaign_deleted"))]
        if state is None or state.kind != campaign.policy:
            state = PolicyState(campaign)
        if kind == "candidate":
            return state, [("decision", state.decide(campaign, payload))]
        state.learn(payload)
        key = f"{campaign.id}|{payload['segment']}"
        out: list[Output] = [("policy", (key, state.document(payload["segment"])))]
        if payload["reward"] > 0 and campaign.reward in ("conversion", "revenue"):
            out.append(("conversion", campaign.id))
        return state, out
