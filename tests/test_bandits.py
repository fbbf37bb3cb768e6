"""Bandit policies: logged propensities match how often each arm is really chosen, choices
are reproducible per decision, and every policy learns a planted best arm."""

from __future__ import annotations

import pickle
import random
from collections import Counter

import pytest
from river import bandit as bandit_module
from river import proba

from models.bandits import KINDS, Bandit

ARMS = ["a", "b", "c", "d"]
TRUTH = {"a": 0.05, "b": 0.10, "c": 0.30, "d": 0.08}


def trained(kind: str, n: int = 600) -> Bandit:
    bandit = Bandit(kind, {"epsilon": 0.2})
    rng = random.Random(1)
    for i in range(n):
        arm = ARMS[i % 4]
        bandit.update(arm, float(rng.random() < TRUTH[arm]), {"bias": 1.0, "x": 0.5}, seed=i)
    return bandit


@pytest.mark.parametrize("kind", ["thompson", "epsilon_greedy", "lints", "random"])
def test_logged_propensity_matches_the_choice_frequency(kind: str) -> None:
    bandit = trained(kind, n=40)  # little data: the choice is genuinely uncertain
    draws = 4000
    chosen = Counter()
    logged: dict[str, list[float]] = {a: [] for a in ARMS}
    for seed in range(draws):
        arm, p = bandit.choose(ARMS, seed=seed)
        chosen[arm] += 1
        logged[arm].append(p)
    for arm in ARMS:
        if chosen[arm] < 100:
            continue
        frequency = chosen[arm] / draws
        mean_logged = sum(logged[arm]) / len(logged[arm])
        assert abs(frequency - mean_logged) < 0.04, (arm, frequency, mean_logged)


@pytest.mark.parametrize("kind", KINDS)
def test_same_decision_same_choice(kind: str) -> None:
    bandit = trained(kind, n=80)
    context = {"bias": 1.0, "x": 0.5}
    assert bandit.choose(ARMS, context, seed=42) == bandit.choose(ARMS, context, seed=42)


@pytest.mark.parametrize("kind", ["thompson", "ucb", "epsilon_greedy", "linucb", "lints"])
def test_every_learning_policy_finds_the_planted_best_arm(kind: str) -> None:
    bandit = Bandit(kind, {"epsilon": 0.1})
    rng = random.Random(3)
    context = {"bias": 1.0}
    late = Counter()
    for i in range(3000):
        arm, _p = bandit.choose(ARMS, context, seed=i)
        bandit.update(arm, float(rng.random() < TRUTH[arm]), context, seed=i)
        if i >= 2000:
            late[arm] += 1
    assert late.most_common(1)[0][0] == "c", late


