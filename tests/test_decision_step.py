"""Decisions in the user-keyed step, the policy step and the budget gate, wired by hand (no
broker): requests, caps held across racing requests, the reward join with its default reward,
late and unknown feedback, behavioural triggers on timers, and snapshots."""

from __future__ import annotations

from dataclasses import replace

from operators.budget_gate import BudgetGate
from operators.campaign_book import CampaignBook
from operators.feedback import Feedback
from operators.policy_step import PolicyStep
from operators.profile_step import ProfileLogic
from operators.user_decisions import Decisioning
from schemas.event import EventType
from schemas.rejection import Reason
from tests.test_profile_step import Clock, ev, step

T0 = 1_800_000_000_000
CAMPAIGNS = """
[[campaign]]
id = "promo"
channels = ["web", "email"]
reward = "click"
reward_window = "1h"
caps = [{ channel = "web", max = 2, window = "1d" }]
budget = { max_sends = 3 }
[[campaign.offer]]
id = "a"
[[campaign.offer]]
id = "b"

[[campaign]]
id = "cart"
priority = -1
channels = ["email"]
reward = "revenue"
combine = "sum"
reward_cap = 100.0
reward_window = "1d"
rule = ["count.add_to_cart >= 1"]
trigger = [{ type = "cart_abandoned", after = "30m", channel = "email" }]
[[campaign.offer]]
id = "reminder"
"""


class Harness:
    """One user's ProfileLogic plus the policy step and budget gate, looping ``decided`` and
    ``released`` messages back like the internal topic does."""

    def __init__(self, campaigns: str = CAMPAIGNS) -> None:
        self.clock = Clock()
        self.clock.now = T0 / 1000
        self.book = CampaignBook(text=campaigns)
        cfg = replace(step(self.clock), decisioning=Decisioning(self.book, "1d"))
        self.logic = ProfileLogic(cfg, None)
        self.policy = PolicyStep(self.book)
        self.budget = BudgetGate(self.book)
        self.policy_state: dict[str, object] = {}
        self.budget_state: dict[str, object] = {}
        self.decisions: list[dict] = []
        self.rewards: list[dict] = []
        self.shown: list[dict] = []  # delivered decisions' provisional misses
        self.dead: list = []
        self.experiment: list[tuple[str, list[float], int]] = []
        self.funnel: list[tuple[str, dict]] = []
        self.hold = False  # keep decided/released messages back, as a slow internal topic would
        self.held: list[Feedback] = []

    def send(self, eid: str, kind: EventType, ts: int = T0, **kw: object) -> None:
        out, _ = self.logic.on_item(ev(eid, kind, ts, **kw))
        self._route(out)

    def tick(self, now_ms: int) -> None:
        self.clock.now = now_ms / 1000
        out, _ = self.logic.on_notify()
        self._route(out)

    def _route(self, out: list) -> None:
        for tag, payload in out:
            if tag == "decision":
                self.decisions.append(payload)
            elif tag == "dead":
                self.dead.append(payload)
            elif tag == "experiment":
                self.experiment.append(payload)
            elif tag == "funnel":
                self.funnel.append(payload)
            elif tag in ("candidate", "reward"):
                key, item = payload
                if tag == "reward":
                    (self.shown if item.get("shown") else self.rewards).append(item)
                state, results = self.policy(self.policy_state.get(key), (tag, item))
                self.policy_state[key] = state
                for kind, result in results:
                    if kind in ("decision", "conversion"):
                        self._gate(kind, result)

    def _gate(self, kind: str, payload) -> None:
        campaign = payload if kind == "conversion" else payload["campaign_id"]
        state, results = self.budget(self.budget_state.get(campaign), (kind, payload))
        self.budget_state[campaign] = state
        for tag, result in results:
            if tag == "final":
                self.decisions.append(result)
            elif tag == "internal":
                assert isinstance(result, Feedback)
                if self.hold:
                    self.held.append(result)
                else:
                    self._route(self.logic.on_item(result)[0])

    def deliver_held(self) -> None:
        held, self.held, self.hold = self.held, [], False
        for msg in held:
            self._route(self.logic.on_item(msg)[0])


def consented() -> Harness:
    h = Harness()
    h.send("c1", EventType.CONSENT, consent={"marketing": True})
    return h


def test_request_decision_feedback_and_reward() -> None:
    h = consented()
    h.send("r1", EventType.DECISION_REQUEST, channel="web")
    (decision,) = h.decisions
    assert decision["offer_id"] in ("a", "b") and decision["campaign_id"] == "promo"
    assert decision["request_event_id"] == "r1" and 0 < decision["propensity"] <= 1
    did = decision["decision_id"]
    h.send("i1", EventType.OFFER_IMPRESSION, T0 + 10, channel="web", decision_id=did)
    assert h.rewards == []
    # Delivered: the policy counts a provisional miss, once, which the click replaces.
    key = f"promo|{decision['segment']}"
    assert [(s["decision_id"], s["offer"]) for s in h.shown] == [(did, decision["offer_id"])]
    assert h.policy_state[key].bandit.assumed == {decision["offer_id"]: 1}
    h.send("i2", EventType.OFFER_IMPRESSION, T0 + 15, channel="web", decision_id=did)
    assert len(h.shown) == 1
    h.send("k1", EventType.OFFER_CLICK, T0 + 20, channel="web", decision_id=did)
    assert [(r["decision_id"], r["reward"], r["offer"], r["provisional"]) for r in h.rewards] == [
        (did, 1.0, decision["offer_id"], True)
    ]
    assert h.policy_state[key].bandit.assumed == {decision["offer_id"]: 0}
    assert h.policy_state[key].bandit.posterior(decision["offer_id"]) == (2.0, 1.0)
    h.send("k2", EventType.OFFER_CLICK, T0 + 30, channel="web", decision_id=did)
    assert h.dead == []  # the reward was final already: a second click is not needed
    h.send("k4", EventType.OFFER_CLICK, T0 + 3_600_001, channel="web", decision_id=did)
    assert [d.reason for d in h.dead] == [Reason.LATE_FEEDBACK]
    h.send("k3", EventType.OFFER_CLICK, T0 + 30, channel="web", decision_id="d_nope")
    assert [d.reason for d in h.dead][-1] == Reason.UNKNOWN_DECISION


