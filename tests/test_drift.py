"""Model health without a broker: the drift detector on planted and stationary reward
streams, discounted posteriors, the drift responses and their propensities, the campaign
file's drift table, and the simulator's drift scenarios."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from models.bandits import Bandit
from models.discounted_beta import DiscountedBeta
from models.drift_watch import DriftWatch
from offerflow.lab.policy_sim import compare
from offerflow.lab.population import Drift
from state.campaign_file import CampaignErrors, parse_campaigns
from state.drift_config import DriftConfig
from state.policy import PolicyState

SEEDS = 200
BEFORE = AFTER = 4_000


def _stream(seed: int, after: float) -> list[float]:
    """A click stream at 10% whose rate becomes ``after`` halfway."""
    rng = random.Random(seed)
    return [float(rng.random() < (0.10 if i < BEFORE else after)) for i in range(BEFORE + AFTER)]


def _first_detection(stream: list[float]) -> int | None:
    watch = DriftWatch("adwin")
    return next((i for i, x in enumerate(stream) if watch.update("offer", x)), None)


def test_adwin_finds_a_planted_drop_fast_and_stays_quiet_on_a_stationary_stream() -> None:
    # An offer's click rate falls from 10% to 4% (a creative worn out): over 200 seeds every
    # run detects it after the change, within 2,000 rewards (median ~740, p95 ~1,300 here).
    found = [_first_detection(_stream(seed, 0.04)) for seed in range(SEEDS)]
    delays = sorted(f - BEFORE for f in found if f is not None)
    assert len(delays) == SEEDS and delays[0] >= 0, "a detection before the change"
    assert delays[-1] < 2_000
    # The same length at a steady 10%: the false-alarm rate, measured over 200 seeds.
    alarms = sum(_first_detection(_stream(seed, 0.10)) is not None for seed in range(SEEDS))
    assert alarms / SEEDS <= 0.02, f"false alarms in {alarms} of {SEEDS} stationary runs"


def test_page_hinkley_is_offered_too() -> None:
    watch = DriftWatch("page_hinkley", {"threshold": 10.0})
    stream = [0.0] * 500 + [1.0] * 500
    assert any(watch.update("s", x) for x in stream)
    with pytest.raises(ValueError, match="unknown detector"):
        DriftWatch("chi_square")


def test_discounted_posteriors_weigh_rewards_by_age_in_any_order() -> None:
    hour = 3_600_000
    events = [("a", i % 3 == 0, i * 60_000) for i in range(120)]  # two hours of rewards
    forward, backward = DiscountedBeta(hour), DiscountedBeta(hour)
    for arm, win, ts in events:
        forward.update(arm, win, ts)
    for arm, win, ts in reversed(events):
        backward.update(arm, win, ts)
    now = 2 * hour
    assert forward.posterior("a", now) == pytest.approx(backward.posterior("a", now))
    alpha, beta = forward.posterior("a", now)
    weight = {ts: 2 ** (-(now - ts) / hour) for _a, _w, ts in events}
    assert alpha == pytest.approx(1 + sum(weight[ts] for _a, win, ts in events if win))
    assert alpha + beta - 2 == pytest.approx(sum(weight.values()))  # about 65 of 120
    assert forward.counts == {"a": 120}


def _switch(bandit: Bandit, respond=None, seed: int = 3) -> float:
    """Two offers trade click rates (12% and 6%) after 10,000 choices, one a second; the
    share of the right offer over choices 12,000 to 14,000."""
    rng = random.Random(seed)
    good_late = 0
    for i in range(14_000):
        rates = {"a": 0.12, "b": 0.06} if i < 10_000 else {"a": 0.06, "b": 0.12}
        arm, _ = bandit.choose(["a", "b"], seed=i, now=i * 1000)
        reward = float(rng.random() < rates[arm])
        bandit.update(arm, reward, now=i * 1000)
        if respond is not None:
            respond(arm, reward)
        good_late += i >= 12_000 and arm == "b"
    return good_late / 2_000


def test_discounted_thompson_follows_a_switch_that_stationary_sampling_keeps_missing() -> None:
    assert _switch(Bandit("thompson", half_life_ms=600_000)) > 0.85  # a 10-minute half-life
    # Whether stationary sampling stumbles on the change depends on its luck: on average
    # over runs it keeps missing.
    stationary = [_switch(Bandit("thompson"), seed=seed) for seed in range(3, 7)]
    assert sum(stationary) / len(stationary) < 0.3, stationary


def test_a_detection_with_shrink_makes_stationary_sampling_follow_the_switch() -> None:
    bandit, watch = Bandit("thompson"), DriftWatch("adwin")

    def respond(arm: str, reward: float) -> None:
        if watch.update(arm, reward):
            bandit.forget(arm, keep=5)

    assert _switch(bandit, respond) > 0.85 and watch.detections["a"] >= 1


def test_forgetting_keeps_logged_propensities_equal_to_the_choice_frequency() -> None:
    bandit = Bandit("thompson")
    rng = random.Random(5)
    for _ in range(400):
        for arm, rate in (("a", 0.10), ("b", 0.05), ("c", 0.04)):
            bandit.update(arm, float(rng.random() < rate))
    bandit.forget("a", keep=20)
    assert bandit.posterior("a") == (1.0, 1.0)
    alpha, beta = bandit.posterior("b")
    assert alpha + beta - 2 == pytest.approx(20)
    # After the reset the policy is a new distribution: each logged propensity is the
    # probability of the choice under it, so OPE on the log stays unbiased.
    choices = [bandit.choose(["a", "b", "c"], seed=s) for s in range(3_000)]
    counts = Counter(arm for arm, _ in choices)
    for arm in "abc":
        logged = [p for a, p in choices if a == arm]
        if logged:
            mean_logged = sum(logged) / len(logged)
            assert abs(counts[arm] / 3_000 - mean_logged) < 0.05, arm


CAMPAIGN = """
[[campaign]]
id = "promo"
channels = ["web"]
drift = { response = "shrink", keep = 10, delta = 0.01 }
[[campaign.offer]]
id = "a"
[[campaign.offer]]
id = "b"
"""


def test_a_policy_state_detects_responds_and_documents_the_change() -> None:
    campaign = parse_campaigns(CAMPAIGN).campaigns["promo"]
    assert campaign.drift == DriftConfig("adwin", 0.01, "shrink", 10.0, None)
    state = PolicyState(campaign)
    rng = random.Random(2)
    found = []
    for i in range(6_000):
        offer = "a" if i % 4 else "b"
        rate = 0.10 if offer == "b" else (0.20 if i < 3_000 else 0.02)
        reward = {"decision_id": f"d{i}", "offer": offer, "channel": "web", "segment": "s",
                  "reward": float(rng.random() < rate), "context": {}, "ts": i * 1000}  # fmt: skip
        found += state.learn(reward, campaign.drift)
    changes = [d for d in found if d["stream"] == "reward"]
    assert changes and changes[0]["offer_id"] == "a" and changes[0]["ts"] >= 3_000_000
    first = changes[0]
    assert first["response"] == "shrink" and first["mean_before"] > first["recent_mean"]
    assert (first["campaign_id"], first["segment"], first["detector"]) == ("promo", "s", "adwin")
    doc = state.document("s")
    kept = {k: first[k] for k in ("ts", "stream", "offer_id", "response")}
    assert kept in doc["drifts"] and len(doc["drifts"]) == len(found)
    # report only: the same stream is detected but the posteriors are left alone
    quiet = PolicyState(campaign)
    report = DriftConfig(response="report")
    for i in range(6_000):
        rate = 0.20 if i < 3_000 else 0.02
        reward = {"decision_id": f"d{i}", "offer": "a", "channel": "web",
                  "reward": float(rng.random() < rate), "context": {}, "ts": i}  # fmt: skip
        quiet.learn(reward, report)
    assert quiet.bandit.pulls()["a"] == 6_000
    assert sum(quiet.bandit.posterior("a")) == pytest.approx(6_002)
    assert quiet.detections and quiet.detections[0]["response"] == "report"


def test_bad_drift_tables_are_refused_with_their_line() -> None:
    bad = CAMPAIGN.replace('response = "shrink", keep = 10', 'response = "panic", keep = -1')
    with pytest.raises(CampaignErrors) as err:
        parse_campaigns(bad.replace("delta = 0.01", 'half_life = "soon"'))
    text = str(err.value)
    assert "'panic' is not one of report, reset, shrink" in text and "keep" in text
    assert "half_life" in text


def test_drift_scenarios_parse_and_change_what_the_oracle_sees() -> None:
    with pytest.raises(ValueError, match="expected switch@N"):
        Drift.parse("flip@10")
    with pytest.raises(ValueError, match="positive length"):
        Drift.parse("fade@10")
    results, population, _tail = compare(
        6_000, delay=100, drift=Drift.parse("new_offer@3000"), progress=False
    )
    oracle = results["oracle"]
    assert oracle.regret == 0 and oracle.recovery == 0  # the oracle is its own yardstick
    # before the launch nobody could pick the new offer; after it, it is everybody's best
    assert results["uniform_random"].recovery is None
    launched = Drift.parse("new_offer@3000").after(population)
    newest = population.offers[-1]
    assert all(
        launched.oracle(p, "web", population.offers)[0] == newest for p in population.personas
    )
