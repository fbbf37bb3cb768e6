"""Offline policy evaluation against known ground truth."""

from __future__ import annotations

import random

from models import ope
from models.ope import Logged

CONTEXTS = ("young", "old")
ACTIONS = ("a", "b", "c")
TRUTH = {
    ("young", "a"): 0.10,
    ("young", "b"): 0.30,
    ("young", "c"): 0.05,
    ("old", "a"): 0.25,
    ("old", "b"): 0.05,
    ("old", "c"): 0.15,
}
LOGGING = {"young": {"a": 0.6, "b": 0.2, "c": 0.2}, "old": {"a": 0.1, "b": 0.6, "c": 0.3}}


def logged_data(n: int, seed: int, policy=LOGGING) -> list[Logged]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        context = rng.choice(CONTEXTS)
        probs = policy[context]
        action = rng.choices(list(probs), weights=list(probs.values()))[0]
        reward = float(rng.random() < TRUTH[context, action])
        out.append(Logged(context, action, probs[action], reward, ACTIONS))
    return out


def true_value(target) -> float:
    return sum(0.5 * p * TRUTH[c, a] for c in CONTEXTS for a, p in target(c, ACTIONS).items())


def test_ipw_with_the_logging_policy_as_target_reproduces_the_logged_mean() -> None:
    log = logged_data(20_000, seed=1)
    estimate = ope.ipw(log, ope.table_target(LOGGING))
    logged_mean = sum(r.reward for r in log) / len(log)
    assert estimate.low <= logged_mean <= estimate.high
    assert abs(estimate.value - logged_mean) < 1e-12  # every weight is exactly 1


def test_estimators_cover_the_true_value_of_other_policies() -> None:
    log = logged_data(40_000, seed=2)
    best = ope.table_target({"young": {"b": 1.0}, "old": {"a": 1.0}})
    for target in (ope.uniform, best):
        truth = true_value(target)
        for estimate in (
            ope.ipw(log, target),
            ope.snipw(log, target),
            ope.doubly_robust(log, target),
        ):
            assert estimate.low <= truth <= estimate.high, (estimate, truth)
            assert estimate.high - estimate.low < 0.03


def test_greedy_target_learned_from_the_log_finds_the_best_actions() -> None:
    log = logged_data(20_000, seed=3)
    greedy = ope.greedy(log)
    assert greedy("young", ACTIONS) == {"b": 1.0} and greedy("old", ACTIONS) == {"a": 1.0}


def test_replay_of_a_learning_policy_on_a_uniform_log() -> None:
    uniform = {c: {a: 1 / 3 for a in ACTIONS} for c in CONTEXTS}
    log = logged_data(60_000, seed=4, policy=uniform)
    replayed = ope.replay(log, "thompson")
    random_value = true_value(ope.uniform)
    oracle_value = 0.5 * 0.30 + 0.5 * 0.25
    assert replayed.n > 15_000  # about a third of the log matches
    assert random_value < replayed.low and replayed.value <= oracle_value + 0.01


def test_read_log_names_the_bad_line(tmp_path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text('{"context": "s", "action": "a", "propensity": 0.5, "reward": 1}\n{"x": 1}\n')
    try:
        ope.read_log(str(path))
    except ValueError as exc:
        assert ":2:" in str(exc)
    else:
        raise AssertionError("a bad line was accepted")
