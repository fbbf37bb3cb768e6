"""The flow's metrics through the real broker and Redis: a tailing flow process's Prometheus
endpoint is scraped and parsed, and every produced record is counted there exactly (by
event type and dead-letter reason); the operations document the dashboard reads from Redis
(the query layer's ``operations`` page) holds the same counters and accounts for every
record's position per partition."""

from __future__ import annotations

import time
import urllib.request
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families

from flows.wiring import make_ingestor
from offerflow.devstack.sample import generate
from offerflow.reports.analytics import Analytics
from offerflow.runner import free_port
from schemas.event import Event
from tests.conftest import Run, tailing_flow, wait_for
from tests.test_flow_integration import produce_samples

pytestmark = pytest.mark.integration


def scrape(port: int) -> dict[str, dict[tuple, float]]:
    """``name -> {label values: value}`` from the endpoint's text format."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return samples


def by_label(samples: dict[str, dict[tuple, float]], name: str, label: str) -> dict[str, float]:
    return {dict(k)[label]: v for k, v in samples.get(name, {}).items()}


def test_metrics_endpoint_and_ops_report_count_every_record(live_stack: None) -> None:
    port = free_port()
    run = Run(
        OFFERFLOW_TAIL="true", OFFERFLOW_METRICS_PORT=str(port), OFFERFLOW_OPS_INTERVAL_S="0.5"
    )
    try:
        samples = generate(
            1_500, seed=5, users=200, malformed_rate=0.1, now_ms=int(time.time() * 1000)
        )
        gate = make_ingestor(run.settings)
        results = [gate(s.key, s.value) for s in samples]
        want_types = Counter(str(r.type) for r in results if isinstance(r, Event))
        want_dead = Counter(str(r.reason) for r in results if not isinstance(r, Event))
        assert want_dead and sum(want_types.values()) + sum(want_dead.values()) == len(samples)
        # redeliveries pass the gate (counted in), then the profile step dead-letters them
        want_dead["duplicate_event"] = sum(s.expect == "duplicate" for s in samples)
        assert want_dead["duplicate_event"] > 0
        produce_samples(run, samples)
        with tailing_flow(run):

            def counted() -> dict | None:
                try:
                    got = scrape(port)
                except OSError:
                    return None
                total = sum(got.get("offerflow_events_in_total", {}).values())
                dead = sum(got.get("offerflow_dead_letters_total", {}).values())
                return got if total + dead >= len(samples) + want_dead["duplicate_event"] else None

            wait_for(counted, timeout=120)
            got = scrape(port)
            analytics = Analytics(run.settings)
            pages: list[dict] = []

            def reported() -> bool:  # the ops report written after the last record
                pages.append(analytics.page("operations"))
                totals = pages[-1]["totals"]
                return totals["events_in"] == dict(want_types) and totals["dead_letters"] == dict(
                    want_dead
                )

            try:
                wait_for(reported, timeout=30)
            finally:
                analytics.close()
            ops = pages[-1]
        assert by_label(got, "offerflow_events_in_total", "type") == want_types
        assert by_label(got, "offerflow_dead_letters_total", "reason") == want_dead
        out = by_label(got, "offerflow_records_out_total", "topic")
        assert out["dlq"] == sum(want_dead.values())
        latency = by_label(got, "offerflow_processing_latency_seconds_count", "stage")
        assert latency["ingest"] == len(samples)
        # the flow's own share is timed for the requests decided in this (only) process
        assert 0 < latency["flow"] <= latency["decision"]
        # the dashboard's operations page: the same counters, every record's position
        assert ops["workers"] == 1
        assert ops["totals"]["events_in"] == dict(want_types)
        assert ops["totals"]["dead_letters"] == dict(want_dead)
        events = [r for r in ops["lag"] if r["topic"] == run.settings.topic("events")]
        assert len(events) == run.settings.partitions
        assert sum(r["consumed"] for r in events) == len(samples)
        assert all(r["lag"] == 0 for r in events)
        # the lag gauge Prometheus alerts on: every events partition read to its end
        lag = got["offerflow_input_lag"]
        events_lag = {k: v for k, v in lag.items() if ("topic", run.settings.topic("events")) in k}
        assert len(events_lag) == run.settings.partitions and set(events_lag.values()) == {0.0}
        assert ops["redis"]["ok"] is True
        (process,) = ops["processes"]
        assert process["times"] and process["recovery_dir"] == ""
    finally:
        run.cleanup()
