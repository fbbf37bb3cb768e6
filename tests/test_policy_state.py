"""A policy state learns from the rewards the join hands it: after offer ``a`` always paid and
``b`` never did, Thompson sampling picks ``a`` almost every time."""

from __future__ import annotations

from operators.campaign_book import CampaignBook
from operators.policy_step import PolicyStep
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


def test_the_response_model_breaks_ucb_ties_and_picks_channels_unless_it_is_off() -> None:
    """Offers a and b pay equally (UCB ties), but b pays where ``x`` is 1 and on the web: the
    response model ranks b first and picks the web there; switched off, it learns nothing
    and the listed order decides."""
    text = (
        '[[campaign]]\nid = "promo"\nchannels = ["email", "web"]\npolicy = "ucb"\n{}'
        '[[campaign.offer]]\nid = "a"\n[[campaign.offer]]\nid = "b"\n'
    )
    request = {**_request(1), "campaign": "promo", "channels": ["email", "web"],
               "context": {"bias": 1.0, "x": 1.0}}  # fmt: skip
    chosen = {}
    for setting in ("auto", "off"):
        step = PolicyStep(CampaignBook(text=text.format(f'response_model = "{setting}"\n')))
        state = None
        for n in range(200):
            for offer in ("a", "b"):
                paid = n % 2 == 0
                x = float(paid) if offer == "b" else float(not paid)
                channel = "web" if offer == "b" and paid else "email"
                reward = {"decision_id": f"d{n}{offer}", "campaign": "promo", "segment": "s",
                          "offer": offer, "channel": channel, "reward": float(paid),
                          "revenue": 0.0, "context": {"bias": 1.0, "x": x}, "ts": n}  # fmt: skip
                state, _out = step(state, ("reward", reward))
        _state, out = step(state, ("candidate", request))
        (decision,) = [payload for tag, payload in out if tag == "decision"]
        chosen[setting] = (decision["offer_id"], decision["channel"], state.model.samples)
    assert chosen == {"auto": ("b", "web", 400), "off": ("a", "email", 0)}
