"""``/v1/decide`` beside the flow: API and stream decisions for the same users at the same
moment stay within every rule, and an API decision's feedback teaches the flow."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from offerflow.kafka_io import produce, read_to_end
from operators.campaign_book import CampaignBook
from operators.pseudonymize import Pseudonymizer
from tests.conftest import KEY, Run, tailing_flow, wait_for
from tests.test_api_integration import serving

pytestmark = pytest.mark.integration

BUDGET = 20


def campaigns(path: Path) -> Path:
    """One campaign on web and push with a web cap, a file-wide cap, a send budget, quiet
    hours on push around now, and an experiment with a holdout arm."""
    now = datetime.now(UTC)
    start, end = ((now + timedelta(minutes=m)).strftime("%H:%M") for m in (-90, 90))
    path.write_text(f"""
caps = [{{ channel = "*", max = 3, window = "1d" }}]

[[campaign]]
id = "promo"
channels = ["web", "push"]
consent = ["marketing"]
reward = "click"
reward_window = "10m"
quiet_hours = {{ push = ["{start}", "{end}"] }}
caps = [{{ channel = "web", max = 2, window = "1d" }}]
budget = {{ max_sends = {BUDGET} }}
[[campaign.offer]]
id = "a"
[[campaign.offer]]
id = "b"

