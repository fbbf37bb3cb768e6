"""Offline policy evaluation against known ground truth."""

from __future__ import annotations

import math
import random

import orjson
import pytest

from models import ope
from models.ope import Logged
from models.ope_log import check_table, read_log

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
    with pytest.raises(ValueError, match=r":2: missing context, action, propensity, reward"):
        read_log(str(path))


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"context": {"seg": 1}, "action": "a", "propensity": 0.5, "reward": 1}', "context"),
        ('{"context": 3, "action": "a", "propensity": 0.5, "reward": 1}', "context"),
        ('{"context": "s", "action": "a", "propensity": 0, "reward": 1}', "propensity"),
        ('{"context": "s", "action": "a", "propensity": 1.5, "reward": 1}', "propensity"),
        ('{"context": "s", "action": "a", "propensity": 0.5, "reward": "yes"}', "reward"),
        ('{"context": "s", "action": "a", "propensity": 0.5, "reward": 1, "actions": ["b"]}',
         "not among"),
        ("[1, 2]", "JSON object"),
        ("{not json", "not JSON"),
    ],
)  # fmt: skip
def test_read_log_refuses_what_it_cannot_evaluate(tmp_path, line, problem) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(ValueError, match=problem):
        read_log(str(path))


def test_target_tables_are_checked_against_the_log() -> None:
    log = logged_data(200, seed=5)
    assert check_table(LOGGING, log) == LOGGING
    assert check_table({"*": {"a": 1.0}}, log) == {"*": {"a": 1.0}}
    for table, problem in (
        ([["young", "a", 1.0]], "JSON object"),
        ({"young": {"A": 1.0}, "old": {"a": 1.0}}, "never shows: 'A'"),
        ({"young": {"a": 0.5, "b": 0.4}, "old": {"a": 1.0}}, "sums to 0.9"),
        ({"0": {"a": 1.0}, "1": {"b": 1.0}}, "contexts the log never shows: '0', '1'"),
        ({"young": {"a": 1.0}}, "no row for the log's contexts 'old'"),
        ({"young": {"a": "1"}, "old": {"a": 1.0}}, "numbers in"),
        ({"young": {}, "old": {"a": 1.0}}, "non-empty"),
    ):
        with pytest.raises(ValueError, match=problem):
            check_table(table, log)


def test_intervals_stay_within_the_reward_range() -> None:
    """Few decisions and a target far from the logging policy: the normal interval would
    reach below 0 and above 1; the policy's value cannot."""
    log = logged_data(40, seed=3)
    far = ope.table_target({"young": {"c": 1.0}, "old": {"c": 1.0}})
    for estimate in (ope.ipw(log, far), ope.snipw(log, far), ope.doubly_robust(log, far)):
        assert 0.0 <= estimate.low <= estimate.high <= 1.0, estimate


def _contextual_log(n: int, seed: int) -> tuple[list[Logged], float]:
    """A logging policy per segment, and a target whose probabilities follow a hidden
    per-decision score (as a contextual model's would); the true value is known exactly."""
    rng = random.Random(seed)
    out, truth = [], 0.0
    for _ in range(n):
        context = rng.choice(CONTEXTS)
        probs = LOGGING[context]
        action = rng.choices(list(probs), weights=list(probs.values()))[0]
        reward = float(rng.random() < TRUTH[context, action])
        score = rng.random()
        target = {"a": 0.6 * score, "b": 0.6 * (1 - score), "c": 0.4}
        truth += sum(p * TRUTH[context, a] for a, p in target.items())
        out.append(Logged(context, action, probs[action], reward, ACTIONS,
                          tuple(sorted(target.items()))))  # fmt: skip
    return out, truth / n


def test_a_contextual_target_logged_per_decision_is_covered_by_every_estimator() -> None:
    log, truth = _contextual_log(40_000, seed=11)
    for estimator in (ope.ipw, ope.snipw, ope.direct_method, ope.doubly_robust,
                      ope.self_normalized_dr):  # fmt: skip
        estimate = estimator(log, ope.logged_target)
        assert estimate.low <= truth <= estimate.high, (estimate, truth)
        assert estimate.high - estimate.low < 0.03, estimate


