"""Predictions through the real broker and Redis: customers' purchases over the past weeks
reach the models step, which fits once enough customers have repeat purchases and sends the
parameters to every worker; every customer's profile in Redis then carries churn risk,
expected purchases and CLV computed from them, updated again by their next purchase."""

from __future__ import annotations

import time

import numpy as np
import orjson
import pytest

from offerflow.kafka_io import produce
from operators.redis_mirror import client_for
from tests.conftest import Run, tailing_flow, wait_for
from tests.test_predictions import simulate_bgnbd
from tests.test_profile_integration import pseudonym

pytestmark = pytest.mark.integration
DAY = 86_400_000
FIELDS = (
    "churn_risk",
    "p_alive",
    "expected_purchases_30d",
    "expected_purchases_90d",
    "clv_90d",
    "clv_decile",
)


def purchase(user: str, n: int, ts: int) -> tuple[bytes, bytes]:
    event = {
        "event_id": f"{user}-{n}",
        "type": "purchase",
        "user_id": user,
        "ts": ts,
        "properties": {"value": 20.0 + n},
    }
    return user.encode(), orjson.dumps(event)


def test_profiles_in_redis_carry_predictions_updated_by_purchases(live_stack: None) -> None:
    run = Run(
        OFFERFLOW_TAIL="true",
        OFFERFLOW_PREDICT_MIN_REPEAT="40",
        OFFERFLOW_PREDICT_REFIT="7d",
        OFFERFLOW_PREDICT_REFRESH="1s",  # customers who bought before the fit catch up fast
    )
    now = int(time.time() * 1000)
    x, t_x, T = simulate_bgnbd(200, 0.8, 3.0, 0.5, 3.0, seed=2)  # ages up to 60 "days"
    T, t_x = T / 3, t_x / 3  # compress to at most 20 days: inside the ingestion age window
    records = []
    for i in range(200):
        first = now - int(T[i] * DAY)
        between = np.random.default_rng(i).uniform(0, t_x[i], max(int(x[i]) - 1, 0))
        repeats = [*sorted(between), t_x[i]] if x[i] else []
        times = [first, *(first + int(s * DAY) for s in repeats)]
        records += [purchase(f"cust-{i}", n, ts) for n, ts in enumerate(times)]
    records.sort(key=lambda kv: orjson.loads(kv[1])["ts"])  # in time order, like real traffic
    redis = client_for(run.settings.redis_url)

    def profile(user: str) -> dict:
        raw = redis.get(run.settings.redis_key("profile", pseudonym(user)))
        return orjson.loads(raw)["features"] if raw else {}

    try:
        with tailing_flow(run) as flow:
            produce(run.settings, run.settings.topic("events"), records)
            wait_for(lambda: all(k in profile(f"cust-{i}") for i in range(200) for k in FIELDS), 60)
            params = orjson.loads(redis.get(run.settings.redis_key("predict", "params")))
            # fitted once 40 customers had repeated; later ones are predicted with that fit
            assert params["repeat_customers"] >= 40 and params["customers"] <= 200
            model = params["purchase_model"]
            assert model["model"] == "mbgnbd" and model["r"] > 0 and params["gamma_gamma"]["p"] > 0
            before = profile("cust-0")
            produce(run.settings, run.settings.topic("events"), [purchase("cust-0", 99, now)])
            wait_for(lambda: profile("cust-0").get("predicted_at") == now, 30)
            after = profile("cust-0")
            assert flow.poll() is None
        assert after["purchases"] == before["purchases"] + 1
        # just bought (t_x = T): dropout can only have happened right after that purchase
        a, b, x = model["a"], model["b"], after["purchase_days"] - 1
        assert after["p_alive"] == pytest.approx(1 / (1 + a / (b + x)), abs=1e-5)
        assert after["expected_purchases_30d"] != before["expected_purchases_30d"]
        for i in range(200):
            features = profile(f"cust-{i}")
            assert 0 <= features["churn_risk"] <= 1 and 1 <= features["clv_decile"] <= 10
            assert features["expected_purchases_90d"] >= features["expected_purchases_30d"] >= 0
    finally:
        run.cleanup()
