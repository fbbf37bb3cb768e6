"""The API's Prometheus metrics (``/metrics`` of each replica)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

#: Route templates (``/v1/profiles/{user_id}``), never the raw path: a path holds user ids.
LATENCY = Histogram(
    "offerflow_api_request_seconds",
    "Time from a request's arrival to its answer, by route, method and status code.",
    ("route", "method", "status"),
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
    registry=REGISTRY,
)
EVENTS = Counter(
    "offerflow_api_events_total",
    "Events received by POST /v1/events: accepted (on the topic), refused (with a reason) "
    "or failed (the broker did not acknowledge).",
    ("outcome",),
    registry=REGISTRY,
)
DECISIONS = Counter(
    "offerflow_api_decisions_total",
    "Decisions answered by /v1/decide: offer or no_offer, and whether a fallback was taken.",
    ("outcome", "fallback"),
    registry=REGISTRY,
)
FALLBACKS = Counter(
    "offerflow_api_fallbacks_total",
    "Answers given without a dependency (Redis slow or down, data missing or too old).",
    ("route", "cause"),
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "offerflow_api_rate_limited_total",
    "Requests refused with 429, by key id.",
    ("key",),
    registry=REGISTRY,
)
PRODUCER_QUEUE = Gauge(
    "offerflow_api_producer_queue",
    "Messages waiting in the producer's local queue.",
    registry=REGISTRY,
)
