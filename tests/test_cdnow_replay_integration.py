"""The CDNOW log (a slice of its customers) replayed through the flow as purchase events, a
bounded run through the real broker and Redis: the models step's last fit, made when the
input ends, is the fit ``predict evaluate`` makes on the same log at the same point, and
its CLV deciles hold a tenth of the customers each."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from offerflow import runner
from offerflow.devstack.replay import MAX_AGE_S, purchase_of
from offerflow.kafka_io import produce
from offerflow.lab.predict_eval import Cohort, read_log
from operators.redis_mirror import client_for
from tests.conftest import FLOW_TIMEOUT_S, Run

pytestmark = pytest.mark.integration
#: Every 16th customer: ids follow the first purchase, so a stride spans the 12 weeks in which
#: CDNOW's cohort was acquired (the first 1,500 ids bought first within days of each other,
#: and their one-time buyers, alike in everything, tie at a few CLV values).
STRIDE = 16


def test_a_replayed_cdnow_slice_ends_with_the_evaluators_fit(
    live_stack: None, cdnow_dir: Path
) -> None:
    lines = (cdnow_dir / "CDNOW_master.txt").read_text().splitlines()
    rows = [line for line in lines[1:] if line.strip() and int(line.split()[0]) % STRIDE == 0]
    samples = [purchase_of(n, line) for n, line in enumerate(rows)]
    run = Run(OFFERFLOW_MAX_EVENT_AGE_S=str(MAX_AGE_S), OFFERFLOW_PREDICT_REFIT="30d")
    try:
        produce(run.settings, run.settings.topic("events"), ((s.key, s.value) for s in samples))
        assert runner.run("profiles", timeout=FLOW_TIMEOUT_S, env=run.env) == 0
        raw = client_for(run.settings.redis_url).get(run.settings.redis_key("predict", "params"))
    finally:
        run.cleanup()
    params = orjson.loads(raw)

    log = read_log(rows, columns=("0", "1", "3"), delimiter="whitespace", date_format="%Y%m%d")
    end = max(day for tx in log.values() for day, _ in tx)
    assert params["fitted_at"] == int(datetime(end.year, end.month, end.day, tzinfo=UTC)
                                      .timestamp() * 1000)  # fmt: skip
    assert params["customers"] == len(log) == 23_570 // STRIDE
    cohort = Cohort.at(log, end, unit_days=1)  # the flow's time unit: days
    purchases, gg = cohort.fit("mbgnbd")
    flow = params["purchase_model"]
    assert flow["model"] == "mbgnbd"
    for name in ("r", "alpha", "a", "b"):
        assert flow[name] == pytest.approx(getattr(purchases, name), rel=0.01), name
    assert gg is not None
    for name in ("p", "q", "gamma"):
        assert params["gamma_gamma"][name] == pytest.approx(getattr(gg, name), rel=0.01), name
    assert all(0.09 <= share <= 0.11 for share in params["clv_shares"]), params["clv_shares"]
