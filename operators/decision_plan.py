"""A decision request screened and enrolled: the part of deciding that the user step and the
personalization API share, so both apply one set of rules.

In order: :func:`~operators.eligibility.screen` (schedule, targeting, rule, consent,
unsubscribe, quiet hours, caps on ``contacts``), then the context features and experiment
covariates, then :func:`~operators.user_experiments.enroll` (experiments and the global
holdout). The result is either a "no offer" decision (with the holdout key when a holdout
answered: its user is exposed to it) or a candidate for the policy.

Examples
--------

>>> from state.campaign_file import parse_campaigns
>>> from state.contacts import ContactLedger
>>> catalog = parse_campaigns('''
... [[campaign]]
... id = "promo"
... channels = ["web"]
... [[campaign.offer]]
... id = "a"
... ''')
>>> consent = {"marketing": [True, 0, "consent:e1"]}
>>> fields = {"trigger": "request", "request_event_id": "e1"}
>>> found = plan(catalog, "u1", "d_1", fields, {}, ("vip",), consent, ContactLedger(),
...              "web", ts=0, context_label="7d")
>>> found.candidate.offers, found.candidate.policy_segment, found.candidate.request["campaign"]
(('a',), 'vip', 'promo')
>>> plan(catalog, "u1", "d_1", fields, {}, (), {}, ContactLedger(), "web", 0, "7d").decision[
...     "reason"]
'promo:no_consent:marketing'

"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from operators.eligibility import context_features, screen
from operators.user_experiments import Enrollment, covariates, enroll
from state.campaigns import Campaign, Catalog
from state.contacts import ContactLedger
from state.experiments import HOLDOUT_ID
from state.policy import no_offer

#: The channel a "no offer" names when the request named none.
ANY_CHANNEL = "any"


@dataclass(frozen=True)
class Candidate:
    """A screened request: the campaign, the channels open after enrollment, the screen's
    offers, the request fields of the decision record, and what the ledger keeps for the
    reward (context, covariates, enrollment, policy segment)."""

    campaign: Campaign
    channels: tuple[str, ...]
    offers: tuple[str, ...]
    request: dict[str, Any]
    context: dict[str, float]
    covariates: tuple[float, ...]
    enrolled: Enrollment
    policy_segment: str


@dataclass(frozen=True)
class Plan:
    """Either a candidate for the policy, or the final "no offer" ``decision`` (with the
    experiment ``withheld`` key and the ``covariates`` when a holdout answered)."""

    candidate: Candidate | None = None
    decision: dict[str, Any] | None = None
    withheld: str | None = None
    covariates: tuple[float, ...] = field(default=())


def plan(
    catalog: Catalog,
    user: str,
    did: str,
    fields: Mapping[str, Any],
    features: Mapping[str, Any],
    segments: tuple[str, ...],
    consent: Mapping[str, list[Any]],
    contacts: ContactLedger | Any,
    channel: str | None,
    ts: int,
    context_label: str,
    only: str | None = None,
) -> Plan:
    """Screen and enroll decision ``did`` of ``user`` (pseudonym) on ``channel`` at ``ts``;
    ``fields`` are the record's trigger fields, ``contacts`` anything that counts contacts
    as :meth:`~state.contacts.ContactLedger.count` does."""
    segment = segments[0] if segments else None
    request = {"decision_id": did, "user": user, "ts": ts, "segment": segment, **fields}
    found = screen(catalog, features, segments, consent, contacts, channel, ts, only)
    if not found.campaign:
        return Plan(decision=no_offer(request, channel or ANY_CHANNEL, found.reason))
    campaign = catalog.campaigns[found.campaign]
    context = context_features(features, context_label)
    x = covariates(features, context)
    enrolled = enroll(catalog, user, campaign.id, segments, found.channels, ts)
    request.update(campaign=campaign.id, **enrolled.record_fields())
    if enrolled.withheld is not None:
        experiment, variant = enrolled.withheld
        request.update(experiment_id=experiment.id, variant=variant.id)
        reason = "global_holdout" if experiment.id == HOLDOUT_ID else "experiment_holdout"
        decision = no_offer(request, enrolled.channels[0], reason)
        return Plan(decision=decision, withheld=f"{experiment.id}|{variant.id}", covariates=x)
    policy_segment = (segment or "none") if campaign.per_segment else "all"
    return Plan(
        Candidate(
            campaign, enrolled.channels, found.offers, request, context, x, enrolled,
            policy_segment + enrolled.policy_suffix,
        )
    )  # fmt: skip