[[experiment]]
id = "exp"
campaign = "promo"
control = "bandit"
primary = "click"
[[experiment.variant]]
id = "bandit"
[[experiment.variant]]
id = "holdout"
holdout = true
""")
    return path


def event(user: str, eid: str, kind: str, ts: int, **extra: object) -> tuple[bytes, bytes]:
    body = {"event_id": eid, "type": kind, "user_id": user, "ts": ts, **extra}
    return user.encode(), orjson.dumps(body)


def profiles_ready(run: Run, users: list[str]) -> bool:
    import redis

    client = redis.Redis.from_url(run.settings.redis_url)
    keys = [run.settings.redis_key("profile", Pseudonymizer(KEY.encode()).user(u)) for u in users]
    return all(client.exists(k) for k in keys)


def test_api_and_stream_deciding_at_once_break_no_rule(tmp_path: Path) -> None:
    file = campaigns(tmp_path / "campaigns.toml")
    run = Run(OFFERFLOW_TAIL="true", OFFERFLOW_CAMPAIGNS_FILE=str(file))
    catalog = CampaignBook(str(file)).current()
    consenting = [f"c{i}" for i in range(30)]
    silent = [f"s{i}" for i in range(6)]  # never consented: nothing may reach them
    now = int(time.time() * 1000)
    setup = [event(u, f"{u}-view", "page_view", now) for u in consenting + silent]
    setup += [event(u, f"{u}-ok", "consent", now, consent={"marketing": True}) for u in consenting]
    try:
        with tailing_flow(run) as flow, serving(run.settings) as api, api.client() as http:
            produce(run.settings, run.settings.topic("events"), setup)
            wait_for(lambda: profiles_ready(run, consenting + silent), 60)
            people = consenting + silent

            def ask(item: tuple[str, int]) -> dict:
                user, n = item
                answer = http.post("/v1/decide", json={"user_id": user, "request_id": f"r{n}"})
                assert answer.status_code == 200, answer.text
                return answer.json()

            answers = []
            with ThreadPoolExecutor(4) as pool:
                for n in range(4):  # each round: the stream's requests and the API's at once
                    produce(run.settings, run.settings.topic("events"), (
                        event(u, f"{u}-req-{n}", "decision_request", now, channel="web")
                        for u in people
                    ))  # fmt: skip
                    answers += pool.map(ask, [(u, n) for u in people])
            requests = [(u, n) for n in range(4) for u in people]
            decisions_topic = run.settings.topic("decisions")

            def all_out() -> bool:
                return len(read_to_end(run.settings, decisions_topic, 5)) >= 2 * len(requests)

            wait_for(all_out, 90)
            assert flow.poll() is None
        records = [orjson.loads(m.value()) for m in read_to_end(run.settings, decisions_topic, 5)]
    finally:
        run.cleanup()
    assert all(a["fallback"] is None for a in answers)
    assert len(records) == 2 * len(requests) == len({r["decision_id"] for r in records})
    by_api = [r for r in records if r["trigger"] == "api"]
    assert len(by_api) == len(requests)
    offers = [r for r in records if r["offer_id"] is not None]
    pseudonym = Pseudonymizer(KEY.encode()).user
    silent_ids = {pseudonym(u) for u in silent}
    experiment = catalog.experiments["exp"]
    per_user: dict[str, int] = {}
    for r in offers:
        assert r["user_id"] not in silent_ids  # consent
        assert r["channel"] == "web"  # push is in quiet hours
        assert experiment.assign(r["user_id"]).id != "holdout"  # holdout
        per_user[r["user_id"]] = per_user.get(r["user_id"], 0) + 1
    assert max(per_user.values()) <= 2  # the web cap, whoever decided
    # One budget for both paths: demand (2 web offers per user outside the holdout) is above
    # it, and the offers made by both paths together are exactly the budget.
    outside = sum(experiment.assign(pseudonym(u)).id != "holdout" for u in consenting)
    assert 2 * outside > BUDGET and len(offers) == BUDGET
    assert {r["trigger"] for r in offers} == {"api", "request"}
    held = [r for r in records if r["reason"] == "experiment_holdout"]
    assert {r["trigger"] for r in held} == {"api", "request"}
    refused = {r["reason"] for r in records if r["offer_id"] is None}
    assert {"promo:frequency_cap", "budget_exhausted:max_sends"} <= refused  # both were hit


def test_an_api_decisions_feedback_reaches_bandit_experiment_and_attribution(
    tmp_path: Path,
) -> None:
    import redis

    file = campaigns(tmp_path / "campaigns.toml")
    run = Run(OFFERFLOW_TAIL="true", OFFERFLOW_CAMPAIGNS_FILE=str(file))
    client = redis.Redis.from_url(run.settings.redis_url)
    users = [f"fan{i}" for i in range(12)]
    now = int(time.time() * 1000)
    setup = [event(u, f"{u}-ok", "consent", now, consent={"marketing": True}) for u in users]
    try:
        with tailing_flow(run) as flow, serving(run.settings) as api, api.client() as http:
            produce(run.settings, run.settings.topic("events"), setup)
            wait_for(lambda: profiles_ready(run, users), 60)
            answers = [http.post("/v1/decide", json={"user_id": u, "channel": "web"}).json()
                       for u in users]  # fmt: skip
            shown = {u: a for u, a in zip(users, answers, strict=True) if a["offer_id"]}
            assert shown and all(a["variant"] == "bandit" for a in shown.values())
            feedback = []
            for user, a in shown.items():
                ids = {"decision_id": a["decision_id"], "campaign_id": "promo", "channel": "web"}
                feedback += [
                    {"event_id": f"{user}-imp", "type": "offer_impression", "user_id": user,
                     "ts": now + 1, **ids},
                    {"event_id": f"{user}-click", "type": "offer_click", "user_id": user,
                     "ts": now + 2, **ids},
                    {"event_id": f"{user}-buy", "type": "purchase", "user_id": user,
                     "ts": now + 3, "properties": {"value": 20.0}},
                ]  # fmt: skip
            assert http.post("/v1/events", json=feedback).json()["accepted"] == len(feedback)

            def learned() -> int:
                docs = [
                    client.get(k)
                    for k in client.scan_iter(run.settings.redis_key("policy", "promo", "*"))
                ]
                return sum(orjson.loads(d)["rewards"] for d in docs if d)

            def exposures() -> int:
                doc = client.get(run.settings.redis_key("experiment", "exp", "bandit"))
                return orjson.loads(doc)["exposures"] if doc else 0

            def credited() -> float:
                doc = client.get(run.settings.redis_key("attribution", "last_touch"))
                campaigns = orjson.loads(doc)["campaigns"] if doc else {}
                return campaigns.get("promo", {}).get("conversions", 0.0)

            wait_for(lambda: learned() == len(shown), 60)  # the bandit learned each click
            wait_for(lambda: exposures() == len(shown), 30)  # each delivery exposed its user
            wait_for(lambda: credited() == len(shown), 30)  # each purchase credits the touch
            assert flow.poll() is None
    finally:
        run.cleanup()
