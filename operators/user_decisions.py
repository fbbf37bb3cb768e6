"""The user-keyed half of decisioning, called by the profile step after each event, timer and
internal message: requests and behavioural triggers become screened candidates for the
policy step (or an explicit "no offer"), and feedback becomes rewards.

Outputs (added to the profile step's): ``("candidate", (policy_key, request))`` for the
policy step, ``("decision", record)`` for a "no offer" decided here, ``("recommend",
record)`` for a recommendations-only request (to the recommendation step), ``("reward",
(policy_key, reward))`` when a reward window closes, ``("funnel", (campaign, stage))`` for
each impression, open, click or conversion of one of the user's decisions (the campaign
statistics, :mod:`state.campaign_stats`), and ``("dead", DeadLetter)`` for feedback naming
an unknown or already-closed decision.

A request is screened (:func:`operators.eligibility.screen`) against the user's consent,
segments, features and ledger; the chosen campaign reserves a cap slot on every channel the
decision may use before it leaves this step, so two requests racing through different
policy keys can never both pass a cap. With ``slots`` set, a decision that a cap or a send
budget applies to also takes its slot in Redis (:mod:`operators.slots`), where the API takes
its own: one of them refuses when the other has just used the last one. Decisions the API
made reach the ledger as ``recorded`` internal messages (:meth:`Decisioning.on_recorded`), so
their feedback joins them as if the flow had made them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from operators.campaign_book import CampaignBook
from operators.dead_letter import DeadLetter
from operators.decision_plan import ANY_CHANNEL, plan
from operators.eligibility import API_DECISION, decision_id
from operators.slots import SlotBook, Verdict
from operators.user_experiments import (
    Enrollment,
    delivered,
    exposed,
    observed,
)
from operators.user_records import letter as dead_letter
from schemas.event import Event, EventType, amount, parse_event
from schemas.rejection import Reason
from state.campaigns import Campaign, Trigger
from state.contacts import CLICK, CONVERSION, DELIVERY, Contact, ContactLedger
from state.policy import no_offer
from state.profile import Profile

Output = tuple[str, Any]
Letter = Callable[[Event, Reason, str], DeadLetter]

_FEEDBACK = {
    EventType.OFFER_IMPRESSION: DELIVERY,
    EventType.MESSAGE_DELIVERED: DELIVERY,
    EventType.OFFER_CLICK: CLICK,
    EventType.MESSAGE_OPEN: CLICK,
    EventType.PURCHASE: CONVERSION,
}
#: Funnel stage of each feedback event type, for the campaign statistics.
_STAGES = {
    EventType.OFFER_IMPRESSION: "impression",
    EventType.MESSAGE_DELIVERED: "impression",
    EventType.MESSAGE_OPEN: "open",
    EventType.OFFER_CLICK: "click",
    EventType.PURCHASE: "conversion",
}
#: How long feedback for an API decision waits for the decision's ``recorded`` message.
EARLY_WAIT_MS = 60_000
#: "No offer" reasons when Redis refuses a slot the ledger had free (the API took it).
_REFUSED = {
    Verdict.CAPPED: "{campaign}:frequency_cap",
    Verdict.BUDGET: "budget_exhausted:max_sends",
}


@dataclass(frozen=True)
class Decisioning:
    """What the user step needs to decide: the live campaigns, the context half-life,
    whether web requests may ask for product recommendations alone, and the cap and budget
    slots shared with the API (``None``: this flow alone decides)."""

    campaigns: CampaignBook
    context_label: str
    recommendations: bool = False
    slots: SlotBook | None = None

    def on_event(
        self,
        user: str,
        profile: Profile,
        ledger: ContactLedger,
        event: Event,
        features: dict[str, Any],
        letter: Letter,
    ) -> list[Output]:
        """Outputs for an event the profile has just applied."""
        out = [("reward", _routed(r)) for r in ledger.due(event.ts)]
        out += _unheard(user, ledger, event.ts)
        kind = event.type
        if kind is EventType.ADD_TO_CART:
            ledger.last_cart = max(ledger.last_cart or 0, event.ts)
        if kind is EventType.DECISION_REQUEST and self._content_only(event):
            out += _recommendations_only(user, profile, event)
        elif kind is EventType.DECISION_REQUEST:
            channel = event.channel or event.properties.get("channel")
            channel = None if channel in (None, "", "best", ANY_CHANNEL) else str(channel)
            source = f"{event.event_id}|{channel or '*'}"
            out += self._decide(
                user,
                profile,
                ledger,
                features,
                event.ts,
                channel,
                source,
                {
                    "trigger": "request",
                    "request_event_id": event.event_id,
                },
            )
        elif kind in _FEEDBACK:
            out += _feedback(ledger, event, _FEEDBACK[kind], letter)
        return out + observed(ledger.exposures, event)

    def _content_only(self, event: Event) -> bool:
        return self.recommendations and event.properties.get("content") == "recommendations"

    def on_timer(
        self, user: str, profile: Profile, ledger: ContactLedger, now_ms: int
    ) -> list[Output]:
        """Close reward windows and fire behavioural triggers that are due at ``now_ms``."""
        out: list[Output] = [("reward", _routed(r)) for r in ledger.due(now_ms)]
        out += _unheard(user, ledger, now_ms)
        features: dict[str, Any] | None = None
        for campaign, trigger, anchor in self._triggers(profile, ledger):
            fire_at = anchor + trigger.after_ms
            if fire_at > now_ms:
                continue
            ledger.fired[f"{campaign.id}:{trigger.kind}"] = anchor
            features = features if features is not None else profile.features()
            source = f"{campaign.id}|{trigger.kind}|{anchor}"
            out += self._decide(
                user, profile, ledger, features, fire_at, trigger.channel, source,
                {"trigger": trigger.kind, "request_event_id": None}, only=campaign.id,
            )  # fmt: skip
        return out

    def next_timer(self, profile: Profile, ledger: ContactLedger) -> int | None:
        """Earliest wall-clock time (ms) a reward window closes or a trigger is due."""
        times = [anchor + t.after_ms for _c, t, anchor in self._triggers(profile, ledger)]
        close = ledger.next_close()
        if close is not None:
            times.append(close)
        return min(times, default=None)

    def _triggers(self, profile: Profile, ledger: ContactLedger):
        """(campaign, trigger, anchor time) for triggers armed and not yet fired."""
        for campaign in self.campaigns.current().campaigns.values():
            for trigger in campaign.triggers:
                anchor = _anchor(trigger, profile, ledger)
                if (
                    anchor is not None
                    and ledger.fired.get(f"{campaign.id}:{trigger.kind}") != anchor
                ):
                    yield campaign, trigger, anchor

    def _decide(
        self,
        user: str,
        profile: Profile,
        ledger: ContactLedger,
        features: dict[str, Any],
        ts: int,
        channel: str | None,
        source: str,
        fields: dict[str, Any],
        only: str | None = None,
    ) -> list[Output]:
        did = decision_id(user, source)
        if ledger.known(did):
            return []  # a replay of a request already decided: the first record stands
        catalog = self.campaigns.current()
        found = plan(
            catalog, user, did, fields, features, profile.segments, profile.consent, ledger,
            channel, ts, self.context_label, only,
        )  # fmt: skip
        if found.candidate is None:
            withheld = found.withheld
            out = exposed(ledger.exposures, (withheld,), ts, found.covariates) if withheld else []
            return [*out, ("decision", found.decision)]
        c = found.candidate
        campaign = c.campaign
        if self.slots is not None:
            taken = self.slots.reserve(user, did, catalog, campaign.id, c.channels, ts)
            if taken in _REFUSED:
                reason = _REFUSED[taken].format(campaign=campaign.id)
                return [("decision", no_offer(c.request, c.channels[0], reason))]
        ledger.reserve(_contact(did, campaign, ts, c.policy_segment, c.context, c.enrolled,
                                c.covariates))  # fmt: skip
        request = {
            **c.request,
            "channels": list(c.channels),
            "offers": list(c.offers),
            "context": c.context,
            "policy_segment": c.policy_segment,
            "variants": c.enrolled.variants,
        }
        return [("candidate", (f"{campaign.id}|{c.policy_segment}", request))]

    def on_decided(
        self, user: str, ledger: ContactLedger, kind: str, payload: dict[str, Any]
    ) -> list[Output]:
        """Apply a ``decided``, ``released`` or ``recorded`` internal message to the ledger;
        a reward if feedback that overtook the ``decided`` message already made it final."""
        if kind == "recorded":
            return self.on_recorded(user, ledger, payload)
        did = str(payload["decision_id"])
        contact = ledger.open.get(did)
        if kind != "decided":
            ledger.release(did)
            if self.slots is not None and contact is not None and not contact.sent:
                self.slots.release(user, did, contact.campaign)
            return []
        channel = str(payload["channel"])
        several = contact is not None and len(contact.channels) > 1
        if ledger.confirm(did, str(payload["offer"]), channel) and several and self.slots:
            self.slots.confirm(user, did, contact.campaign, channel)
        reward = ledger.settle(did) or ledger.shown(did)
        return [("reward", _routed(reward))] if reward is not None else []

    def on_recorded(
        self, user: str, ledger: ContactLedger, payload: dict[str, Any]
    ) -> list[Output]:
        """A decision the API made: into the ledger as sent (its slots are already taken),
        so its feedback becomes a reward, an exposure and a touch (feedback that came first
        is applied now); and into the campaign's funnel. A holdout answer exposes the user
        to the holdout, as in the flow."""
        did = str(payload["decision_id"])
        campaign = self.campaigns.current().campaigns.get(str(payload["campaign"]))
        if ledger.known(did) or campaign is None:
            return []  # a replay, or a campaign deleted since: nothing to track
        ts, x = int(payload["ts"]), tuple(payload["covariates"])
        counted = ("funnel", (campaign.id, {"stage": "decision", "record": payload["record"]}))
        if payload.get("withheld"):
            return [*exposed(ledger.exposures, (str(payload["withheld"]),), ts, x), counted]
        channel = str(payload["channel"])
        contact = Contact(
            did, campaign.id, (channel,), ts, str(payload["segment"]), campaign.reward,
            campaign.combine, campaign.reward_cap, campaign.reward_window_ms,
            dict(payload["context"]), experiments=tuple(payload["experiments"]), covariates=x,
        )  # fmt: skip
        ledger.reserve(contact)
        ledger.confirm(did, str(payload["offer"]), channel)
        out = [counted]
        letter = partial(dead_letter, user)
        for record in ledger.unpark(did):
            event = parse_event(record)
            out += _feedback(ledger, event, _FEEDBACK[event.type], letter)
        return out


def _recommendations_only(user: str, profile: Profile, event: Event) -> list[Output]:
    """A request for products alone (``properties.content = "recommendations"``): no
    campaign, no offer; the recommendation step fills the record's ``products`` if the user
    consented to marketing."""
    request = {
        "decision_id": decision_id(user, f"{event.event_id}|recommendations"),
        "user": user,
        "ts": event.ts,
        "segment": profile.segments[0] if profile.segments else None,
        "trigger": "request",
        "request_event_id": event.event_id,
    }
    channel = event.channel or "web"
    granted = profile.consent.get("marketing")
    if granted is None or granted[0] is not True:
        return [("decision", no_offer(request, channel, "no_consent:marketing"))]
    return [("recommend", no_offer(request, channel, "recommendations_only"))]


def _feedback(ledger: ContactLedger, event: Event, kind: str, letter: Letter) -> list[Output]:
    did = event.decision_id
    revenue = _revenue(event)
    if did is None:
        if kind != CONVERSION:
            return []  # an impression or click we did not decide: nothing to learn
        did = ledger.latest_open(event.ts, ("conversion", "revenue"))
        if did is None:
            return []  # an organic purchase
    contact = ledger.open.get(did)
    undelivered = contact is not None and contact.delivered is None
    sent = ledger.campaign_of(did)
    status, reward = ledger.feedback(did, kind, event.ts, revenue)
    out: list[Output] = []
    if sent is not None:  # one of this user's decisions: the campaign's funnel counts it
        channel = event.channel or sent[1]
        stage = {"stage": _STAGES[event.type], "channel": channel, "ts": event.ts}
        out.append(("funnel", (sent[0], {**stage, "revenue": revenue})))
    if undelivered and status in ("open", "closed"):  # first sign of delivery: exposure
        out += delivered(ledger.exposures, contact.experiments, contact.covariates, event.ts)
    elif kind != CONVERSION and (awaited := ledger.exposures.claim(did)) is not None:
        out += delivered(ledger.exposures, *awaited, event.ts)  # its window closed before
        status = "late" if status == "unknown" else status
    if status == "closed":
        return [*out, ("reward", _routed(reward))]
    if status == "open" and (shown := ledger.shown(did)) is not None:
        out.append(("reward", _routed(shown)))
    if status in ("open", "done") or event.decision_id is None:
        return out
    if status == "late":
        late = letter(event, Reason.LATE_FEEDBACK, f"decision {did}: window closed")
        return [*out, ("dead", late)]
    if did.startswith(API_DECISION) and ledger.park(
        did, event.ts + EARLY_WAIT_MS, event.to_record()
    ):
        return out  # its decision's recorded message may still be on its way
    return [("dead", letter(event, Reason.UNKNOWN_DECISION, f"no decision {did} for this user"))]


def _unheard(user: str, ledger: ContactLedger, now_ms: int) -> list[Output]:
    """Dead letters for feedback that waited for an API decision that never came."""
    return [
        (
            "dead",
            dead_letter(
                user,
                event,
                Reason.UNKNOWN_DECISION,
                f"no decision {event.decision_id} for this user",
            ),
        )
        for event in map(parse_event, ledger.expired(now_ms))
    ]


def _contact(
    did: str,
    campaign: Campaign,
    ts: int,
    segment: str,
    context: dict[str, float],
    enrolled: Enrollment,
    covariates: tuple[float, ...],
) -> Contact:
    return Contact(
        did,
        campaign.id,
        enrolled.channels,
        ts,
        segment,
        campaign.reward,
        campaign.combine,
        campaign.reward_cap,
        campaign.reward_window_ms,
        context,
        experiments=enrolled.keys,
        covariates=covariates,
    )


def _anchor(trigger: Trigger, profile: Profile, ledger: ContactLedger) -> int | None:
    if trigger.kind == "cart_abandoned":
        cart = ledger.last_cart
        if cart is None or (profile.last_purchase is not None and profile.last_purchase >= cart):
            return None
        return cart
    return profile.last_seen  # lapsed


def _routed(reward: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    assert reward is not None
    return f"{reward['campaign']}|{reward['segment']}", reward


def _revenue(event: Event) -> float:
    return amount(event.properties.get("value"))
