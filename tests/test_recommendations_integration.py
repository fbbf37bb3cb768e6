"""Recommendations through the real broker and Redis: product views teach the flow; an offer
on a content channel carries products, a recommendations-only web request gets products
without an offer, each user's top-k is in Redis, campaign exclusions and a campaign's repeat
policy hold, and erasure removes the user's top-k."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from offerflow.kafka_io import produce, read_to_end
from operators.campaign_book import default_campaigns_text
from operators.redis_mirror import client_for
from tests.conftest import Run, tailing_flow, wait_for
from tests.test_profile_integration import hashed_event, pseudonym

pytestmark = pytest.mark.integration


def event(user: str, kind: str, ts: int, n: int, **fields) -> tuple[bytes, bytes]:
    record = {"event_id": f"{user}-{kind}-{n}", "type": kind, "user_id": user, "ts": ts, **fields}
    return user.encode(), orjson.dumps(record)


def test_decisions_carry_products_learned_from_the_stream(live_stack: None, tmp_path: Path) -> None:
    campaigns = tmp_path / "campaigns.toml"
    text = default_campaigns_text().replace(
        'id = "spring_sale"', 'id = "spring_sale"\nexclude_products = ["sock-9"]\nrepeat = "never"'
    )
    campaigns.write_text(text.split("[[experiment]]")[0])  # no experiment: every user gets offers
    run = Run(OFFERFLOW_TAIL="true", OFFERFLOW_CAMPAIGNS_FILE=str(campaigns))
    now = int(time.time() * 1000)
    consent = {"marketing": True, "web": True, "email": True}
    records = []
    for i in range(30):  # shoe-1 viewers also view sock-2 (and sock-9, which the campaign bans)
        user = f"shopper-{i}"
        records.append(event(user, "consent", now, 0, consent=consent))
        for n, product in enumerate(("shoe-1", "sock-2", "sock-9")):
            props = {"product_id": product, "category": product.split("-")[0]}
            records.append(event(user, "product_view", now + n, n + 1, properties=props))
    fresh = "newcomer"
    records.append(event(fresh, "consent", now, 0, consent=consent))
    records.append(event(fresh, "product_view", now + 10, 1,
                         properties={"product_id": "shoe-1", "category": "shoe"}))  # fmt: skip
    records.append(event(fresh, "decision_request", now + 20, 2, channel="web"))
    records.append(event(fresh, "decision_request", now + 21, 3, channel="web",
                         properties={"content": "recommendations"}))  # fmt: skip
    redis = client_for(run.settings.redis_url)
    top_key = run.settings.redis_key("reco", pseudonym(fresh))

    def decisions() -> dict[str, dict]:
        found = read_to_end(run.settings, run.settings.topic("decisions"), 5)
        return {d["request_event_id"]: d for d in (orjson.loads(m.value()) for m in found)}

    try:
        with tailing_flow(run) as flow:
            produce(run.settings, run.settings.topic("events"), records)
            wait_for(lambda: len(decisions()) == 2, 60)
            offer = decisions()[hashed_event(f"{fresh}-decision_request-2")]
            only = decisions()[hashed_event(f"{fresh}-decision_request-3")]
            top = orjson.loads(redis.get(top_key))["products"]
            produce(
                run.settings, run.settings.topic("events"), [event(fresh, "erase", now + 30, 4)]
            )
            wait_for(lambda: redis.get(top_key) is None, 30)
            assert flow.poll() is None
        assert offer["offer_id"] is not None and offer["campaign_id"] == "spring_sale"
        products = offer["payload"]["products"].split(",")
        assert "sock-2" in products  # learned: people who view shoe-1 view sock-2
        assert "sock-9" not in products  # the campaign excludes it
        assert "shoe-1" not in products  # viewed already: the campaign's repeat is "never"
        assert only["offer_id"] is None and only["reason"] == "recommendations_only"
        assert only["campaign_id"] is None
        # no campaign: the catalogue's policy (purchased), so the viewed shoe-1 may come back
        assert {"shoe-1", "sock-2", "sock-9"} <= set(only["payload"]["products"].split(","))
        assert top and set(top) <= {"shoe-1", "sock-2", "sock-9"}
    finally:
        run.cleanup()
