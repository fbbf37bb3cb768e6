"""The policy step, keyed by ``"<campaign>|<segment>"``: screened requests in, decisions out;
closed reward windows in, learning.

Each key's state is a :class:`~state.policy.PolicyState`. A request or reward of an
experiment variant (``payload["variants"]``: ``[experiment, variant]`` pairs, each with a
key of its own) sees the campaign as the variant runs it
(:func:`state.experiments.apply_variant`: its policy, offers, creative). A request whose
campaign was deleted (or whose offers were all removed) since the user step screened it
becomes a "no offer" decision, released downstream. A changed policy kind in a campaign
update starts a fresh state for its keys: posteriors of another policy kind (or of another
drift half-life) do not carry over.

A reward record marked ``shown`` is a delivered decision whose window is still open: the
bandit counts a provisional miss for it until its reward replaces it
(:meth:`~state.policy.PolicyState.assume_miss`).

Outputs: ``("decision", record)`` and ``("conversion", campaign_id)`` for the budget gate
(keyed by campaign), ``("policy", (key, document))`` for Redis, ``("drift", record)`` for
each change the campaign's drift detector found (the drift topic).

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
{'o': {'pulls': 1, 'mean': 0.666667, 'alpha': 2.0, 'beta': 1.0}}

"""

from __future__ import annotations

import time
from typing import Any

from operators.campaign_book import CampaignBook
from state.campaigns import Campaign, Catalog
from state.experiments import apply_variant
from state.policy import PolicyState, no_offer

Output = tuple[str, Any]


class PolicyStep:
    """``op.stateful_map`` mapper: ``(state, (kind, payload)) -> (state, outputs)``."""

    def __init__(self, campaigns: CampaignBook) -> None:
        self.campaigns = campaigns
        self._variants: dict[tuple, Campaign] = {}

    def __call__(
        self, state: PolicyState | None, item: tuple[str, dict[str, Any]]
    ) -> tuple[PolicyState | None, list[Output]]:
        kind, payload = item
        catalog = self.campaigns.current()
        campaign = catalog.campaigns.get(payload["campaign"])
        if campaign is not None and payload.get("variants"):
            campaign = self._as_variant(catalog, campaign, payload["variants"])
        if campaign is None:
            if kind == "reward":
                return state, []  # a deleted campaign learns nothing more
            channel = payload["channels"][0]
            return state, [("decision", no_offer(payload, channel, "campaign_deleted"))]
        if (
            state is None
            or state.kind != campaign.policy
            or state.half_life_ms != campaign.drift.half_life_ms
        ):
            state = PolicyState(campaign)
        if kind == "candidate":
            return state, [("decision", state.decide(campaign, payload))]
        if payload.get("shown"):
            state.assume_miss(payload)
            return state, []
        modelled = campaign.response_model == "auto"
        out: list[Output] = [("drift", d) for d in state.learn(payload, campaign.drift, modelled)]
        key = f"{campaign.id}|{payload['segment']}"
        doc = {**state.document(payload["segment"]), "updated_ms": int(time.time() * 1000)}
        out.append(("policy", (key, doc)))
        if payload["reward"] > 0 and campaign.reward in ("conversion", "revenue"):
            out.append(("conversion", campaign.id))
        return state, out

    def _as_variant(self, catalog: Catalog, campaign: Campaign, variants: list) -> Campaign:
        """``campaign`` with each still-defined experiment variant applied, cached per
        campaign and experiment version."""
        found = []
        for experiment_id, variant_id in variants:
            experiment = catalog.experiments.get(experiment_id)
            variant = experiment.variant(variant_id) if experiment else None
            if experiment is not None and variant is not None:
                found.append((experiment, variant))
        key = (campaign.id, campaign.version, *((e.version, v.id) for e, v in found))
        cached = self._variants.get(key)
        if cached is None:
            if len(self._variants) > 1024:
                self._variants.clear()
            cached = campaign
            for experiment, variant in found:
                cached = apply_variant(cached, experiment, variant)
            self._variants[key] = cached
        return cached
