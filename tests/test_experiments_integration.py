"""Experiments through the real broker and Redis: the shipped bandit / random / holdout
experiment plus a global holdout, driven by the simulator's population and the reference
senders. Every decision carries the user's deterministic variant, holdouts get nothing, and
the flow's Redis sums count exactly the users and exposures the simulator delivered."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from offerflow.kafka_io import read_to_end
from offerflow.lab.simulator import Simulator
from offerflow.reports.experiment_report import live, render, variant_counts
from operators.campaign_book import CampaignBook, default_campaigns_text
from operators.redis_mirror import client_for
from tests.conftest import Run, tailing_flow, wait_for

pytestmark = pytest.mark.integration


def test_experiment_assignment_holdouts_and_sums(live_stack: None, tmp_path: Path) -> None:
    campaigns = tmp_path / "campaigns.toml"
    text = default_campaigns_text().replace('reward_window = "30m"', 'reward_window = "8s"')
    campaigns.write_text(text + "\n[holdout]\nshare = 0.1\n")
    catalog = CampaignBook(str(campaigns)).current()
    experiment, holdout = catalog.experiments["spring_policy"], catalog.holdout
    assert holdout is not None
    run = Run(
        OFFERFLOW_TAIL="true",
        OFFERFLOW_CAMPAIGNS_FILE=str(campaigns),
        OFFERFLOW_SEGMENTS_FILE=str(Path("state/persona_segments.toml").resolve()),
    )
    redis = client_for(run.settings.redis_url)

    try:
        with tailing_flow(run) as flow:
            sim = Simulator(run.settings, users=300, seed=4, outbox_dir=str(tmp_path / "out"))
            report = sim.run(requests=1_500, rate=300)
            assert set(report.exposed) == {
                "holdout|holdout",
                "spring_policy|bandit",
                "spring_policy|random",
                "spring_policy|holdout",
            }

            def counted() -> bool:
                want = {k: (len(users), report.exposures[k]) for k, users in report.exposed.items()}
                return variant_counts(run.settings, redis, report.exposed) == want

            wait_for(counted, 30)
            assert flow.poll() is None
        records = [
            orjson.loads(m.value())
            for m in read_to_end(run.settings, run.settings.topic("decisions"), 5)
        ]
        assert len(records) == 1_500
        for d in records:
            in_holdout = holdout.assign(d["user_id"]).id == "holdout"
            if d["reason"] == "global_holdout":
                assert in_holdout and (d["experiment_id"], d["variant"]) == ("holdout", "holdout")
                continue
            assert not in_holdout or d["offer_id"] is None  # nothing ever reaches the holdout
            if d["experiment_id"] is None:
                assert d["campaign_id"] != "spring_sale" or d["offer_id"] is None
                continue
            assert d["experiment_id"] == "spring_policy" and d["campaign_id"] == "spring_sale"
            variant = experiment.assign(d["user_id"])
            assert variant is not None and d["variant"] == variant.id
            if variant.id == "holdout":
                assert d["offer_id"] is None and d["reason"] == "experiment_holdout"
            elif d["offer_id"] is not None:
                assert d["policy"] == {"bandit": "thompson", "random": "random"}[variant.id]
        marketed = variant_counts(run.settings, redis, ["holdout|marketed"])["holdout|marketed"]
        delivered_to = {d.user for d in report.delivered}  # every delivery, whatever the campaign
        assert marketed == (len(delivered_to), len(report.delivered))

        reports = {r.definition["id"]: r for r in live(run.settings, redis)}
        assert set(reports) == {"spring_policy", "holdout"}
        spring = reports["spring_policy"]
        assert not spring.sample_ratio.mismatch()
        assert {(r.variant, r.metric) for r in spring.results} == {
            (v, m)
            for v in ("bandit", "holdout")
            for m in ("conversion", "revenue", "click", "unsubscribe")
        }
        assert "spring_policy" in render(list(reports.values()))
    finally:
        run.cleanup()
