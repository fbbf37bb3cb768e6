"""Predictive analytics: BG/NBD and Gamma-Gamma likelihoods against hand computation,
parameter recovery on simulated customers, the published CDNOW estimates, edge customers
without NaNs or warnings, the customer-base step, predictions in profiles and predictive
segments, and the evaluation on CDNOW."""

from __future__ import annotations

import math
import pickle
import random
import warnings
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from models import bgnbd, gamma_gamma
from models.clv import Models
from offerflow.lab.predict_eval import evaluate, read_log
from operators.feedback import Feedback
from operators.predict_step import PredictStep
from operators.profile_step import ProfileLogic, _utc
from operators.user_predictions import Predictions
from schemas.event import EventType
from schemas.units import DAY_MS
from state.customers import Customers
from state.predictor import Predictor
from state.segments import RuleFile
from tests.test_profile_step import Clock, ev, step

# -- likelihoods ----------------------------------------------------------------------------


def test_bgnbd_log_likelihood_matches_the_formula_computed_by_hand() -> None:
    r, alpha, a, b = 0.5, 3.0, 0.8, 2.0
    model = bgnbd.BGNBD(r, alpha, a, b)

    def by_hand(x: int, t_x: float, T: float) -> float:
        beta = math.gamma(a) * math.gamma(b) / math.gamma(a + b)

        def B(p: float, q: float) -> float:
            return math.gamma(p) * math.gamma(q) / math.gamma(p + q)

        head = math.gamma(r + x) * alpha**r / math.gamma(r)
        alive = B(a, b + x) / beta * head / (alpha + T) ** (r + x)
        dropped = B(a + 1, b + x - 1) / beta * head / (alpha + t_x) ** (r + x) if x else 0.0
        return math.log(alive + dropped)

    for x, t_x, T in [(0, 0.0, 10.0), (1, 4.0, 10.0), (3, 9.5, 12.0)]:
        assert model.log_likelihood(x, t_x, T) == pytest.approx(by_hand(x, t_x, T), rel=1e-12)


def test_gamma_gamma_log_likelihood_matches_the_density_computed_by_hand() -> None:
    p, q, g = 3.0, 4.0, 10.0
    model = gamma_gamma.GammaGamma(p, q, g)

    def by_hand(x: int, m: float) -> float:
        # the mean of x Gamma(p, nu) values is Gamma(p x, nu x); nu ~ Gamma(q, g) integrated out
        n = p * x
        value = (
            math.gamma(n + q) / (math.gamma(n) * math.gamma(q))
            * g**q * m ** (n - 1) * x**n / (g + m * x) ** (n + q)
        )  # fmt: skip
        return math.log(value)

    for x, m in [(1, 12.0), (4, 30.5)]:
        assert model.log_likelihood(x, m) == pytest.approx(by_hand(x, m), rel=1e-12)


# -- parameter recovery ---------------------------------------------------------------------


