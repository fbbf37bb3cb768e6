"""Decisions made outside the flow, by the personalization API, with the flow's own rules.

The API holds no state: it reads the user's profile document and cap slots from Redis, and the
(campaign, segment)'s policy document, and decides with the same functions the user step and
the policy step use: :func:`~operators.decision_plan.plan` (screening: schedule, targeting,
rule, consent, unsubscribe, quiet hours, caps; experiments and the global holdout), the
experiment variants applied to the campaign, and Thompson sampling on the published posteriors
with its propensity (:func:`models.thompson.choose`). What it cannot do exactly it marks as a
fallback: posteriors older than the bound, or a policy kind whose state is not published (UCB,
LinUCB, epsilon-greedy), get a uniform choice among the eligible offers, logged with its exact
propensity ``1/k``, so offline evaluation stays valid.

Examples
--------

>>> from state.campaign_file import parse_campaigns
>>> catalog = parse_campaigns('''
... [[campaign]]
... id = "promo"
... channels = ["web"]
... [[campaign.offer]]
... id = "a"
... [[campaign.offer]]
... id = "b"
... ''')
>>> seen = Seen.read(b'{"features": {}, "segments": ["vip"], "consent": '
...                  b'{"marketing": {"granted": true, "ts": 1, "source": "s"}}}', {})
>>> found = screened(catalog, "u1", seen, "web", ts=10, source="req-1", context_label="7d")
>>> found.candidate.offers, found.candidate.policy_segment
(('a', 'b'), 'vip')
>>> arms = {"a": {"alpha": 90.0, "beta": 10.0}, "b": {"alpha": 1.0, "beta": 50.0}}
>>> d, why = choose(found.candidate, {"policy": "thompson", "arms": arms, "updated_ms": 5},
...                 now_ms=10, max_age_ms=60_000)
>>> d["offer_id"], d["propensity"], d["trigger"], why
('a', 1.0, 'api', None)
>>> screened(catalog, "u1", Seen.read(None, {}), "web", 10, "r", "7d").decision["reason"]
'promo:no_consent:marketing'

"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, replace
from typing import Any

import orjson

from models import thompson
from operators.decision_plan import Candidate, Plan, plan
from operators.eligibility import API_DECISION, decision_id
from operators.slots import SlotView
from state.campaigns import Catalog
from state.experiments import apply_variant
from state.policy import no_offer, seed_of


@dataclass(frozen=True)
class Seen:
    """What the API knows of a user: the profile document's features, segments and consent
    (in the ledger's ``[granted, ts, source]`` form), and their contacts in the cap slots."""

    features: dict[str, Any]
    segments: tuple[str, ...]
    consent: dict[str, list[Any]]
    contacts: SlotView

    @classmethod
    def read(cls, profile: bytes | None, slots: dict[bytes, bytes]) -> Seen:
        """From the raw Redis values (a missing profile is a user seen for the first time)."""
        doc = orjson.loads(profile) if profile else {}
        consent = {
            k: [v.get("granted"), v.get("ts"), v.get("source")]
            for k, v in (doc.get("consent") or {}).items()
        }
        return cls(
            doc.get("features") or {}, tuple(doc.get("segments") or ()), consent, SlotView(slots)
        )


def screened(
    catalog: Catalog,
    user: str,
    seen: Seen,
    channel: str | None,
    ts: int,
    source: str,
    context_label: str,
    only: str | None = None,
) -> Plan:
    """Screen a request from ``user`` (pseudonym) on ``channel`` at ``ts`` as the user step
    does (:func:`~operators.decision_plan.plan`), with the campaign's experiment variants
    applied and its offers on the open channels, as the policy step sees them; ``source``
    makes the decision id (the caller's request id)."""
    did = decision_id(user, f"api|{source}|{channel or '*'}", API_DECISION)
    fields = {"trigger": "api", "request_event_id": source}
    found = plan(
        catalog, user, did, fields, seen.features, seen.segments, seen.consent, seen.contacts,
        channel, ts, context_label, only,
    )  # fmt: skip
    candidate = found.candidate
    if candidate is None:
        return found
    campaign = candidate.campaign
    for experiment_id, variant_id in candidate.enrolled.variants:
        experiment = catalog.experiments[experiment_id]
        campaign = apply_variant(campaign, experiment, experiment.variant(variant_id))
    offers = tuple(o.id for o in campaign.offers if set(o.channels) & set(candidate.channels))
    return replace(found, candidate=replace(candidate, campaign=campaign, offers=offers))


def choose(
    candidate: Candidate, doc: dict[str, Any] | None, now_ms: int, max_age_ms: int
) -> tuple[dict[str, Any], str | None]:
    """The decision record for ``candidate`` from the policy document ``doc`` (``None``:
    nothing learned yet, so every arm has its prior), and the fallback taken, if any."""
    campaign, request = candidate.campaign, candidate.request
    offers = [o for o in candidate.offers if campaign.offer(o) is not None]
    record = {
        **no_offer(request, candidate.channels[0], None),
        "expires_at": request["ts"] + campaign.ttl_ms,
        "campaign_id": campaign.id,
        "policy": campaign.policy,
    }
    if not offers:
        return {**record, "reason": "offer_removed"}, None
    seed = seed_of(request["decision_id"])
    fallback = None
    if campaign.policy not in ("thompson", "random"):
        fallback = "policy_not_served"
    elif doc is not None and now_ms - int(doc.get("updated_ms", 0)) > max_age_ms:
        fallback = "stale_posteriors"
    if campaign.policy == "thompson" and fallback is None:
        arms = (doc or {}).get("arms", {})
        prior = {"alpha": 1.0, "beta": 1.0}
        posteriors = tuple(
            (arms.get(o, prior)["alpha"], arms.get(o, prior)["beta"]) for o in offers
        )
        index = thompson.draw(posteriors, seed)
        offer_id, propensity = offers[index], _win_probability(posteriors, index)
    else:
        offer_id, propensity = random.Random(seed).choice(offers), 1.0 / len(offers)
    offer = campaign.offer(offer_id)
    assert offer is not None
    channel = next(c for c in candidate.channels if c in offer.channels)
    updates = (doc or {}).get("rewards", 0)
    return {
        **record,
        "channel": channel,
        "offer_id": offer_id,
        "payload": offer.content(channel),
        "policy": "random" if fallback else campaign.policy,
        "propensity": round(propensity, 6),
        "model_version": f"{campaign.id}@{campaign.version}:{updates}",
    }, fallback


# The API decides from a published copy of the posteriors, which changes at the flow's pace,
# not per decision: the same propensity integral is asked for again and again.
@functools.lru_cache(maxsize=4096)
def _win_probability(posteriors: tuple[tuple[float, float], ...], arm: int) -> float:
    return thompson.win_probability(posteriors, arm)


def recorded(record: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """The ``recorded`` internal message's payload: what the user's ledger keeps of an API
    decision (:meth:`operators.user_decisions.Decisioning.on_recorded`)."""
    candidate = plan.candidate
    payload = {
        "decision_id": record["decision_id"],
        "campaign": record["campaign_id"],
        "ts": record["ts"],
        "record": record,
        "withheld": plan.withheld,
        "covariates": list(candidate.covariates if candidate else plan.covariates),
    }
    if candidate is not None:
        payload.update(
            channel=record["channel"],
            offer=record["offer_id"],
            segment=candidate.policy_segment,
            context=candidate.context,
            experiments=list(candidate.enrolled.keys),
        )
    return payload
