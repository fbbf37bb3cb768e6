"""Experiments: statistics against scipy and closed forms, assignment stability and balance,
the peeking simulations (A/A false positives, A/B power), definitions, and the user step's
enrollment, holdouts, exposures and metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from models import experiment_stats as st
from models.peeking import simulate
from offerflow.reports.experiment_report import analyse
from operators.experiment_totals import TotalsStep, VariantTotals
from operators.profile_step import ProfileLogic
from schemas.event import EventType
from schemas.rejection import Reason
from state.campaign_file import experiment_from_record, parse_campaigns
from state.campaigns import CampaignErrors
from state.experiments import unit
from tests.test_decision_step import T0, Harness
from tests.test_profile_step import ev

CAMPAIGN = """
[[campaign]]
id = "promo"
channels = ["web", "email"]
reward_window = "1h"
[[campaign.offer]]
id = "a"
[[campaign.offer]]
id = "b"
"""


def sample(y: np.ndarray, x: np.ndarray | None = None) -> st.Sample:
    x = np.zeros_like(y) if x is None else x
    return st.Sample(len(y), y.sum(), (y * y).sum(), x.sum(), (x * x).sum(), (x * y).sum())


# -- statistics ---------------------------------------------------------------------------


def test_two_proportion_z_test_equals_the_chi_square_test_and_the_closed_form() -> None:
    control, treatment = st.Sample(2400, 240, 240), st.Sample(2500, 300, 300)
    r = st.two_proportions(control, treatment)
    table = [[240, 2400 - 240], [300, 2500 - 300]]
    chi2 = stats.chi2_contingency(table, correction=False)
    assert r.p_value == pytest.approx(chi2.pvalue, rel=1e-9)
    pc, pt = 0.1, 0.12
    se = math.sqrt(pc * (1 - pc) / 2400 + pt * (1 - pt) / 2500)
    assert r.diff_ci == pytest.approx((0.02 - 1.959964 * se, 0.02 + 1.959964 * se), rel=1e-5)
    log_se = math.sqrt((1 - pt) / (2500 * pt) + (1 - pc) / (2400 * pc))
    assert r.lift == pytest.approx(0.2)
    assert r.lift_ci == pytest.approx(
        (1.2 * math.exp(-1.959964 * log_se) - 1, 1.2 * math.exp(1.959964 * log_se) - 1), rel=1e-5
    )


def test_welch_from_sums_equals_scipy_on_the_raw_values() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.exponential(20.0, 800), rng.exponential(23.0, 650)
    r = st.welch(sample(a), sample(b))
    ref = stats.ttest_ind(b, a, equal_var=False)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-7)
    low, high = ref.confidence_interval(0.95)
    assert r.diff_ci == pytest.approx((low, high), rel=1e-7)


def test_beta_binomial_probability_matches_numerical_integration() -> None:
    control, treatment = st.Sample(400, 40, 40), st.Sample(420, 52, 52)
    b = st.beta_binomial(control, treatment)
    pc, pt = stats.beta(41, 361), stats.beta(53, 369)
    exact, _ = integrate.quad(lambda p: pt.pdf(p) * pc.cdf(p), 0, 1, points=[0.1, 0.12])
    assert b.prob_better == pytest.approx(exact, abs=0.005)
    loss, _ = integrate.quad(
        lambda p: pc.pdf(p) * integrate.quad(lambda q: (p - q) * pt.pdf(q), 0, p)[0], 0, 1
    )
    assert b.loss_variant == pytest.approx(loss, abs=0.0005)


def test_msprt_is_the_normal_mixture_likelihood_ratio() -> None:
    control, treatment = st.Sample(3000, 150, 150), st.Sample(3000, 195, 195)
    both = control + treatment
    v = both.var * (2 / 3000)
    tau2 = 0.05**2 * both.var
    diff = treatment.mean - control.mean
    lam = math.sqrt(v / (v + tau2)) * math.exp(diff**2 * tau2 / (2 * v * (v + tau2)))
    s = st.msprt(control, treatment, tau=0.05)
    assert s.p_value == pytest.approx(min(1.0, 1 / lam), rel=1e-9)
    low, high = s.diff_ci
    assert low < diff < high and (low > 0) == (s.p_value < 0.05)  # the sequence inverts the test


def test_sample_ratio_check_equals_scipy_chisquare() -> None:
    srm = st.sample_ratio([3300, 3350, 3180], [1, 1, 1])
    assert srm.p_value == pytest.approx(stats.chisquare([3300, 3350, 3180]).pvalue)
    assert not srm.mismatch()
    assert st.sample_ratio([3300, 3350, 2900], [1, 1, 1]).mismatch()


def test_cuped_equals_the_regression_adjustment_on_raw_values() -> None:
    rng = np.random.default_rng(5)
    xa, xb = rng.gamma(2.0, 10.0, 1000), rng.gamma(2.0, 10.0, 1200)
    ya, yb = 0.8 * xa + rng.normal(0, 5, 1000), 0.8 * xb + 2 + rng.normal(0, 5, 1200)
    (a, b), theta, reduction = st.cuped([sample(ya, xa), sample(yb, xb)])
    x, y = np.concatenate([xa, xb]), np.concatenate([ya, yb])
    ref_theta = np.cov(x, y)[0, 1] / np.var(x, ddof=1)
    assert theta == pytest.approx(ref_theta, rel=1e-9)
    adj_a, adj_b = ya - theta * (xa - x.mean()), yb - theta * (xb - x.mean())
    assert (a.mean, a.var) == pytest.approx((adj_a.mean(), adj_a.var(ddof=1)), rel=1e-9)
    assert (b.mean, b.var) == pytest.approx((adj_b.mean(), adj_b.var(ddof=1)), rel=1e-9)
    assert reduction > 0.8  # y is mostly x: the covariate removes most of the variance
    test, _ = st.cuped_welch(sample(ya, xa), sample(yb, xb))
    raw = st.welch(sample(ya, xa), sample(yb, xb))
    assert test.diff_ci[1] - test.diff_ci[0] < 0.5 * (raw.diff_ci[1] - raw.diff_ci[0])


def test_users_needed_is_the_textbook_formula() -> None:
    control, treatment = st.Sample(1000, 100, 100), st.Sample(1000, 120, 120)
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.9)
    want = math.ceil(z**2 * (control.var + treatment.var) / 0.01**2)
    assert st.users_needed(control, treatment, 0.01, power=0.9) == want


# -- peeking ------------------------------------------------------------------------------


def test_aa_sequential_test_holds_alpha_under_continuous_peeking_and_fixed_does_not() -> None:
    r = simulate(experiments=1000, users=20_000, step=100, rate=0.05, lift=0.0, seed=11)
    assert r.looks == 200
    assert r.sequential <= 0.05 + 2 * r.standard_error(0.05)
    assert r.fixed_peeking > 0.05 + 10 * r.standard_error(0.05)  # peeking inflates it
    assert abs(r.fixed_final - 0.05) <= 3 * r.standard_error(0.05)  # used as designed: fine


def test_ab_power_at_a_twenty_percent_lift() -> None:
    r = simulate(experiments=1000, users=20_000, step=100, rate=0.05, lift=0.2, seed=12)
    assert r.sequential >= 0.9
    assert r.fixed_final >= 0.95


# -- assignment ---------------------------------------------------------------------------


def catalog(experiments: str, holdout: str = ""):
    return parse_campaigns(CAMPAIGN + holdout + experiments)


THREE_WAY = """
[[experiment]]
id = "e"
campaign = "promo"
[[experiment.variant]]
id = "x"
[[experiment.variant]]
id = "y"
[[experiment.variant]]
id = "z"
"""


def test_assignment_is_balanced_over_100000_ids_and_stable() -> None:
    exp = catalog(THREE_WAY).experiments["e"]
    ids = [f"{i:032x}" for i in range(100_000)]
    first = [exp.assign(u).id for u in ids]
    counts = [first.count(v) for v in ("x", "y", "z")]
    assert stats.chisquare(counts).pvalue > 0.001
    again = catalog(THREE_WAY).experiments["e"]  # a fresh parse, as another worker would
    assert [again.assign(u).id for u in ids[:5000]] == first[:5000]


def test_raising_a_weight_moves_nobody_already_assigned() -> None:
    ramp = THREE_WAY.replace('id = "x"', 'id = "x"\nweight = 0.05')
    before = catalog(ramp).experiments["e"]
    after = catalog(ramp.replace("weight = 0.05", "weight = 0.3")).experiments["e"]
    ids = [f"u{i}" for i in range(20_000)]
    was, now = [before.assign(u) for u in ids], [after.assign(u) for u in ids]
    assert all(b is None or (a is not None and a.id == b.id) for b, a in zip(was, now, strict=True))
    grew = sum(1 for a in now if a is not None and a.id == "x") / len(ids)
    assert grew == pytest.approx(0.3, abs=0.01)


def test_experiments_of_one_layer_never_share_a_user() -> None:
    def layered(experiment_id: str, traffic: str) -> str:
        return THREE_WAY.replace('id = "e"', f'id = "{experiment_id}"\nlayer = "l"\n{traffic}')

    two = layered("left", "traffic = [0.0, 0.4]") + layered("right", "traffic = [0.4, 1.0]")
    exps = catalog(two).experiments
    both = [u for u in (f"u{i}" for i in range(20_000)) if all(e.assign(u) for e in exps.values())]
    assert not both
    share = sum(1 for i in range(20_000) if exps["left"].assign(f"u{i}")) / 20_000
    assert share == pytest.approx(0.4, abs=0.015)
    with pytest.raises(CampaignErrors, match="overlaps experiment 'left'"):
        catalog(two.replace("traffic = [0.4, 1.0]", "traffic = [0.3, 1.0]"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ('campaign = "promo"', "campaign 'nope' does not exist"),
        ('id = "x"', "weight must be in"),
        ('id = "z"', "max_weight add up to more than 1"),
        ("[[experiment]]", "control: 'w' is not one of the variants"),
    ],
)
def test_bad_experiments_are_refused_with_the_reason(change: str, message: str) -> None:
    broken = {
        'campaign = "promo"': 'campaign = "nope"',
        'id = "x"': 'id = "x"\nweight = 0.9',
        'id = "z"': 'id = "z"\nmax_weight = 0.5',
        "[[experiment]]": '[[experiment]]\ncontrol = "w"',
    }[change]
    with pytest.raises(CampaignErrors, match=message):
        catalog(THREE_WAY.replace(change, broken, 1))


def test_topic_records_parse_like_the_file() -> None:
    record = b'{"campaign": "promo", "variant": [{"id": "a"}, {"id": "b", "offers": ["b"]}]}'
    exp = experiment_from_record("experiment:e2", record)
    assert exp is not None and exp.id == "e2" and exp.variant("b").offers == ("b",)
    with pytest.raises(CampaignErrors, match="at least two"):
        experiment_from_record("experiment:e3", b'{"variant": [{"id": "a"}]}')
    assert experiment_from_record("holdout", b'{"share": 0}') is None


# -- the user step ------------------------------------------------------------------------


def salt_putting_pid(inside: bool, share: float) -> str:
    """A holdout salt that puts the test user ``pid`` inside (or outside) the holdout."""
    return next(f"s{i}" for i in range(1000) if (unit(f"s{i}", "pid") < share) == inside)


def with_pid_in(experiment: str, variant: str) -> str:
    """``experiment`` (one ``[[experiment]]``) with a salt that puts ``pid`` in ``variant``."""
    for i in range(1000):
        salted = experiment.replace("[[experiment]]", f'[[experiment]]\nsalt = "s{i}"', 1)
        chosen = catalog(salted).experiments["e"].assign("pid")
        if chosen is not None and chosen.id == variant:
            return salted
    raise AssertionError("no salt found")


def consented(campaigns: str) -> Harness:
    h = Harness(campaigns)
    h.send("c1", EventType.CONSENT, consent={"marketing": True})
    return h


def test_global_holdout_gets_no_marketing_and_counts_as_exposed_at_the_decision() -> None:
    salt = salt_putting_pid(True, 0.5)
    h = consented(CAMPAIGN + f'[holdout]\nshare = 0.5\nsalt = "{salt}"\n')
    h.send("r1", EventType.DECISION_REQUEST, T0 + 1, channel="web")
    (d,) = h.decisions
    assert d["offer_id"] is None and d["reason"] == "global_holdout"
    assert (d["experiment_id"], d["variant"]) == ("holdout", "holdout")
    ((key, delta, _ts),) = h.experiment
    assert key == "holdout|holdout" and delta[:2] == [1.0, 1.0]
    h.send("p1", EventType.PURCHASE, T0 + 5, properties={"value": 20.0})
    keys = [k for k, *_ in h.experiment[1:]]
    assert keys == ["holdout|holdout", "holdout|holdout"]  # conversion, then revenue


def test_variant_decisions_carry_the_experiment_and_expose_on_delivery() -> None:
    experiment = THREE_WAY.replace('id = "y"', 'id = "y"\npolicy = "random"\noffers = ["b"]')
    h = consented(CAMPAIGN + with_pid_in(experiment, "y"))
    variant = "y"
    h.send("v0", EventType.PAGE_VIEW, T0 + 1)
    h.send("p0", EventType.PURCHASE, T0 + 2, properties={"value": 5.0})  # before exposure
    h.send("r1", EventType.DECISION_REQUEST, T0 + 3, channel="web")
    (d,) = h.decisions
    assert (d["experiment_id"], d["variant"]) == ("e", variant)
    assert d["model_version"].split("@")[1].split(":")[0].endswith(f"+e.{variant}")
    assert d["offer_id"] == "b" and d["policy"] == "random"  # the variant's policy and offers
    assert not h.experiment  # decided, not yet delivered
    h.send("i1", EventType.OFFER_IMPRESSION, T0 + 4, decision_id=d["decision_id"])
    ((key, delta, _ts),) = h.experiment
    assert key == f"e|{variant}" and delta[:2] == [1.0, 1.0]
    h.send("k1", EventType.OFFER_CLICK, T0 + 5, decision_id=d["decision_id"])
    h.send("p1", EventType.PURCHASE, T0 + 6, properties={"value": 30.0})
    h.send("p2", EventType.PURCHASE, T0 + 7, properties={"value": 10.0})
    totals = VariantTotals("e", variant)
    for k, change, ts in h.experiment:
        assert k == key
        totals.add(change, ts)
    doc = totals.document()
    conversion, revenue = doc["metrics"]["conversion"], doc["metrics"]["revenue"]
    assert (doc["users"], doc["exposures"], doc["metrics"]["click"]["sum"]) == (1, 1, 1.0)
    # one conversion however many purchases; covariate: the one purchase before exposure
    assert (conversion["sum"], conversion["x_sum"], conversion["xy_sum"]) == (1.0, 1.0, 1.0)
    assert (revenue["sum"], revenue["sum_sq"], revenue["x_sum"]) == (40.0, 1600.0, 5.0)
    assert revenue["xy_sum"] == 200.0
    # the reward of the variant's decision goes back to the variant's own policy key
    assert h.rewards and h.rewards[0]["segment"].endswith(f"~e={variant}")


@pytest.mark.parametrize("variant", ["x", "z"])
def test_experiment_holdout_variant_withholds_only_its_users(variant: str) -> None:
    experiment = THREE_WAY.replace('id = "z"', 'id = "z"\nholdout = true')
    h = consented(CAMPAIGN + with_pid_in(experiment, variant))
    h.send("r1", EventType.DECISION_REQUEST, T0 + 1, channel="web")
    (d,) = h.decisions
    assert (d["experiment_id"], d["variant"]) == ("e", variant)
    if variant == "z":
        assert d["offer_id"] is None and d["reason"] == "experiment_holdout"
        assert [k for k, *_ in h.experiment] == ["e|z"]  # exposed when withheld
    else:
        assert d["offer_id"] is not None and not h.experiment  # exposed when delivered


def test_totals_and_report_from_user_step_deltas() -> None:
    h = consented(CAMPAIGN + THREE_WAY)
    step = TotalsStep(lambda eid: h.book.current().experiments.get(eid))
    h.send("r1", EventType.DECISION_REQUEST, T0 + 1, channel="web")
    h.send("i1", EventType.OFFER_IMPRESSION, T0 + 2, decision_id=h.decisions[0]["decision_id"])
    state: VariantTotals | None = None
    outputs = []
    for item in h.experiment:
        state, out = step(state, item)
        outputs += out
    kinds = [k for k, _ in outputs]
    assert kinds == ["definition", "variant"]
    definition, doc = outputs[0][1], outputs[1][1]
    assert doc["users"] == 1 and definition["control"] == "x"
    report = analyse(definition, {doc["variant"]: doc})
    assert sum(v["users"] for v in report.variants.values()) == 1


def test_memberships_survive_a_snapshot_and_restore() -> None:
    salt = salt_putting_pid(True, 0.5)
    h = consented(CAMPAIGN + f'[holdout]\nshare = 0.5\nsalt = "{salt}"\n')
    h.send("r1", EventType.DECISION_REQUEST, T0 + 1, channel="web")
    restored = ProfileLogic(h.logic.cfg, h.logic.snapshot())
    out, _ = restored.on_item(ev("p1", EventType.PURCHASE, T0 + 9, properties={"value": 1.0}))
    assert [p[0] for tag, p in out if tag == "experiment"] == ["holdout|holdout"] * 2


def test_a_creative_variant_changes_the_payload_and_a_schedule_bounds_the_experiment() -> None:
    experiment = THREE_WAY.replace(
        'id = "x"', 'id = "x"\ncreative = { web = { headline = "New look" } }'
    ).replace("[[experiment]]", '[[experiment]]\nend = "2027-01-20T00:00:00Z"')  # after T0
    h = consented(CAMPAIGN + with_pid_in(experiment, "x"))
    h.send("r1", EventType.DECISION_REQUEST, T0 + 1, channel="web")
    h.send("r2", EventType.DECISION_REQUEST, T0 + 10 * 86_400_000, channel="web")  # ended
    first, later = h.decisions
    assert first["variant"] == "x" and first["payload"] == {"headline": "New look"}
    assert later["experiment_id"] is None and later["payload"] == {}


def test_a_delivery_after_the_reward_window_closed_still_exposes() -> None:
    h = consented(CAMPAIGN + with_pid_in(THREE_WAY, "x"))
    h.send("r1", EventType.DECISION_REQUEST, T0 + 1, channel="web")
    (d,) = h.decisions
    h.tick(T0 + 2 * 3_600_000)  # the 1 h window closes by the timer: the flow lagged
    assert not h.experiment
    h.send("i1", EventType.OFFER_IMPRESSION, T0 + 2 * 3_600_000, decision_id=d["decision_id"])
    assert [k for k, *_ in h.experiment] == ["e|x"]
    assert [letter.reason for letter in h.dead] == [Reason.LATE_FEEDBACK]
    h.send("k1", EventType.OFFER_CLICK, T0 + 2 * 3_600_000, decision_id=d["decision_id"])
    assert [k for k, *_ in h.experiment] == ["e|x", "e|x"]  # the click metric, not a re-exposure
    assert h.experiment[1][1][:2] == [0.0, 0.0]
