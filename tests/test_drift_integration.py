"""Drift detection through the real broker and Redis: an offer that every user clicked and
then nobody clicks is detected by the flow, reported on the drift topic and in the policy's
Redis document, and its posterior is reset as the campaign asks."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from offerflow.kafka_io import produce, read_to_end
from tests.conftest import Run, tailing_flow, wait_for
from tests.test_api_decide_integration import event, profiles_ready
from tests.test_profile_integration import pseudonym

pytestmark = pytest.mark.integration

USERS = 240


def test_a_reward_drift_is_detected_published_and_answered(tmp_path: Path) -> None:
    import redis

    file = tmp_path / "campaigns.toml"
    file.write_text("""
[[campaign]]
id = "watch"
channels = ["web"]
per_segment = false
reward = "click"
reward_window = "15s"
drift = { detector = "adwin", response = "reset" }
[[campaign.offer]]
id = "only"
""")
    run = Run(OFFERFLOW_TAIL="true", OFFERFLOW_CAMPAIGNS_FILE=str(file))
    client = redis.Redis.from_url(run.settings.redis_url)
    users = [f"w{i}" for i in range(USERS)]
    now = int(time.time() * 1000)
    consents = [event(u, f"{u}-ok", "consent", now, consent={"marketing": True}) for u in users]
    requests = [event(u, f"{u}-req", "decision_request", now + 1, channel="web") for u in users]
    try:
        with tailing_flow(run) as flow:
            produce(run.settings, run.settings.topic("events"), consents)
            wait_for(lambda: profiles_ready(run, users), 60)
            produce(run.settings, run.settings.topic("events"), requests)
            decided: dict[str, dict] = {}

            def all_decided() -> bool:
                for m in read_to_end(run.settings, run.settings.topic("decisions"), 5):
                    record = orjson.loads(m.value())
                    decided[record["decision_id"]] = record
                return len(decided) == USERS

            wait_for(all_decided, 60)
            assert all(d["offer_id"] == "only" for d in decided.values())
            # Every offer is shown; the first half is clicked at once (reward 1, learned now),
            # the second half never (reward 0, learned when the 15 s windows close): the
            # offer's reward rate falls from 1 to 0 in the middle of its stream.
            raw = {pseudonym(u): u for u in users}
            shown = sorted(decided.values(), key=lambda d: d["user_id"])
            feedback = [
                event(raw[d["user_id"]], f"{raw[d['user_id']]}-{kind}", kind, now + 2,
                      decision_id=d["decision_id"], campaign_id="watch", channel="web")
                for i, d in enumerate(shown)
                for kind in ("offer_impression", "offer_click")[: 2 if i < USERS // 2 else 1]
            ]  # fmt: skip
            produce(run.settings, run.settings.topic("events"), feedback)
            key = run.settings.redis_key("policy", "watch", "all")

            def policy() -> dict:
                raw = client.get(key)
                return orjson.loads(raw) if raw else {}

            wait_for(lambda: policy().get("rewards", 0) == USERS, 90)
            doc = policy()
            drifts = [
                orjson.loads(m.value())
                for m in read_to_end(run.settings, run.settings.topic("drift"), 5)
            ]
            assert flow.poll() is None
    finally:
        run.cleanup()
    (found,) = [d for d in drifts if d["stream"] == "reward"]
    assert found["campaign_id"] == "watch" and found["offer_id"] == "only"
    # Every delivered decision counted as a provisional miss until its reward landed, so the
    # mean before the reset was the click share of everything shown (1/2), not the 1 that
    # clicks, landing first, would have shown on their own.
    assert found["response"] == "reset" and 0.45 < found["mean_before"] < 0.55
    assert found["recent_mean"] < 0.5 and USERS // 2 < found["rewards"] < USERS
    # the Redis document keeps the detection, and the reset posterior learned only what
    # came after it: zeros (the response model's log loss jumped too: reported only)
    kept = {(d["stream"], d["offer_id"], d["response"]) for d in doc["drifts"]}
    assert ("reward", "only", "reset") in kept and kept <= {
        ("reward", "only", "reset"),
        ("log_loss", None, "report"),
    }
    arm = doc["arms"]["only"]
    assert arm["alpha"] == 1.0 and arm["beta"] == 1.0 + USERS - found["rewards"]
