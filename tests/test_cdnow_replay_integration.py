"""The CDNOW log (a slice of its customers) replayed through the flow as purchase events, a
bounded run through the real broker and Redis, by the same code as ``scripts/bench_cdnow``:
the models step's last fit, made when the input ends, is the fit ``predict evaluate`` makes
on the same log at the same point, and its CLV deciles hold a tenth of the customers each."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from offerflow.devstack.cdnow_check import COMPARED, check

pytestmark = pytest.mark.integration
#: Every 16th customer: ids follow the first purchase, so a stride spans the 12 weeks in which
#: CDNOW's cohort was acquired (the first 1,500 ids bought first within days of each other,
#: and their one-time buyers, alike in everything, tie at a few CLV values).
STRIDE = 16


def test_a_replayed_cdnow_slice_ends_with_the_evaluators_fit(
    live_stack: None, cdnow_dir: Path
) -> None:
    result = check(stride=STRIDE, timeout_s=300.0, directory=str(cdnow_dir))
    flow, reference = result["flow"], result["evaluator"]
    end = datetime.fromisoformat(result["end"]).replace(tzinfo=UTC)
    assert flow["fitted_at"] == int(end.timestamp() * 1000)
    assert flow["customers"] == result["customers"] == 23_570 // STRIDE
    assert flow["purchase_model"]["model"] == "mbgnbd"
    assert reference["gamma_gamma"], "Gamma-Gamma fitted on the slice"
    for section, names in COMPARED.items():  # the flow's time unit and the evaluator's: days
        for name in names:
            assert flow[section][name] == pytest.approx(reference[section][name], rel=0.01), name
    assert all(0.09 <= share <= 0.11 for share in flow["clv_shares"]), flow["clv_shares"]
