"""Settings of the personalization API (``offerflow serve``)."""

from __future__ import annotations

from config.values import at_least, boolean, duration, text
from config.variable import Variable

API = "Personalization API"

VARIABLES: tuple[Variable, ...] = (
    Variable("API_HOST", "127.0.0.1", "Address `offerflow serve` binds to.", API, text),
    Variable("API_PORT", "8070", "Port of `offerflow serve` (0: any free port).", API, at_least(0)),
    Variable(
        "API_KEYS_FILE",
        "",
        "TOML file of the API's keys (`offerflow api-key` makes an entry): id, SHA-256 of the "
        "secret, scopes (`collect`, `decide`, `read`, `privacy`), optional requests/s. Empty in "
        "dev: one key with every scope is made at start and printed.",
        API,
        text,
    ),
    Variable(
        "API_RATE",
        "1000",
        "Requests per second each key may make on one replica (a burst of one second's worth); "
        "a key's own `rate` overrides it. Beyond it: 429 with Retry-After.",
        API,
        at_least(1),
    ),
    Variable(
        "API_MAX_BODY_BYTES",
        "1048576",
        "Largest request body; a larger one gets 413 before it is read.",
        API,
        at_least(1024),
    ),
    Variable(
        "API_MAX_BATCH", "500", "Most events in one `POST /v1/events` batch.", API, at_least(1)
    ),
    Variable(
        "API_CORS_ORIGINS",
        "",
        "Comma-separated origins browsers may call the API from (browser collectors); empty: none.",
        API,
        text,
    ),
    Variable(
        "API_DELIVERY_TIMEOUT",
        "10s",
        "How long an event may wait for the broker's acknowledgement before the request "
        "answers 503.",
        API,
        duration,
    ),
    Variable(
        "API_DECISIONS_LINGER",
        "100ms",
        "How long a decision the API made may wait for others to share its request to the "
        "broker (the answer never waits for it): longer means fewer, larger requests, and the "
        "decision and its `recorded` message reach their topics that much later.",
        API,
        duration,
    ),
    Variable(
        "SHARED_SLOTS",
        "true",
        "Frequency-cap and send-budget slots kept in Redis and taken by the flow and the API "
        "alike, so decisions from both stay within caps and budgets; false: the flow alone "
        "decides (no Redis call per capped decision) and the API must not decide.",
        API,
        boolean,
    ),
    Variable(
        "API_POSTERIOR_MAX_AGE",
        "1h",
        "Oldest policy posteriors `/v1/decide` uses (since the flow last wrote them); older "
        "ones get a uniform choice among the eligible offers, marked as a fallback.",
        API,
        duration,
    ),
    Variable(
        "API_REDIS_TIMEOUT",
        "50ms",
        "Longest wait for Redis on a request; slower answers take the documented fallback.",
        API,
        duration,
    ),
)
