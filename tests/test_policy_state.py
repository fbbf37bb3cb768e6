"""A policy state learns from the rewards the join hands it: after offer ``a`` always paid and
``b`` never did, Thompson sampling picks ``a`` almost every time."""

from __future__ import annotations

from state.campaign_file import parse_campaigns
from state.policy import PolicyState

CAMPAIGN = parse_campaigns(
    '[[campaign]]\nid = "promo"\nchannels = ["email"]\n'
    '[[campaign.offer]]\nid = "a"\n[[campaign.offer]]\nid = "b"\n'
).campaigns["promo"]


def _request(n: int) -> dict:
    return {"decision_id": f"d_{n:024x}", "user": "u", "ts": 0, "trigger": "request",
            "channels": ["email"], "offers": ["a", "b"], "segment": "new",
            "context": {"bias": 1.0}, "request_event_id": f"e{n}"}  # fmt: skip


def test_learned_rewards_steer_the_choice() -> None:
    state = PolicyState(CAMPAIGN)
    before = [state.decide(CAMPAIGN, _request(n))["offer_id"] for n in range(200)]
    assert 0.3 < before.count("a") / 200 < 0.7  # no preference yet
    for n in range(100):
        for offer, value in (("a", 1.0), ("b", 0.0)):
            state.learn({"decision_id": f"d_{n:024x}", "offer": offer, "reward": value,
                         "context": {"bias": 1.0}, "channel": "email"})  # fmt: skip
    after = [state.decide(CAMPAIGN, _request(1000 + n))["offer_id"] for n in range(200)]
    assert after.count("a") / 200 > 0.95
    assert state.rewards == 200 and state.reward_sum == 100.0
