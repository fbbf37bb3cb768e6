"""The modified BG/NBD against its story and its formulas, purchase facts in days and cents
(out of order, merged, and read from profiles stored before either), and the models step's
refit when a bounded run's input ends."""

from __future__ import annotations

import math
import pickle
import random

import numpy as np
import pytest

from models import bgnbd, mbgnbd
from operators.pickled_state import PickledMapLogic
from operators.predict_step import PredictStep
from schemas.event import Event, EventType
from state.profile import Profile, ProfileConfig
from state.purchases import Purchases

DAY = 86_400_000


def test_mbgnbd_log_likelihood_matches_the_story_computed_by_hand() -> None:
    r, alpha, a, b = 0.5, 3.0, 0.8, 2.0
    model = mbgnbd.MBGNBD(r, alpha, a, b)

    def B(p: float, q: float) -> float:
        return math.gamma(p) * math.gamma(q) / math.gamma(p + q)

    def by_hand(x: int, t_x: float, T: float) -> float:
        # x + 1 coins survived (at the start and after each repeat purchase) and no purchase
        # after t_x up to T, or the last of them came up "drop out" right after t_x
        head = math.gamma(r + x) * alpha**r / math.gamma(r)
        alive = B(a, b + x + 1) / B(a, b) * head / (alpha + T) ** (r + x)
        dropped = B(a + 1, b + x) / B(a, b) * head / (alpha + t_x) ** (r + x)
        return math.log(alive + dropped)

    for x, t_x, T in [(0, 0.0, 10.0), (1, 4.0, 10.0), (3, 9.5, 12.0)]:
        assert model.log_likelihood(x, t_x, T) == pytest.approx(by_hand(x, t_x, T), rel=1e-12)


def simulate_mbgnbd(n: int, r: float, alpha: float, a: float, b: float, seed: int):
    """Customers drawn from the MBG/NBD story: the dropout coin is tossed at the first
    purchase too."""
    rng = np.random.default_rng(seed)
    lam, p = rng.gamma(r, 1 / alpha, n), rng.beta(a, b, n)
    T = rng.uniform(30, 60, n)
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while rng.random() >= p[i]:  # survived this coin: buys again at some point
            t += rng.exponential(1 / lam[i])
            if t > T[i]:
                break
            x[i] += 1
            t_x[i] = t
    return x, t_x, T


def test_mbgnbd_fit_recovers_the_parameters_it_simulated_from() -> None:
    truth = (0.6, 8.0, 0.9, 3.0)
    estimates = []
    for seed in (1, 2, 3):  # the dropout pair varies by seed (b from 2.9 to 3.4): average
        x, t_x, T = simulate_mbgnbd(20_000, *truth, seed=seed)
        fitted = mbgnbd.fit(x, t_x, T)
        estimates.append((fitted.r, fitted.alpha, fitted.a, fitted.b))
        assert (
            fitted.log_likelihood(x, t_x, T).sum()
            >= mbgnbd.MBGNBD(*truth).log_likelihood(x, t_x, T).sum()
        )  # the fit is the maximum: the truth is no more likely
    assert tuple(np.mean(estimates, axis=0)) == pytest.approx(truth, rel=0.1)


def test_mbgnbd_predictions_agree_with_the_simulated_population() -> None:
    truth = mbgnbd.MBGNBD(0.6, 8.0, 0.9, 3.0)
    rng = np.random.default_rng(5)
    n, T, horizon = 200_000, 20.0, 30.0
    lam, p = rng.gamma(truth.r, 1 / truth.alpha, n), rng.beta(truth.a, truth.b, n)
    silent, later, alive = np.ones(n, bool), np.zeros(n), np.ones(n, bool)
    t = np.zeros(n)
    while alive.any():  # each customer's purchases until they drop out or pass T + horizon
        alive &= rng.random(n) >= p
        t = np.where(alive, t + rng.exponential(1 / lam), t)
        alive &= t <= T + horizon
        silent &= ~(alive & (t <= T))
        later += alive & (t > T)
    # customers with no repeat purchase by T: their expected purchases in (T, T + horizon]
    predicted = float(truth.expected_purchases(horizon, 0, 0.0, T))
    assert later[silent].mean() == pytest.approx(predicted, rel=0.03)
    assert float(truth.expected_purchases(horizon, 0, 0.0, 0.0)) == pytest.approx(
        float(truth.expected_purchases_new(horizon)), rel=1e-12
    )