def test_direct_method_and_self_normalized_dr_follow_their_textbook_formulas() -> None:
    """On four decisions with a given reward model q, by hand:
    DM = mean_i sum_a pi(a|x_i) q(x_i, a);
    SNDR = mean_i [sum_a pi(a|x_i) q(x_i, a) + (w_i / mean_j w_j) (r_i - q(x_i, a_i))]."""
    log = [
        Logged("x", "a", 0.5, 1.0, ("a", "b")),
        Logged("x", "b", 0.5, 0.0, ("a", "b")),
        Logged("y", "a", 0.25, 0.0, ("a", "b")),
        Logged("y", "b", 0.75, 1.0, ("a", "b")),
    ]
    q = {("x", "a"): 0.6, ("x", "b"): 0.2, ("y", "a"): 0.1, ("y", "b"): 0.7}
    target = ope.table_target({"x": {"a": 0.9, "b": 0.1}, "y": {"a": 0.3, "b": 0.7}})
    model = lambda context, action: q[context, action]  # noqa: E731
    direct = {"x": 0.9 * 0.6 + 0.1 * 0.2, "y": 0.3 * 0.1 + 0.7 * 0.7}
    weights = [0.9 / 0.5, 0.1 / 0.5, 0.3 / 0.25, 0.7 / 0.75]
    mean_w = sum(weights) / 4
    dm = (2 * direct["x"] + 2 * direct["y"]) / 4
    sndr = (
        sum(
            direct[r.context] + w / mean_w * (r.reward - q[r.context, r.action])
            for r, w in zip(log, weights, strict=True)
        )
        / 4
    )
    assert math.isclose(ope.direct_method(log, target, q=model).value, dm, rel_tol=1e-12)
    assert math.isclose(ope.self_normalized_dr(log, target, q=model).value, sndr, rel_tol=1e-12)


def test_bootstrap_intervals_cover_the_truth_like_the_normal_ones() -> None:
    log, truth = _contextual_log(4_000, seed=12)
    for estimator in (ope.ipw, ope.doubly_robust):
        normal = estimator(log, ope.logged_target)
        boot = ope.bootstrap(estimator, log, ope.logged_target, resamples=100, seed=1)
        assert boot.value == normal.value and boot.method.endswith(":bootstrap")
        assert boot.low <= truth <= boot.high, (boot, truth)
        width, normal_width = boot.high - boot.low, normal.high - normal.low
        assert 0.6 < width / normal_width < 1.6, (boot, normal)


def test_read_log_takes_a_per_decision_target(tmp_path) -> None:
    path = tmp_path / "log.jsonl"
    row = {"context": "s", "action": "a", "propensity": 0.5, "reward": 1,
           "actions": ["a", "b"], "target": {"b": 0.25, "a": 0.75}}  # fmt: skip
    path.write_text(orjson.dumps(row).decode() + "\n")
    assert read_log(str(path))[0].target == (("a", 0.75), ("b", 0.25))
    for bad, problem in (({"a": 0.5}, "sums to 0.5"), ({"c": 1.0}, "not available"),
                         ([0.5, 0.5], "non-empty object")):  # fmt: skip
        path.write_text(orjson.dumps({**row, "target": bad}).decode() + "\n")
        with pytest.raises(ValueError, match=problem):
            read_log(str(path))


def test_bootstrap_percentiles_ignore_resamples_without_an_estimate() -> None:
    """SNIPW has no value on a resample where the target's action never occurs (about 4% of
    them here); such resamples are left out before the percentiles are taken. Sorted among
    the others, a NaN scrambles the order and the interval came out as [0.125, 0.833]."""
    paid = [Logged("s", "a", 0.5, reward, ("a", "b")) for reward in (0.0, 0.5, 1.0)]
    log = paid + [Logged("s", "b", 0.5, 0.0, ("a", "b"))] * 17
    always_a = ope.table_target({"*": {"a": 1.0}})
    boot = ope.bootstrap(ope.snipw, log, always_a, resamples=200, seed=4)
    # a resample holding only the first (or only the last) "a" estimates 0 (or 1): about 5%
    # of resamples each, so the 2.5% and 97.5% percentiles are exactly 0 and 1
    assert (boot.low, boot.high) == (0.0, 1.0)