def test_linucb_learns_which_arm_suits_which_context() -> None:
    bandit = Bandit("linucb")
    rng = random.Random(5)
    young, old = {"bias": 1.0, "young": 1.0}, {"bias": 1.0, "young": 0.0}
    truth = {("a", 1.0): 0.6, ("a", 0.0): 0.1, ("b", 1.0): 0.1, ("b", 0.0): 0.6}
    for i in range(2000):
        context = young if i % 2 else old
        arm = "ab"[(i // 2) % 2]
        bandit.update(arm, float(rng.random() < truth[arm, context["young"]]), context, seed=i)
    assert bandit.choose(["a", "b"], young, seed=1)[0] == "a"
    assert bandit.choose(["a", "b"], old, seed=1)[0] == "b"


def test_revenue_rewards_move_thompson_posteriors_by_their_size() -> None:
    bandit = Bandit("thompson")
    for i in range(5000):
        bandit.update("small", 0.1, seed=i)
        bandit.update("big", 0.6, seed=100_000 + i)
    means = bandit.means()
    assert means["small"] == pytest.approx(0.1, abs=0.025)  # 3.5 standard errors
    assert means["big"] == pytest.approx(0.6, abs=0.025)


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown policy"):
        Bandit("softmax")


@pytest.mark.parametrize("half_life_ms", [None, 10**12])
def test_a_provisional_miss_is_replaced_by_its_reward(half_life_ms) -> None:
    bandit = Bandit("thompson", half_life_ms=half_life_ms)
    for _ in range(3):
        bandit.assume_miss("a", now=0)
    assert bandit.posterior("a") == pytest.approx((1.0, 4.0))
    bandit.update("a", 1.0, now=0, provisional=True)
    bandit.update("a", 0.0, now=0, provisional=True)
    assert bandit.posterior("a") == pytest.approx((2.0, 3.0))  # one click, two misses so far
    assert bandit.pulls() == {"a": 2}
    bandit.update("a", 0.0, now=0, provisional=True)
    bandit.update("a", 1.0, now=0, provisional=True)  # its miss was never assumed (a reset)
    assert bandit.posterior("a") == pytest.approx((3.0, 3.0))


@pytest.mark.parametrize("provisional", [True, False])
def test_uneven_delays_inflate_the_mean_only_without_provisional_misses(provisional) -> None:
    """Clicks land 10 shows later, misses 3,000 later (when the window ends): learning each
    outcome when it becomes known overrates a 5% offer; a provisional miss does not."""
    bandit = Bandit("thompson")
    rng = random.Random(2)
    landing: dict[int, list[float]] = {}
    for i in range(6_000):
        won = rng.random() < 0.05
        if provisional:
            bandit.assume_miss("a")
        landing.setdefault(i + (10 if won else 3_000), []).append(float(won))
        for reward in landing.pop(i, []):
            bandit.update("a", reward, provisional=provisional)
    mean = bandit.means()["a"]
    if provisional:
        assert mean == pytest.approx(0.05, abs=0.012)
    else:
        assert mean > 0.08


def test_ucb_and_linucb_are_deterministic_with_ties_to_the_callers_order() -> None:
    for kind in ("ucb", "linucb"):
        bandit = Bandit(kind)
        assert bandit.choose(["b", "a"], {"bias": 1.0}, seed=1) == ("b", 1.0)
        assert bandit.choose(["a", "b"], {"bias": 1.0}, seed=2) == ("a", 1.0)


def test_a_bandit_pickled_with_a_river_policy_loads_its_statistics() -> None:
    """Earlier versions kept a ``river.bandit`` policy in the bandit; such a snapshot keeps
    its posteriors and counts."""
    old = bandit_module.ThompsonSampling(reward_obj=proba.Beta())
    for reward in (True, True, False):
        old.update("a", reward)
    legacy = Bandit.__new__(Bandit)
    legacy.__dict__.update(
        {"kind": "thompson", "samples": 256, "ucb_samples": 16, "updates": 3, "clock": 5,
         "discounted": None, "policy": old}
    )  # fmt: skip
    loaded = pickle.loads(pickle.dumps(legacy))
    assert loaded.posterior("a") == (3.0, 2.0) and loaded.pulls() == {"a": 3}
    assert loaded.choose(["a", "b"], seed=1)[1] > 0
    means = Bandit.__new__(Bandit)
    greedy = bandit_module.EpsilonGreedy(epsilon=0.3)
    greedy.update("a", 1.0)
    means.__dict__.update({"kind": "epsilon_greedy", "updates": 1, "clock": 0,
                           "discounted": None, "policy": greedy})  # fmt: skip
    loaded = pickle.loads(pickle.dumps(means))
    assert loaded.means() == {"a": 1.0} and loaded.epsilon == 0.3


def test_forgetting_an_arm_drops_its_provisional_misses() -> None:
    bandit = Bandit("thompson")
    for _ in range(4):
        bandit.assume_miss("a")
    bandit.forget("a")
    bandit.update("a", 1.0, provisional=True)  # its miss went with the reset
    assert bandit.posterior("a") == (2.0, 1.0)


def test_a_linear_policy_learns_the_same_from_a_provisional_miss_and_its_reward() -> None:
    direct, provisional = Bandit("linucb"), Bandit("linucb")
    rng = random.Random(6)
    for _ in range(50):
        context = {"bias": 1.0, "x": rng.random()}
        reward = float(rng.random() < 0.3)
        direct.update("a", reward, context)
        provisional.assume_miss("a", context)
        provisional.update("a", reward, context, provisional=True)
    (a1, b1), (a2, b2) = direct.linear.arms["a"], provisional.linear.arms["a"]
    assert a1 == pytest.approx(a2) and b1 == pytest.approx(b2)
    assert direct.means() == pytest.approx(provisional.means())
