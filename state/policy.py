"""One (campaign, segment)'s learning state: the bandit over its offers and the response
model, the drift watch on their reward streams, and the decision it makes for a screened
request.

Keyed by ``"<campaign>|<segment>"`` (``"<campaign>|*"`` when the campaign is not
per-segment), so a campaign's traffic spreads over as many keys as it has segments.

Every learned reward also goes to the campaign's drift detector (``campaign.drift``,
:mod:`state.drift_config`): one stream per offer's rewards and one of the response model's
log loss (scored before it learns). :meth:`PolicyState.learn` returns what was detected, as
drift records (``schemas/drift.avsc``), after applying the campaign's response to the
bandit; the last detections also stay in :meth:`PolicyState.document` for the dashboard.

Examples
--------

>>> from state.campaign_file import parse_campaigns
>>> campaign = parse_campaigns('''
... [[campaign]]
... id = "promo"
... channels = ["email", "web"]
... [[campaign.offer]]
... id = "a"
... payload = { email = { subject = "Hi" } }
... [[campaign.offer]]
... id = "b"
... ''').campaigns["promo"]
>>> state = PolicyState(campaign)
>>> request = {"decision_id": "d_1", "user": "u", "ts": 0, "trigger": "request",
...            "channels": ["email"], "offers": ["a", "b"], "segment": "new",
...            "context": {"bias": 1.0}, "request_event_id": "e1"}
>>> d = state.decide(campaign, request)
>>> d["offer_id"] in ("a", "b"), d["policy"], d["model_version"], 0 < d["propensity"] <= 1
(True, 'thompson', 'promo@...:0', True)
>>> state.decide(campaign, request) == d  # a replay gives the same record
True

"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from models.bandits import Bandit
from models.drift_watch import DriftWatch
from models.response_model import ResponseModel
from state.campaigns import Campaign
from state.drift_config import DriftConfig

#: Policies whose ties go to the response model's favourite (the only place its ranking
#: changes a choice; Thompson sampling never ties, random ignores order).
TIE_BREAKING = ("ucb", "epsilon_greedy", "linucb")
#: Detections a policy document keeps (newest last).
KEPT_DETECTIONS = 20


class PolicyState:
    """Bandit and response model of one campaign and segment.

    Parameters
    ----------
    campaign
        The campaign (its policy kind and parameters); a changed policy kind starts afresh.

    """

    def __init__(self, campaign: Campaign) -> None:
        self.campaign_id = campaign.id
        self.kind = campaign.policy
        self.half_life_ms = campaign.drift.half_life_ms
        self.bandit = Bandit(
            campaign.policy, campaign.policy_params, half_life_ms=self.half_life_ms
        )
        self.model = ResponseModel()
        self.watch: DriftWatch | None = None
        self.detections: list[dict[str, Any]] = []
        self.decisions = 0
        self.rewards = 0
        self.reward_sum = 0.0
        self.revenue = 0.0

    def decide(self, campaign: Campaign, request: dict[str, Any]) -> dict[str, Any]:
        """The decision record for a screened request (``offer_id`` ``None`` if none of the
        request's offers is still in the campaign)."""
        context = request["context"]
        channels = request["channels"]
        offers = [o for o in request["offers"] if o in campaign.offer_ids]
        record = _record(request, campaign, self.kind)
        if not offers:
            return {**record, "reason": "offer_removed"}
        seed = seed_of(request["decision_id"])
        modelled = campaign.response_model == "auto"
        if modelled and self.kind in TIE_BREAKING:
            offers = self.model.rank(context, offers, channels[0])
        offer_id, propensity = self.bandit.choose(offers, context, seed, now=int(request["ts"]))
        offer = campaign.offer(offer_id)
        assert offer is not None
        usable = [c for c in channels if c in offer.channels]
        channel = (
            self.model.best_channel(context, offer_id, usable)
            if modelled and len(usable) > 1
            else usable[0]
        )
        self.decisions += 1
        return {
            **record,
            "channel": channel,
            "offer_id": offer_id,
            "payload": offer.content(channel),
            "propensity": round(propensity, 6),
            "model_version": f"{campaign.id}@{campaign.version}:{self.bandit.updates}",
        }

    def assume_miss(self, shown: dict[str, Any]) -> None:
        """A delivered decision's window is open: the bandit counts a miss for its offer
        until :meth:`learn` gets its reward (marked ``provisional``) and replaces it."""
        self.bandit.assume_miss(shown["offer"], shown["context"], now=int(shown["ts"]))

    def learn(
        self, reward: dict[str, Any], drift: DriftConfig | None = None, modelled: bool = True
    ) -> list[dict[str, Any]]:
        """Fold a closed reward window into the bandit and (``modelled``) the response
        model; returns the drift records of what ``drift`` (the campaign's current setting)
        detected."""
        value = float(reward["reward"])
        offer, channel, context = reward["offer"], reward["channel"], reward["context"]
        ts = int(reward.get("ts") or self.bandit.clock)  # the decision's event time
        drift = drift or DriftConfig()
        watching = modelled and drift.detector != "none" and self.model.samples
        predicted = self.model.predict(context, offer, channel) if watching else None
        seed = seed_of(reward["decision_id"])
        provisional = bool(reward.get("provisional"))
        self.bandit.update(offer, value, context, seed, now=ts, provisional=provisional)
        if modelled:
            self.model.learn(context, offer, channel, value > 0)
        self.rewards += 1
        self.reward_sum += value
        self.revenue += float(reward.get("revenue") or 0.0)
        if drift.detector == "none":
            return []
        if self.watch is None or self.watch.detector != drift.detector:
            self.watch = DriftWatch(drift.detector, {"delta": drift.delta})
        found = []
        where = (reward.get("segment"), ts)
        if self.watch.update(f"reward:{offer}", value):
            found.append(self._respond(drift, where, offer))
        if predicted is not None and self.watch.update("log_loss", _log_loss(predicted, value)):
            found.append(self._detected(drift, where, "log_loss", None, "report", None))
        return found

    def _respond(self, drift: DriftConfig, where: tuple, offer: str) -> dict[str, Any]:
        """Apply ``drift.response`` to ``offer``'s change and describe it."""
        before = round(self.bandit.means().get(offer, 0.0), 6)
        record = self._detected(drift, where, "reward", offer, drift.response, before)
        if drift.response == "reset":
            self.bandit.forget(offer)
        elif drift.response == "shrink":
            self.bandit.forget(offer, keep=drift.keep)
        return record

    def _detected(
        self,
        drift: DriftConfig,
        where: tuple[str | None, int],
        stream: str,
        offer: str | None,
        response: str,
        mean_before: float | None,
    ) -> dict[str, Any]:
        """The drift record (``where``: the reward's segment and event time), kept among
        the last detections."""
        assert self.watch is not None
        name = f"reward:{offer}" if offer is not None else stream
        segment, ts = where
        record = {
            "campaign_id": self.campaign_id,
            "segment": segment,
            "stream": stream,
            "offer_id": offer,
            "ts": ts,
            "detector": drift.detector,
            "response": response,
            "mean_before": mean_before,
            "recent_mean": round(_estimate(self.watch, name), 6),
            "detections": self.watch.detections[name],
            "rewards": self.rewards,
        }
        self.detections = [*self.detections[-KEPT_DETECTIONS + 1 :], record]
        return record

    def document(self, segment: str) -> dict[str, Any]:
        """What Redis readers see: per-arm pulls, mean reward and Beta posterior (``alpha``,
        ``beta``: the dashboard's credible intervals), and totals."""
        pulls = self.bandit.pulls()
        arms = {}
        for arm, mean in self.bandit.means().items():
            alpha, beta = self.bandit.posterior(arm)
            arms[arm] = {
                "pulls": pulls.get(arm, 0),
                "mean": round(mean, 6),
                "alpha": round(alpha, 6),
                "beta": round(beta, 6),
            }
        return {
            "campaign": self.campaign_id,
            "segment": segment,
            "policy": self.kind,
            "decisions": self.decisions,
            "rewards": self.rewards,
            "reward_sum": self.reward_sum,
            "revenue": self.revenue,
            "arms": arms,
            "drifts": [
                {k: d[k] for k in ("ts", "stream", "offer_id", "response")} for d in self.detections
            ],
        }


def _log_loss(predicted: float, reward: float) -> float:
    """Log loss of one prediction against a reward read as responded (> 0) or not."""
    p = min(max(predicted, 1e-6), 1.0 - 1e-6)
    return -math.log(p if reward > 0 else 1.0 - p)


def _estimate(watch: DriftWatch, stream: str) -> float:
    """The detector's estimate of the stream's recent mean (ADWIN's window after the cut;
    detectors without one give NaN, reported as 0)."""
    value = getattr(watch.streams[stream], "estimation", 0.0)
    return 0.0 if value != value else float(value)


def _record(request: dict[str, Any], campaign: Campaign, policy: str) -> dict[str, Any]:
    """The fields every decision of ``campaign`` shares (schemas/decision.avsc)."""
    return {
        **no_offer(request, request["channels"][0], None),
        "expires_at": request["ts"] + campaign.ttl_ms,
        "campaign_id": campaign.id,
        "policy": policy,
    }


def no_offer(request: dict[str, Any], channel: str, reason: str | None) -> dict[str, Any]:
    """An explicit "no offer" decision record (every field of schemas/decision.avsc).

    >>> no_offer({"decision_id": "d", "user": "u", "ts": 5, "trigger": "request"}, "sms",
    ...          "promo:quiet_hours")["reason"]
    'promo:quiet_hours'
    """
    return {
        "decision_id": request["decision_id"],
        "user_id": request["user"],
        "ts": request["ts"],
        "expires_at": None,
        "request_event_id": request.get("request_event_id"),
        "trigger": request["trigger"],
        "channel": channel,
        "campaign_id": request.get("campaign"),
        "offer_id": None,
        "payload": {},
        "segment": request.get("segment"),
        "policy": None,
        "propensity": None,
        "experiment_id": request.get("experiment_id"),
        "variant": request.get("variant"),
        "model_version": None,
        "reason": reason,
    }


def seed_of(decision: str) -> int:
    """The random seed of a decision (its choices are reproducible on replay)."""
    return int.from_bytes(hashlib.blake2b(decision.encode(), digest_size=8).digest(), "big")
