"""The flow's counters, as Prometheus metrics of the process (``prometheus-client``).

Each Bytewax process counts what passes through it; the flow's ``op.inspect`` steps call the
``count_*`` functions below. The same registry feeds the ``/metrics`` endpoint
(:mod:`operators.ops_report`) and the operations document the dashboard reads from Redis,
so Prometheus and the dashboard cannot disagree. Counters are per process and start at zero
with it: sum them over processes, and use ``rate()`` across restarts, as Prometheus does.

Label values are bounded by configuration (event types, dead-letter reasons, topics,
campaigns, channels, attribution models), never by users.

Examples
--------

>>> before = value("offerflow_events_in_total", type="page_view")
>>> count_event("page_view")
>>> value("offerflow_events_in_total", type="page_view") - before
1.0

"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: The flow process's registry (not the library's global one: nothing else leaks in).
REGISTRY = CollectorRegistry()

EVENTS_IN = Counter(
    "offerflow_events_in", "Events accepted by the ingestion gate.", ["type"], registry=REGISTRY
)
DEAD_LETTERS = Counter(
    "offerflow_dead_letters", "Records sent to the dead-letter topic.", ["reason"],
    registry=REGISTRY,
)  # fmt: skip
RECORDS_OUT = Counter(
    "offerflow_records_out", "Records written to an output topic.", ["topic"], registry=REGISTRY
)
DECISIONS = Counter(
    "offerflow_decisions",
    "Final decisions: outcome is offer or no_offer.",
    ["campaign", "channel", "outcome"],
    registry=REGISTRY,
)
REWARDS = Counter(
    "offerflow_rewards",
    "Closed reward windows learned by a policy: outcome is positive or zero.",
    ["campaign", "outcome"],
    registry=REGISTRY,
)
ATTRIBUTION_RECORDS = Counter(
    "offerflow_attribution_records", "Attribution records (one per conversion and model).",
    ["model"], registry=REGISTRY,
)  # fmt: skip
BOUNDED = Counter(
    "offerflow_bounded",
    "Client-sent values mapped, cut or left out to stay within a bound (reason says which).",
    ["reason"],
    registry=REGISTRY,
)
REDIS_WRITE_ERRORS = Counter(
    "offerflow_redis_write_errors",
    "Failed Redis write batches (the writes stay pending and are retried).",
    registry=REGISTRY,
)
DRIFTS = Counter(
    "offerflow_drift_detections",
    "Changes found by a campaign's drift detector: stream is reward (an offer's rewards in a "
    "policy key) or log_loss (the response model's).",
    ["campaign", "stream"],
    registry=REGISTRY,
)
SLOTS = Counter(
    "offerflow_slot_verdicts",
    "Cap and budget slots asked of Redis by the user step: granted, capped, budget, or "
    "unavailable (Redis did not answer; the step decided on its own ledger).",
    ["verdict"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "offerflow_processing_latency_seconds",
    "Wall time from a record's Kafka timestamp to the gate (stage=ingest), from a decision "
    "request's event time to its decision leaving the flow (stage=decision), and from a "
    "decision request leaving the Kafka source to its decision leaving the flow in the same "
    "process (stage=flow: the flow's own share).",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
INPUT_OFFSET = Gauge(
    "offerflow_input_offset",
    "Offset of the newest record this process consumed, per topic and partition.",
    ["topic", "partition"],
    registry=REGISTRY,
)

_children: dict[tuple, Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    """A labelled child, cached: ``labels()`` takes a lock and builds a tuple each call."""
    key = (metric, labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


#: Monotonic time each inbound record left the Kafka source, until the gate reads it (keyed
#: by the record object, which lives that long); then, for decision requests only, by request
#: id until their decision leaves (bounded: a request that is never decided here is dropped).
_ARRIVED: dict[int, float] = {}
_REQUESTS: dict[str, float] = {}
_MAX_REQUESTS = 100_000


def arrived(record: object) -> None:
    """An inbound record just left the Kafka source."""
    _ARRIVED[id(record)] = time.monotonic()


def gated(record: object, request_id: str | None) -> None:
    """The gate read ``record``; ``request_id``: the decision request it carries, if any."""
    left = _ARRIVED.pop(id(record), None)
    if request_id is not None and left is not None:
        if len(_REQUESTS) >= _MAX_REQUESTS:
            del _REQUESTS[next(iter(_REQUESTS))]
        _REQUESTS[request_id] = left


def count_consumed(topic: str, partition: int, offset: int, timestamp_ms: int | None) -> None:
    """A record read from ``topic``: its position, and its age when read (``timestamp_ms``
    ``None``: not an inbound event, no latency)."""
    _child(INPUT_OFFSET, topic, str(partition)).set(offset)
    if timestamp_ms:
        _child(LATENCY, "ingest").observe(max(0.0, time.time() - timestamp_ms / 1000))


def count_event(event_type: str) -> None:
    _child(EVENTS_IN, event_type).inc()


def count_dead_letter(reason: str) -> None:
    _child(DEAD_LETTERS, reason).inc()


def count_bounded(reason: str) -> None:
    _child(BOUNDED, reason).inc()


def count_out(topic: str) -> None:
    _child(RECORDS_OUT, topic).inc()


def count_decision(record: dict[str, Any]) -> None:
    """A final decision record, and its latency from the request's event time."""
    outcome = "no_offer" if record.get("offer_id") is None else "offer"
    _child(DECISIONS, record.get("campaign_id") or "", record.get("channel") or "", outcome).inc()
    if record.get("trigger") == "request":
        _child(LATENCY, "decision").observe(max(0.0, time.time() - record["ts"] / 1000))
        left = _REQUESTS.pop(record.get("request_event_id") or "", None)
        if left is not None:
            _child(LATENCY, "flow").observe(time.monotonic() - left)


def count_reward(campaign: str, reward: float) -> None:
    _child(REWARDS, campaign, "positive" if reward > 0 else "zero").inc()


def count_drift(record: dict[str, Any]) -> None:
    _child(DRIFTS, record["campaign_id"], record["stream"]).inc()


def count_attribution(model: str) -> None:
    _child(ATTRIBUTION_RECORDS, model).inc()


def count_slot(verdict: str) -> None:
    _child(SLOTS, verdict).inc()


def count_redis_error() -> None:
    REDIS_WRITE_ERRORS.inc()


def value(name: str, **labels: str) -> float:
    """The current value of one sample (0 if absent): for tests and the ops document."""
    found = REGISTRY.get_sample_value(name, labels)
    return found or 0.0