def test_one_time_buyers_churn_under_mbgnbd_and_never_under_bgnbd() -> None:
    params = (0.525, 6.183, 0.891, 1.614)
    silences = [1.0, 10.0, 70.0]
    modified = mbgnbd.MBGNBD(*params).p_alive([0, 0, 0], [0.0] * 3, silences)
    assert modified[0] > modified[1] > modified[2] > 0.0  # falls with the silence
    assert np.all(bgnbd.BGNBD(*params).p_alive([0, 0, 0], [0.0] * 3, silences) == 1.0)


# -- purchase facts ---------------------------------------------------------------------------


def test_money_is_summed_in_cents_exactly() -> None:
    p = Purchases()
    for i in range(2_000):
        p.add(i * DAY, 4.49)
    assert p.revenue == 8_980.0 and p.features(0)["avg_order_value"] == 4.49
    floats = sum(4.49 for _ in range(2_000))
    assert floats != 8_980.0  # what the profile used to show


def test_purchase_days_are_the_same_in_any_arrival_order_and_after_a_merge() -> None:
    rng = random.Random(3)
    purchases = [(rng.randrange(0, 40) * DAY + rng.randrange(DAY), rng.choice([5.0, 12.5]))
                 for _ in range(60)]  # fmt: skip
    in_order = Purchases()
    for ts, value in sorted(purchases):
        in_order.add(ts, value)
    shuffled = Purchases()
    for ts, value in rng.sample(purchases, len(purchases)):
        shuffled.add(ts, value)
    days = {ts // DAY for ts, _ in purchases}
    assert in_order.rfm() == shuffled.rfm()
    assert in_order.day_count == len(days) and in_order.rfm()[0] == len(days) - 1
    first_day = min(days)
    first_total = sum(v for ts, v in purchases if ts // DAY == first_day)
    assert in_order.rfm()[3] == pytest.approx(
        (sum(v for _, v in purchases) - first_total) / (len(days) - 1)
    )
    left, right = Purchases(), Purchases()
    for n, (ts, value) in enumerate(purchases):
        (left if n % 2 else right).add(ts, value)
    left.merge(right)
    assert left.rfm() == in_order.rfm() and left.cents == in_order.cents


def test_a_profile_stored_before_cents_and_days_reads_with_its_old_meaning() -> None:
    p = Profile(ProfileConfig())
    for n, (ts, value) in enumerate([(DAY, 10.25), (3 * DAY, 20.0), (5 * DAY, 7.5)]):
        p.apply(Event(f"e{n}", EventType.PURCHASE, "u", ts, properties={"value": value}))
    fields = pickle.loads(p.to_bytes())
    old = list(fields[:-3])  # the layout before: revenue a float, no days at the end
    old[8] = p.orders.cents / 100
    legacy = Profile.from_bytes(pickle.dumps(tuple(old)), p.config)
    assert legacy.rfm() == p.rfm() == (2, DAY, 5 * DAY, 13.75)
    assert legacy.features()["revenue"] == 37.75
    assert Profile.from_bytes(p.to_bytes(), p.config).orders.days == p.orders.days


def test_days_since_last_purchase_is_measured_at_the_profiles_time() -> None:
    p = Profile(ProfileConfig())
    p.apply(Event("b", EventType.PURCHASE, "u", DAY, properties={"value": 5.0}))
    p.apply(Event("v", EventType.PRODUCT_VIEW, "u", 4 * DAY))
    f = p.features()
    assert f["days_since_last_purchase"] == 3.0 and f["first_purchase"] == DAY
    p.predictions = {"predicted_at": 10 * DAY}  # a refit as of later event time
    assert p.features()["days_since_last_purchase"] == 9.0
    assert p.to_document()["as_of"] == 4 * DAY  # decayed features stay as of the last event


# -- the models step at the end of the input -----------------------------------------------


def test_the_models_step_refits_when_the_input_ends_if_anything_changed() -> None:
    step = PredictStep(refit_ms=365 * DAY, min_repeat=3)
    logic = PickledMapLogic(step, None, at_end=step.at_end)
    assert logic.on_eof() == ([None], True)  # nothing seen: nothing to fit, no state kept
    for i in range(8):
        facts = (i % 3, 0, i * DAY * (i % 3 > 0), 20.0 + i)
        (out,), _ = logic.on_item(("facts", {"user": f"u{i}", "facts": facts, "ts": 10 * DAY}))
    assert out is None or out["customers"] < 8  # the first fit came early, on a part
    (final,), _ = logic.on_eof()
    assert final is not None and final["customers"] == 8 and final["fitted_at"] == 10 * DAY
    assert len(final["clv_shares"]) == 10 and sum(final["clv_shares"]) == pytest.approx(1.0)
    assert logic.on_eof() == ([None], False)  # nothing new since
