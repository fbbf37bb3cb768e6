"""Every configuration variable: its name (without the ``OFFERFLOW_`` prefix), default and
meaning. :mod:`config.settings` resolves them; the README's configuration table is generated from
:data:`VARIABLES`, so code and docs cannot drift.

Any variable can also be read from a file: ``OFFERFLOW_<NAME>_FILE`` names a file whose content
(trailing newline stripped) is the value, the usual way to hand secrets to a container.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Publicly known key for demos and tests only; production refuses to run with it.
DEV_ID_KEY = "offerflow-dev-key-not-secret-000"

#: Logical topic names (docs/topics in the README); the real name is ``<prefix>.<logical>`` unless
#: ``OFFERFLOW_TOPIC_<LOGICAL>`` names it outright.
TOPICS = (
    "events",
    "campaigns",
    "decisions",
    "attributions",
    "segments",
    "privacy",
    "dlq",
    "internal",
)


@dataclass(frozen=True)
class Variable:
    """One configuration variable: name (without prefix), default and what it does."""

    name: str
    default: str
    help: str


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "ENV",
        "production",
        "`dev` or `production`, spelt exactly so. `dev` allows the built-in development id "
        "key and keeps dead letters unredacted; `production` refuses weak keys.",
    ),
    Variable(
        "CONFIG",
        "",
        "Path of a TOML file with any of these settings (lower-case names "
        "without the prefix); environment variables win over it.",
    ),
    Variable(
        "ID_KEY",
        "",
        "Secret HMAC key (≥ 16 bytes) that pseudonymizes user and event ids. Required "
        "unless ENV=dev; production refuses a low-entropy one (make it with "
        "`openssl rand -hex 32`). Changing it re-keys every user.",
    ),
    Variable(
        "SENDER_KEY",
        "",
        "Secret with which channel senders sign the pseudonymous feedback they publish; "
        "empty: derived from ID_KEY. Set it to run senders without the id key.",
    ),
    Variable(
        "DLQ_REDACT",
        "auto",
        "`true`: dead letters keep no raw personal data (key pseudonymized, value scrubbed or "
        "withheld); `auto`: true unless ENV=dev.",
    ),
    Variable(
        "DLQ_RETENTION",
        "7d",
        "Retention (`retention.ms`) of the dead-letter topic when `offerflow stack up` creates "
        "it; set the same on an existing topic (docs/privacy.md).",
    ),
    Variable(
        "CONSENT_PURPOSES",
        "",
        "Consent purposes accepted (comma-separated; `+a,b` adds to the built-in list); an "
        "event naming another is dead-lettered. Empty: the built-in list (docs/privacy.md).",
    ),
    Variable(
        "CHANNELS",
        "",
        "Delivery channels kept as sent (`+a,b` adds); others become `other`. Empty: the "
        "built-in list.",
    ),
    Variable(
        "ATTRIBUTION_SOURCES",
        "",
        "Traffic sources (`utm_source`) attribution keeps apart (`+a,b` adds); others become "
        "`other`. Empty: the built-in list.",
    ),
    Variable(
        "TRAITS",
        "",
        "Traits a profile keeps from `identify` (`+a,b` adds); others are left out and "
        "counted. Empty: the built-in list.",
    ),
    Variable("MAX_PROPERTIES", "64", "Most entries in an event's properties, context or traits."),
    Variable("MAX_STRING", "1024", "Longest string value accepted in an event."),
    Variable("MAX_PURCHASE_VALUE", "1e9", "Largest purchase `value` accepted (at least 0)."),
    Variable(
        "MAX_PRODUCTS",
        "100000",
        "Products the recommender learns when no catalogue is set; new ones beyond it are "
        "left out and counted.",
    ),
    Variable(
        "KAFKA_BOOTSTRAP",
        "127.0.0.1:9092",
        "Kafka `bootstrap.servers`. When set, "
        "`scripts/stack` uses that cluster and starts no local broker.",
    ),
    Variable(
        "KAFKA_CONFIG",
        "",
        "Extra librdkafka properties for every client, `k=v` pairs "
        "separated by `;` (e.g. `security.protocol=SASL_SSL;sasl.mechanism=PLAIN`).",
    ),
    Variable("KAFKA_BATCH_SIZE", "1000", "Messages per Kafka source poll."),
    Variable(
        "PARTITIONS",
        "4",
        "Partitions per topic created by `offerflow stack up`; bounds parallelism.",
    ),
    Variable("REPLICATION", "1", "Replication factor of created topics."),
    Variable("TOPIC_PREFIX", "offerflow", "Prefix of every topic name (`<prefix>.events`, ...)."),
    *(
        Variable(f"TOPIC_{t.upper()}", "", f"Full name of the {t} topic (default `<prefix>.{t}`).")
        for t in TOPICS
    ),
    Variable(
        "INPUT_FORMAT",
        "auto",
        "Inbound event format: `auto` (JSON, or Avro in the "
        "Confluent wire format, told apart per record), `json`, `avro` (schemaless) or "
        "`confluent`.",
    ),
    Variable("OUTPUT_FORMAT", "json", "Outbound record format: `json`, `avro` or `confluent`."),
    Variable(
        "AVRO_SCHEMA_IDS",
        "",
        "Wire ids assigned by your schema registry, e.g. "
        "`event=17,dead_letter=22` (defaults: event=1 ... dead_letter=6).",
    ),
    Variable(
        "AVRO_WRITER_SCHEMAS",
        "",
        "Other versions of a schema that producers write with, `NAME=ID:PATH` comma-separated "
        "(e.g. `event=17:/etc/offerflow/event-v2.avsc`): read by Avro schema resolution; an "
        "unresolvable record is dead-lettered as `incompatible_schema`.",
    ),
    Variable("MAX_EVENT_BYTES", "65536", "Larger inbound records are dead-lettered unread."),
    Variable(
        "MAX_EVENT_AGE_S",
        "2592000",
        "Events older than this (seconds before now) are dead-lettered; raise it for backfills.",
    ),
    Variable("MAX_FUTURE_S", "3600", "Events further than this in the future are dead-lettered."),
    Variable(
        "TAIL",
        "true",
        "`false`: flows stop at the end of their input topics (tests, backfills, the demo).",
    ),
    Variable("REDIS_URL", "redis://127.0.0.1:6379/0", "Redis for profiles and aggregates."),
    Variable("REDIS_PREFIX", "offerflow", "Prefix of every Redis key."),
    Variable(
        "PROFILE_TTL_S",
        "7776000",
        "Profiles not updated for this long (wall clock) are "
        "deleted from flow state and Redis (default 90 days).",
    ),
    Variable(
        "HALF_LIVES",
        "1d,7d,30d",
        "Half-lives of the decayed profile features (`d`, `h`, "
        "`m` or `s` suffix). Changing them drops stored decayed sums; facts stay.",
    ),
    Variable("MAX_CATEGORIES", "10", "Categories kept per profile for affinity (weakest evicted)."),
    Variable(
        "CLUSTERS",
        "6",
        "Online clusters (River KMeans) for users no rule segment claims; 0 turns clustering off.",
    ),
    Variable(
        "DEDUP_WINDOW",
        "32",
        "Recent event ids remembered per user: a redelivery changes nothing and is "
        "dead-lettered as `duplicate_event`.",
    ),
    Variable(
        "ERASE_GRACE_S",
        "604800",
        "After an `erase`, events for that user are "
        "dead-lettered for this long instead of rebuilding a profile (default 7 days).",
    ),
    Variable(
        "SEGMENTS_FILE",
        "",
        "Segment rule file (TOML); empty uses the shipped "
        "`state/segments.toml`. Reloaded within seconds of a change.",
    ),
    Variable(
        "CAMPAIGNS_FILE",
        "",
        "Campaign file (TOML, see docs/campaigns.md); empty uses the shipped "
        "`state/campaigns.toml`. Reloaded on change; the campaigns topic overrides it live.",
    ),
    Variable(
        "ANALYTICS_TTL_S",
        "2592000",
        "Expiry of campaign, policy and budget aggregates in Redis, refreshed on every "
        "update (default 30 days).",
    ),
    Variable(
        "ATTRIBUTION",
        "true",
        "`false` turns streaming attribution off (no touchpoints kept, no attribution records).",
    ),
    Variable(
        "ATTRIBUTION_CONVERSIONS",
        "purchase",
        "Event types that count as conversions, comma-separated.",
    ),
    Variable(
        "ATTRIBUTION_LOOKBACK",
        "30d",
        "Touchpoints older than this before a conversion (event time) earn no credit.",
    ),
    Variable(
        "ATTRIBUTION_MAX_TOUCHES",
        "32",
        "Touchpoints kept per user; the oldest are dropped (and counted) beyond it.",
    ),
    Variable(
        "ATTRIBUTION_INACTIVITY",
        "7d",
        "A journey with no new touchpoint for this long (wall clock) ends as non-converting.",
    ),
    Variable("ATTRIBUTION_HALF_LIFE", "7d", "Half-life of the time-decay attribution model."),
    Variable(
        "ATTRIBUTION_POSITION",
        "0.4,0.4",
        "First and last touch shares of the position-based (U-shaped) model.",
    ),
    Variable("MARKOV_ORDER", "1", "Order of the Markov-chain (data-driven) attribution model."),
    Variable(
        "MARKOV_REFRESH",
        "100",
        "Paths learned between recomputations of the Markov removal effects (1: always exact, "
        "at about a millisecond per path).",
    ),
    Variable(
        "PREDICTIONS",
        "true",
        "`false` turns predictive analytics off (no churn risk, expected purchases or CLV).",
    ),
    Variable(
        "PREDICT_REFIT",
        "1h",
        "Event time between refits of the BG/NBD and Gamma-Gamma models on all customers.",
    ),
    Variable(
        "PREDICT_MIN_REPEAT",
        "50",
        "Customers with a repeat purchase needed before the first fit.",
    ),
    Variable("CLV_HORIZON", "90d", "Horizon of the predicted customer lifetime value."),
    Variable("CLV_DISCOUNT", "0.1", "Annual discount rate of the predicted lifetime value."),
    Variable(
        "RECOMMENDATIONS",
        "true",
        "`false` turns product recommendations off (no products in decisions, no Redis top-k).",
    ),
    Variable(
        "CATALOG_FILE",
        "",
        "Product catalogue CSV (item,category,price,tags,in_stock); empty: products are "
        "learned from the properties of product events.",
    ),
    Variable("RECO_K", "5", "Products per decision and in each user's Redis top-k."),
    Variable("RECO_PER_CATEGORY", "2", "Most products of one category in a top-k (diversity)."),
    Variable(
        "RECO_EXCLUDE_PURCHASED", "true", "Leave products the user bought out of their top-k."
    ),
    Variable(
        "RECO_HALF_LIFE", "7d", "Half-life (event time) of co-occurrence, affinity and trends."
    ),
    Variable("RECO_REFRESH", "60s", "Least event time between refreshes of a user's Redis top-k."),
    Variable(
        "RECOVERY_DIR",
        "",
        "Bytewax recovery directory. `offerflow run` uses `./offerflow-recovery` when it is "
        "empty (`--no-recovery` turns recovery off); the demo, tests and benchmarks choose "
        "their own.",
    ),
    Variable("SNAPSHOT_S", "10", "Whole seconds between recovery snapshots."),
    Variable(
        "HISTORY_BUCKET",
        "5m",
        "Event time per point of the dashboard's time series (arm allocation, segment sizes, "
        "experiment p-values); each series keeps its newest 500 points.",
    ),
    Variable(
        "METRICS_PORT",
        "9464",
        "Prometheus endpoint of each flow process (`/metrics` on 127.0.0.1, port + process "
        "index); 0 turns it off.",
    ),
    Variable("METRICS_HOST", "127.0.0.1", "Address the flow's Prometheus endpoint binds to."),
    Variable(
        "OPS_INTERVAL_S",
        "2",
        "Seconds between each flow process's operations report to Redis (counters, input "
        "positions, last snapshot) for the dashboard.",
    ),
    Variable(
        "DASHBOARD_TOKEN",
        "",
        "Token the dashboard requires (`?token=` once, then a cookie, or a Bearer header), "
        "at least 20 characters; empty: a random one is made at start and printed with the URL.",
    ),
    Variable("DASHBOARD_HOST", "127.0.0.1", "Address `offerflow dashboard` binds to."),
    Variable("DASHBOARD_PORT", "8050", "Port of `offerflow dashboard` (0: any free port)."),
    Variable("STACK_DIR", ".stack", "Where `scripts/stack` keeps logs and pid files."),
    Variable("LOG_LEVEL", "INFO", "Log level of the `offerflow` commands."),
)