def simulate_bgnbd(n: int, r: float, alpha: float, a: float, b: float, seed: int):
    """Customers drawn from the BG/NBD story, observed for 30 to 60 time units."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    T = rng.uniform(30, 60, n)
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > T[i]:
                break
            x[i] += 1
            t_x[i] = t
            if rng.random() < p[i]:
                break
    return x, t_x, T


def test_bgnbd_fit_recovers_the_parameters_it_simulated_from() -> None:
    truth = (0.6, 8.0, 0.9, 3.0)
    x, t_x, T = simulate_bgnbd(20_000, *truth, seed=7)
    fitted = bgnbd.fit(x, t_x, T)
    got = (fitted.r, fitted.alpha, fitted.a, fitted.b)
    for estimate, true in zip(got, truth, strict=True):
        assert estimate == pytest.approx(true, rel=0.15)
    # the fit is the maximum: the truth is no more likely
    truth_ll = bgnbd.BGNBD(*truth).log_likelihood(x, t_x, T).sum()
    assert fitted.log_likelihood(x, t_x, T).sum() >= truth_ll


def test_gamma_gamma_fit_recovers_the_parameters_it_simulated_from() -> None:
    p, q, g = 6.0, 4.0, 20.0
    rng = np.random.default_rng(3)
    n = 20_000
    x = rng.integers(1, 8, n)
    nu = rng.gamma(q, 1 / g, n)
    m = np.array([rng.gamma(p, 1 / nu[i], x[i]).mean() for i in range(n)])
    fitted = gamma_gamma.fit(x, m)
    for estimate, true in zip((fitted.p, fitted.q, fitted.gamma), (p, q, g), strict=True):
        assert estimate == pytest.approx(true, rel=0.15)


def test_cdnow_gives_the_published_estimates(cdnow_dir: Path) -> None:
    import csv

    with open(cdnow_dir / "cdnow_customers_summary_with_transactions.csv") as fh:
        rows = list(csv.DictReader(fh))
    x, t_x, T, m = (np.array([float(r[k]) for r in rows]) for k in ("x", "t_x", "T", "zbar"))
    assert len(rows) == 2_357
    bg = bgnbd.fit(x, t_x, T)
    assert (bg.r, bg.alpha, bg.a, bg.b) == pytest.approx((0.243, 4.414, 0.793, 2.426), abs=1e-3)
    gg = gamma_gamma.fit(x, m)  # Fader & Hardie's note on the Gamma-Gamma model
    assert (gg.p, gg.q, gg.gamma) == pytest.approx((6.25, 3.74, 15.44), abs=0.01)


def test_evaluation_on_the_cdnow_log(cdnow_dir: Path) -> None:
    with open(cdnow_dir / "CDNOW_sample.txt") as fh:
        log = read_log(fh, columns=("0", "2", "4"), delimiter="whitespace", date_format="%Y%m%d")
    ev = evaluate(log, date(1997, 9, 30), date(1998, 6, 30), model="bgnbd")
    assert ev.customers == 2_357
    bg = ev.purchases
    assert (bg.r, bg.alpha, bg.a, bg.b) == pytest.approx((0.243, 4.414, 0.793, 2.426), abs=1e-3)
    assert ev.correlation > 0.5 and 0.8 < ev.predicted_total / ev.actual_total < 1.05
    week_78 = ev.curve[-1]
    assert week_78[0] == pytest.approx(78, abs=1) and abs(week_78[2] / week_78[1] - 1) < 0.1
    modified = evaluate(log, date(1997, 9, 30), date(1998, 6, 30))  # the flow's default
    mbg = modified.purchases
    # lifetimes 0.11.3's ModifiedBetaGeoFitter on the same customers (measured with it once)
    assert (mbg.r, mbg.alpha, mbg.a, mbg.b) == pytest.approx(
        (0.524838, 6.182988, 0.891356, 1.614000), rel=1e-3
    )
    assert modified.correlation > 0.5 and 0.8 < modified.predicted_total / ev.actual_total < 1.05


# -- edge customers -------------------------------------------------------------------------


def test_stale_and_single_purchase_customers_give_finite_predictions_without_warnings() -> None:
    models = Models(bgnbd.BGNBD(0.243, 4.414 * 7, 0.793, 2.426), gamma_gamma.GammaGamma(6, 4, 15))
    x = np.array([0, 0, 1, 20, 3])
    t_x = np.array([0.0, 0.0, 0.0, 5.0, 3000.0])
    T = np.array([0.0, 3650.0, 3650.0, 3650.0, 3000.0])  # brand new, ten years stale, ...
    m = np.array([0.0, 0.0, 50.0, 20.0, 10.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        predictions = models.predict(x, t_x, T, m)
    for name, values in predictions.items():
        assert np.all(np.isfinite(values)), name
    assert predictions["churn_risk"][3] > 0.99  # twenty purchases, then ten silent years
    assert predictions["churn_risk"][1] == 0.0  # never repeated: cannot have dropped out


# -- the flow's steps -----------------------------------------------------------------------


def test_customer_base_step_fits_on_schedule_and_publishes_only_parameters() -> None:
    step = PredictStep(refit_ms=86_400_000, min_repeat=100)
    x, t_x, T = simulate_bgnbd(400, 0.6, 8.0, 0.9, 3.0, seed=1)
    day = 86_400_000
    now = int(100 * day)
    state, params = None, None
    for i in range(400):
        first = now - int(T[i] * day)
        facts = (int(x[i]), first, first + int(t_x[i] * day), 25.0 if x[i] else 0.0)
        state, params = step(state, ("facts", {"user": f"u{i}", "facts": facts, "ts": now}))
        if params:
            break
    assert params is not None and state.fitted_at == now
    assert params["customers"] == len(state.facts) and params["repeat_customers"] >= 100
    predictor = Predictor.from_params(params)  # what the user steps receive
    assert predictor == state.fit and predictor.as_of == now
    state, again = step(state, ("facts", {"user": "u0", "facts": state.facts["u0"], "ts": now + 1}))
    assert again is None  # no refit yet, and no message per customer
    restarted = PredictStep(refit_ms=86_400_000, min_repeat=100)  # a new process, same state
    state, announced = restarted(state, ("facts", {"user": "u1", "facts": state.facts["u1"],
                                                    "ts": now + 2}))  # fmt: skip
    assert announced == params  # told again, for user steps that restarted without it
    state, _ = step(state, ("forget", "u0"))
    assert "u0" not in state.facts


def test_profiles_compute_predictions_from_published_models_and_segments_use_them(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[segment]]\nname = "likely_to_churn"\nall = ["churn_risk > 0.5"]\n')
    clock = Clock()
    predictions = Predictions(refresh_ms=60_000)
    cfg = replace(step(clock, RuleFile(str(rules))), predictions=predictions)
    logic = ProfileLogic(cfg, None)
    day = 86_400_000
    logic.on_item(ev("p1", EventType.PURCHASE, 1_000, properties={"value": 10.0}))
    out, _ = logic.on_item(ev("p1b", EventType.PURCHASE, 2_000, properties={"value": 2.5}))
    (facts,) = [payload for tag, payload in out if tag == "predict"]
    assert facts == ("facts", {"user": "pid", "facts": (0, 1_000, 2_000, 0.0), "ts": 2_000})
    out, _ = logic.on_item(ev("p2", EventType.PURCHASE, 2_000 + day, properties={"value": 30.0}))
    (facts,) = [payload for tag, payload in out if tag == "predict"]  # a second purchase day
    assert facts == ("facts", {"user": "pid", "facts": (1, 1_000, 2_000 + day, 30.0),
                               "ts": 2_000 + day})  # fmt: skip
    assert "churn_risk" not in dict(out)["profile"]["features"]  # no models yet
    assert logic.notify_at() == _utc(logic.profile.touched_ms + cfg.ttl_ms)  # no refresh timer
    # a fit whose customers drop out fast, published 400 days after this customer's purchase
    fitted = Predictor(
        Models(bgnbd.BGNBD(0.5, 10.0, 5.0, 1.0), gamma_gamma.GammaGamma(6.0, 4.0, 15.0)),
        deciles=tuple(float(d) for d in range(1, 10)),
        as_of=2_000 + 400 * day,
    )
    broadcast = ProfileLogic(cfg, None)  # the models message reaches one key of the worker
    out, keep = broadcast.on_item(Feedback("models", "models.0", fitted.params()))
    assert out == [] and keep is ProfileLogic.DISCARD and predictions.current == fitted
    clock.now += 1.0
    assert logic.notify_at() == _utc(cfg.now_ms() + 60_000)  # a customer checks within 1 min
    clock.now += 60.0
    out, _ = logic.on_notify()
    doc = dict(out)["profile"]
    expected = fitted.predict((1, 1_000, 2_000 + day, 30.0))
    assert doc["features"]["churn_risk"] == expected["churn_risk"] > 0.5
    assert doc["features"]["predicted_at"] == fitted.as_of
    assert doc["features"]["days_since_last_purchase"] == 399.0  # as of the fit, not the purchase
    assert doc["segments"] == ["likely_to_churn"]
    assert logic.on_notify()[0] == []  # nothing newer: nothing to do
    restored = ProfileLogic(cfg, logic.snapshot())  # predictions are part of the snapshot
    assert restored.profile is not None and restored.profile.predictions == expected
    out, _ = logic.on_item(ev("p3", EventType.PURCHASE, 3_000 + 2 * day, properties={"value": 5.0}))
    assert dict(out)["profile"]["features"]["purchases"] == 4  # recomputed on a purchase:
    assert logic.profile.predictions == fitted.predict((2, 1_000, 3_000 + 2 * day, 17.5))
    out, _ = logic.on_item(ev("x", EventType.ERASE, 4_000 + 2 * day))
    assert ("predict", ("forget", "pid")) in out  # erasure leaves the customer base too


def test_the_repeat_customer_count_follows_adds_and_forgets_and_old_snapshots() -> None:
    rng = random.Random(5)
    base = Customers(refit_ms=DAY_MS, min_repeat=10)
    for n in range(3_000):
        user = f"u{rng.randrange(200)}"
        if rng.random() < 0.1:
            base.forget(user)
        else:
            base.add(user, (rng.choice([0, 0, 1, 3]), 0, DAY_MS, 5.0), ts=n)
        assert base.repeaters == sum(1 for f in base.facts.values() if f[0] > 0)
    older = dict(base.__dict__)
    del older["repeaters"]  # written before the count was kept
    restored = Customers.__new__(Customers)
    restored.__setstate__(pickle.loads(pickle.dumps(older)))
    assert restored.repeaters == base.repeaters > 10