def test_a_replayed_request_is_not_decided_twice() -> None:
    h = consented()
    h.send("r1", EventType.DECISION_REQUEST, channel="web")
    del h.logic.profile.recent[:]  # forget the redelivery window: the ledger must catch it
    h.send("r1", EventType.DECISION_REQUEST, channel="web")
    assert len(h.decisions) == 1


def test_silence_closes_the_window_with_reward_zero_and_undelivered_teaches_nothing() -> None:
    h = consented()
    h.send("r1", EventType.DECISION_REQUEST, channel="web")
    h.send("r2", EventType.DECISION_REQUEST, channel="email")
    delivered = h.decisions[0]["decision_id"]
    h.send("i1", EventType.OFFER_IMPRESSION, T0 + 5, channel="web", decision_id=delivered)
    assert h.logic.notify_at().timestamp() * 1000 == T0 + 3_600_000
    h.tick(T0 + 3_600_000)
    assert [(r["decision_id"], r["reward"]) for r in h.rewards] == [(delivered, 0.0)]


def test_caps_and_budget_and_the_released_slot() -> None:
    h = consented()
    for i in range(4):
        h.send(f"r{i}", EventType.DECISION_REQUEST, T0 + i, channel="web")
    reasons = [d["reason"] for d in h.decisions]
    assert reasons[:2] == [None, None] and reasons[2:] == ["promo:frequency_cap,cart:rule"] * 2
    h.send("e1", EventType.DECISION_REQUEST, T0 + 10, channel="email")
    h.send("e2", EventType.DECISION_REQUEST, T0 + 11, channel="email")
    assert [d["reason"] for d in h.decisions[4:]] == [None, "budget_exhausted:max_sends"]
    assert h.budget_state["promo"]["sends"] == 3
    # the budget-refused decision released its slot: the ledger holds only the three sends
    assert h.logic.ledger.count(("*",), 0) == 3


def test_cart_abandoned_trigger_fires_on_its_timer_once_and_revenue_rewards_sum() -> None:
    h = consented()
    h.send("cart", EventType.ADD_TO_CART, T0, properties={"category": "shoes"})
    assert h.logic.notify_at().timestamp() * 1000 == T0 + 1_800_000
    h.tick(T0 + 1_800_000)
    (decision,) = h.decisions
    assert (decision["trigger"], decision["campaign_id"], decision["channel"]) == (
        "cart_abandoned",
        "cart",
        "email",
    )
    assert decision["ts"] == T0 + 1_800_000
    h.tick(T0 + 1_900_000)
    assert len(h.decisions) == 1  # fired once for this cart
    did = decision["decision_id"]
    h.send("d1", EventType.MESSAGE_DELIVERED, T0 + 1_800_100, channel="email", decision_id=did)
    h.send("p1", EventType.PURCHASE, T0 + 1_900_000, properties={"value": 30.0})
    h.send("p2", EventType.PURCHASE, T0 + 2_000_000, properties={"value": 50.0})
    h.tick(T0 + 1_800_000 + 86_400_000)
    (reward,) = h.rewards
    assert reward["reward"] == 0.8 and reward["revenue"] == 80.0
    # A summed revenue is only known when the window ends: no provisional miss meanwhile.
    assert h.shown == [] and reward["provisional"] is False


def test_no_consent_is_an_explicit_no_offer_and_snapshots_keep_the_ledger() -> None:
    h = Harness()
    h.send("r0", EventType.DECISION_REQUEST, channel="web")
    assert h.decisions[0]["offer_id"] is None
    assert h.decisions[0]["reason"] == "promo:no_consent:marketing,cart:rule"
    h = consented()
    h.send("r1", EventType.DECISION_REQUEST, channel="web")
    restored = ProfileLogic(h.logic.cfg, h.logic.snapshot())
    assert restored.ledger.to_state() == h.logic.ledger.to_state()
    assert restored.profile.to_bytes() == h.logic.profile.to_bytes()


def test_feedback_that_overtakes_the_decided_message_is_kept_and_rewarded() -> None:
    h = consented()
    h.hold = True
    h.send("r1", EventType.DECISION_REQUEST, channel="web")
    did = h.decisions[0]["decision_id"]
    h.send("i1", EventType.OFFER_IMPRESSION, T0 + 10, channel="web", decision_id=did)
    h.send("k1", EventType.OFFER_CLICK, T0 + 20, channel="web", decision_id=did)
    assert h.dead == [] and h.rewards == []  # not yet confirmed: recorded, not closed
    h.deliver_held()
    assert [(r["decision_id"], r["reward"], r["channel"]) for r in h.rewards] == [(did, 1.0, "web")]
