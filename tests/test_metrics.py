"""The flow's own share of a decision's latency is timed from the request leaving the Kafka
source to its decision leaving the flow, once per request."""

from __future__ import annotations

import time

from operators import metrics


def flow_count() -> float:
    return metrics.value("offerflow_processing_latency_seconds_count", stage="flow")


def flow_sum() -> float:
    return metrics.value("offerflow_processing_latency_seconds_sum", stage="flow")


def test_a_request_is_timed_from_the_source_to_its_decision_once() -> None:
    before, before_s = flow_count(), flow_sum()
    request, browse = object(), object()
    metrics.arrived(request)
    metrics.arrived(browse)
    time.sleep(0.01)
    metrics.gated(request, "req-1")
    metrics.gated(browse, None)  # not a decision request: nothing kept
    decision = {"trigger": "request", "request_event_id": "req-1", "ts": 0,
                "campaign_id": "c", "channel": "web", "offer_id": "o"}  # fmt: skip
    metrics.count_decision(decision)
    metrics.count_decision(decision)  # a second channel's decision of the same request
    metrics.count_decision({**decision, "request_event_id": "elsewhere"})  # not gated here
    assert flow_count() - before == 1
    assert flow_sum() - before_s >= 0.01  # the wait between leaving the source and the gate
    assert id(browse) not in metrics._ARRIVED and "req-1" not in metrics._REQUESTS
