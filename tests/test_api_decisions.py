"""API decisions in the flow's terms: screened and chosen by the flow's rules, and recorded in
the user's ledger, also when their feedback arrives before the ``recorded`` message."""

from __future__ import annotations

import random

import orjson

from models import thompson
from operators.feedback import Feedback
from operators.served_decisions import Seen, choose, recorded, screened
from schemas.event import EventType
from schemas.rejection import Reason
from state.campaign_file import parse_campaigns
from state.policy import seed_of
from tests.test_decision_step import CAMPAIGNS, T0, consented

CATALOG = parse_campaigns(CAMPAIGNS)
PROFILE = orjson.dumps(
    {"features": {}, "segments": ["vip"],
     "consent": {"marketing": {"granted": True, "ts": 1, "source": "s"}}}
)  # fmt: skip


def test_caps_seen_in_the_slots_close_the_channel_as_in_the_flow() -> None:
    two_webs = {b"d1": f"promo|web|{T0 - 10}".encode(), b"d2": f"promo|web|{T0 - 5}".encode()}
    plan = screened(CATALOG, "u", Seen.read(PROFILE, two_webs), "web", T0, "r1", "7d")
    assert plan.candidate is None and plan.decision["reason"] == "promo:frequency_cap,cart:rule"
    plan = screened(CATALOG, "u", Seen.read(PROFILE, two_webs), None, T0, "r1", "7d")
    assert plan.candidate.channels == ("email",)  # web is capped, email is open
    yesterday = {k: f"promo|web|{T0 - 86_400_001}".encode() for k in two_webs}
    assert screened(CATALOG, "u", Seen.read(PROFILE, yesterday), "web", T0, "r1", "7d").candidate


def test_choice_propensity_and_fallbacks() -> None:
    plan = screened(CATALOG, "u", Seen.read(PROFILE, {}), "web", T0, "r1", "7d")
    candidate = plan.candidate
    assert candidate.request["decision_id"].startswith("a_")
    sure = {"a": {"alpha": 500.0, "beta": 1.0, "pulls": 500}, "b": {"alpha": 1.0, "beta": 500.0}}
    fresh = {"arms": sure, "updated_ms": T0 - 1_000, "rewards": 501}
    record, fallback = choose(candidate, fresh, T0, max_age_ms=60_000)
    assert (record["offer_id"], record["propensity"], fallback) == ("a", 1.0, None)
    assert record["model_version"].endswith(":501") and record["trigger"] == "api"
    assert choose(candidate, fresh, T0, 60_000) == (record, None)  # a retry chooses the same
    record, fallback = choose(candidate, {**fresh, "updated_ms": T0 - 120_000}, T0, 60_000)
    assert (record["propensity"], record["policy"], fallback) == (0.5, "random", "stale_posteriors")
    unseen, _ = choose(candidate, None, T0, 60_000)  # nothing learned yet: the priors
    assert unseen["policy"] == "thompson" and 0 < unseen["propensity"] <= 1


def test_api_choice_is_the_flows_thompson_choice() -> None:
    """Offer and propensity as :func:`models.thompson.choose` gives them, also when the
    propensity is remembered from an earlier decision on the same posteriors."""
    candidate = screened(CATALOG, "u", Seen.read(PROFILE, {}), "web", T0, "r1", "7d").candidate
    assert len(candidate.offers) > 1
    rng = random.Random(4)
    for n in range(40):
        arms = {o: {"alpha": rng.uniform(1, 60), "beta": rng.uniform(1, 900)}
                for o in candidate.offers}  # fmt: skip
        doc = {"arms": arms, "updated_ms": T0}
        posteriors = [(arms[o]["alpha"], arms[o]["beta"]) for o in candidate.offers]
        for request in (f"r{n}", f"s{n}", f"r{n}"):
            plan = screened(CATALOG, "u", Seen.read(PROFILE, {}), "web", T0, request, "7d")
            record, _ = choose(plan.candidate, doc, T0, 60_000)
            index, propensity = thompson.choose(posteriors, seed_of(record["decision_id"]))
            assert record["offer_id"] == candidate.offers[index]
            assert record["propensity"] == round(propensity, 6)


def test_feedback_before_the_recorded_message_waits_for_it() -> None:
    h = consented()
    plan = screened(CATALOG, h.logic.user, Seen.read(PROFILE, {}), "web", T0, "r9", "1d")
    record, _ = choose(plan.candidate, None, T0, 60_000)
    did = record["decision_id"]
    h.send("i1", EventType.OFFER_IMPRESSION, T0 + 10, channel="web", decision_id=did)
    h.send("k1", EventType.OFFER_CLICK, T0 + 20, channel="web", decision_id=did)
    assert h.dead == [] and h.rewards == []  # kept, not refused
    h._route(h.logic.on_item(Feedback("recorded", h.logic.user, recorded(record, plan)))[0])
    assert [(r["decision_id"], r["reward"]) for r in h.rewards] == [(did, 1.0)]
    assert [f[1]["stage"] for f in h.funnel][-3:] == ["decision", "impression", "click"]
    h._route(h.logic.on_item(Feedback("recorded", h.logic.user, recorded(record, plan)))[0])
    assert len(h.rewards) == 1  # a replayed message changes nothing


def test_feedback_for_an_api_decision_that_never_comes_is_dead_lettered_later() -> None:
    h = consented()
    h.send("k1", EventType.OFFER_CLICK, T0, channel="web", decision_id="a_unknown")
    h.send("k2", EventType.OFFER_CLICK, T0, channel="web", decision_id="d_unknown")
    assert [d.reason for d in h.dead] == [Reason.UNKNOWN_DECISION]  # the flow's own: at once
    h.tick(T0 + 61_000)
    assert [d.reason for d in h.dead] == [Reason.UNKNOWN_DECISION] * 2
    assert "a_unknown" in h.dead[1].detail
