"""Settings: every knob from ``OFFERFLOW_*`` environment variables, an optional TOML file, or
a default that works on the local stack.

Precedence is environment, then the file named by ``OFFERFLOW_CONFIG`` (keys are the variable
names without the ``OFFERFLOW_`` prefix, lower-case), then the default. The README's
configuration table is generated from :data:`VARIABLES`, so code and docs cannot drift.

Examples
--------

>>> s = Settings.from_env({"OFFERFLOW_ENV": "dev", "OFFERFLOW_PARTITIONS": "8"})
>>> s.partitions, s.topic("events"), s.kafka_bootstrap
(8, 'offerflow.events', '127.0.0.1:9092')
>>> Settings.from_env({})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
flows.config.ConfigError: OFFERFLOW_ID_KEY is not set: production runs need a secret ...

"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas.codec import FORMATS
from schemas.event import EventType

#: Publicly known key for demos and tests only; production refuses to run with it.
DEV_ID_KEY = "offerflow-dev-key-not-secret-000"

#: Logical topic names from DESIGN.md; the real name is ``<prefix>.<logical>`` unless
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


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


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
        "`dev` allows the built-in development id key; anything else is treated as production.",
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
        "Secret HMAC key (≥ 16 bytes) that pseudonymizes user ids. Required "
        "unless ENV=dev. Changing it re-keys every user.",
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
        "Token the dashboard requires (`?token=` once, then a cookie, or a Bearer header); "
        "empty: a random one is made at start and printed with the URL.",
    ),
    Variable("DASHBOARD_HOST", "127.0.0.1", "Address `offerflow dashboard` binds to."),
    Variable("DASHBOARD_PORT", "8050", "Port of `offerflow dashboard` (0: any free port)."),
    Variable("STACK_DIR", ".stack", "Where `scripts/stack` keeps logs and pid files."),
    Variable("LOG_LEVEL", "INFO", "Log level of the `offerflow` commands."),
)
_DEFAULTS = {v.name: v.default for v in VARIABLES}


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build with :meth:`from_env`."""

    env: str
    id_key: bytes
    kafka_bootstrap: str
    kafka_config: Mapping[str, str]
    kafka_batch_size: int
    partitions: int
    replication: int
    topics: Mapping[str, str]
    input_format: str
    output_format: str
    avro_schema_ids: str
    max_event_bytes: int
    max_event_age_s: float
    max_future_s: float
    tail: bool
    redis_url: str
    redis_prefix: str
    profile_ttl_s: int
    half_lives_ms: tuple[int, ...]
    max_categories: int
    clusters: int
    dedup_window: int
    erase_grace_s: int
    segments_file: str
    campaigns_file: str
    analytics_ttl_s: int
    attribution: bool
    attribution_conversions: tuple[str, ...]
    attribution_lookback_ms: int
    attribution_max_touches: int
    attribution_inactivity_ms: int
    attribution_half_life_ms: int
    attribution_position: tuple[float, float]
    markov_order: int
    markov_refresh: int
    predictions: bool
    predict_refit_ms: int
    predict_min_repeat: int
    clv_horizon_days: int
    clv_discount: float
    recommendations: bool
    catalog_file: str
    reco_k: int
    reco_per_category: int
    reco_exclude_purchased: bool
    reco_half_life_ms: int
    reco_refresh_ms: int
    recovery_dir: str
    snapshot_s: int
    history_bucket_ms: int
    metrics_port: int
    metrics_host: str
    ops_interval_s: float
    dashboard_token: str
    dashboard_host: str
    dashboard_port: int
    stack_dir: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Resolve every setting from ``environ`` (default ``os.environ``) and the config file."""
        environ = os.environ if environ is None else environ
        raw = _layered(environ)
        env = raw["ENV"].strip().lower()
        key = raw["ID_KEY"]
        if not key:
            if env != "dev":
                raise ConfigError(
                    "OFFERFLOW_ID_KEY is not set: production runs need a secret pseudonymization "
                    "key of at least 16 bytes (set OFFERFLOW_ENV=dev to use the built-in "
                    "development key)"
                )
            key = DEV_ID_KEY
        elif key == DEV_ID_KEY and env != "dev":
            raise ConfigError(
                "OFFERFLOW_ID_KEY is the public development key; production runs need a secret one"
            )
        if len(key.encode()) < 16:
            raise ConfigError("OFFERFLOW_ID_KEY must be at least 16 bytes")
        prefix = raw["TOPIC_PREFIX"]
        topics = {t: raw[f"TOPIC_{t.upper()}"] or f"{prefix}.{t}" for t in TOPICS}
        input_format = _choice(raw, "INPUT_FORMAT", ("auto", *FORMATS))
        output_format = _choice(raw, "OUTPUT_FORMAT", FORMATS)
        return cls(
            env=env,
            id_key=key.encode(),
            kafka_bootstrap=raw["KAFKA_BOOTSTRAP"],
            kafka_config=_pairs(raw["KAFKA_CONFIG"]),
            kafka_batch_size=_int(raw, "KAFKA_BATCH_SIZE", 1),
            partitions=_int(raw, "PARTITIONS", 1),
            replication=_int(raw, "REPLICATION", 1),
            topics=topics,
            input_format=input_format,
            output_format=output_format,
            avro_schema_ids=raw["AVRO_SCHEMA_IDS"],
            max_event_bytes=_int(raw, "MAX_EVENT_BYTES", 64),
            max_event_age_s=_float(raw, "MAX_EVENT_AGE_S"),
            max_future_s=_float(raw, "MAX_FUTURE_S"),
            tail=_bool(raw, "TAIL"),
            redis_url=raw["REDIS_URL"],
            redis_prefix=raw["REDIS_PREFIX"],
            profile_ttl_s=_int(raw, "PROFILE_TTL_S", 1),
            half_lives_ms=_durations(raw, "HALF_LIVES"),
            max_categories=_int(raw, "MAX_CATEGORIES", 1),
            clusters=_int(raw, "CLUSTERS", 0),
            dedup_window=_int(raw, "DEDUP_WINDOW", 1),
            erase_grace_s=_int(raw, "ERASE_GRACE_S", 0),
            segments_file=raw["SEGMENTS_FILE"],
            campaigns_file=raw["CAMPAIGNS_FILE"],
            analytics_ttl_s=_int(raw, "ANALYTICS_TTL_S", 1),
            attribution=_bool(raw, "ATTRIBUTION"),
            attribution_conversions=_conversions(raw, "ATTRIBUTION_CONVERSIONS"),
            attribution_lookback_ms=_duration(raw, "ATTRIBUTION_LOOKBACK"),
            attribution_max_touches=_int(raw, "ATTRIBUTION_MAX_TOUCHES", 1),
            attribution_inactivity_ms=_duration(raw, "ATTRIBUTION_INACTIVITY"),
            attribution_half_life_ms=_duration(raw, "ATTRIBUTION_HALF_LIFE"),
            attribution_position=_shares(raw, "ATTRIBUTION_POSITION"),
            markov_order=_int(raw, "MARKOV_ORDER", 1),
            markov_refresh=_int(raw, "MARKOV_REFRESH", 1),
            predictions=_bool(raw, "PREDICTIONS"),
            predict_refit_ms=_duration(raw, "PREDICT_REFIT"),
            predict_min_repeat=_int(raw, "PREDICT_MIN_REPEAT", 2),
            clv_horizon_days=max(1, _duration(raw, "CLV_HORIZON") // 86_400_000),
            clv_discount=_float(raw, "CLV_DISCOUNT"),
            recommendations=_bool(raw, "RECOMMENDATIONS"),
            catalog_file=raw["CATALOG_FILE"],
            reco_k=_int(raw, "RECO_K", 1),
            reco_per_category=_int(raw, "RECO_PER_CATEGORY", 1),
            reco_exclude_purchased=_bool(raw, "RECO_EXCLUDE_PURCHASED"),
            reco_half_life_ms=_duration(raw, "RECO_HALF_LIFE"),
            reco_refresh_ms=_duration(raw, "RECO_REFRESH"),
            recovery_dir=raw["RECOVERY_DIR"],
            snapshot_s=_int(raw, "SNAPSHOT_S", 1),
            history_bucket_ms=_duration(raw, "HISTORY_BUCKET"),
            metrics_port=_int(raw, "METRICS_PORT", 0),
            metrics_host=raw["METRICS_HOST"],
            ops_interval_s=_float(raw, "OPS_INTERVAL_S") or 2.0,
            dashboard_token=raw["DASHBOARD_TOKEN"],
            dashboard_host=raw["DASHBOARD_HOST"],
            dashboard_port=_int(raw, "DASHBOARD_PORT", 0),
            stack_dir=raw["STACK_DIR"],
        )

    def topic(self, logical: str) -> str:
        """Real name of a logical topic (``events``, ``dlq``, ...)."""
        return self.topics[logical]

    def kafka(self, **extra: str) -> dict[str, str]:
        """librdkafka config for a client: bootstrap, ``KAFKA_CONFIG``, then ``extra``."""
        return {"bootstrap.servers": self.kafka_bootstrap, **self.kafka_config, **extra}

    def redis_key(self, *parts: str) -> str:
        """A namespaced Redis key: ``<prefix>:<part>:<part>``."""
        return ":".join((self.redis_prefix, *parts))

    def describe(self) -> dict[str, Any]:
        """The settings for display, with the id key masked."""
        shown = dict(self.__dict__)
        shown["id_key"] = "(development key)" if self.id_key == DEV_ID_KEY.encode() else "(set)"
        shown["dashboard_token"] = "(set)" if self.dashboard_token else "(random at start)"
        return shown


def _layered(environ: Mapping[str, str]) -> dict[str, str]:
    path = environ.get("OFFERFLOW_CONFIG", "")
    from_file: dict[str, str] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read OFFERFLOW_CONFIG={path}: {exc}") from None
        unknown = {k for k in data if k.upper() not in _DEFAULTS}
        if unknown:
            raise ConfigError(f"unknown settings in {path}: {', '.join(sorted(unknown))}")
        from_file = {
            k.upper(): str(v).lower() if isinstance(v, bool) else str(v) for k, v in data.items()
        }
    return {
        name: environ.get(f"OFFERFLOW_{name}", from_file.get(name, default))
        for name, default in _DEFAULTS.items()
    }


def _int(raw: Mapping[str, str], name: str, minimum: int) -> int:
    try:
        value = int(raw[name])
    except ValueError:
        raise ConfigError(f"OFFERFLOW_{name} must be an integer, got {raw[name]!r}") from None
    if value < minimum:
        raise ConfigError(f"OFFERFLOW_{name} must be at least {minimum}, got {value}")
    return value


def _float(raw: Mapping[str, str], name: str) -> float:
    try:
        value = float(raw[name])
    except ValueError:
        raise ConfigError(f"OFFERFLOW_{name} must be a number, got {raw[name]!r}") from None
    if not value >= 0:
        raise ConfigError(f"OFFERFLOW_{name} must be a non-negative number, got {raw[name]!r}")
    return value


def _bool(raw: Mapping[str, str], name: str) -> bool:
    value = raw[name].strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"OFFERFLOW_{name} must be true or false, got {raw[name]!r}")


def _choice(raw: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    value = raw[name].strip().lower()
    if value not in allowed:
        raise ConfigError(f"OFFERFLOW_{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


_UNITS_MS = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000}


def _durations(raw: Mapping[str, str], name: str) -> tuple[int, ...]:
    """``"1d,7d,30d"`` → milliseconds, ascending."""
    out = []
    for part in filter(None, (p.strip() for p in raw[name].split(","))):
        number, unit = part[:-1], part[-1:]
        if unit not in _UNITS_MS or not number.replace(".", "", 1).isdigit() or float(number) <= 0:
            raise ConfigError(f"OFFERFLOW_{name} must list durations like 1d,7d,30d; got {part!r}")
        out.append(int(float(number) * _UNITS_MS[unit]))
    if not out:
        raise ConfigError(f"OFFERFLOW_{name} needs at least one duration")
    return tuple(sorted(set(out)))


def _duration(raw: Mapping[str, str], name: str) -> int:
    """One duration like ``30d`` → milliseconds."""
    durations = _durations(raw, name)
    if len(durations) != 1:
        raise ConfigError(f"OFFERFLOW_{name} must be one duration like 30d, got {raw[name]!r}")
    return durations[0]


def _conversions(raw: Mapping[str, str], name: str) -> tuple[str, ...]:
    names = tuple(p.strip() for p in raw[name].split(",") if p.strip())
    known = {t.value for t in EventType}
    if not names or set(names) - known:
        raise ConfigError(f"OFFERFLOW_{name} must list event types from {sorted(known)}")
    return names


def _shares(raw: Mapping[str, str], name: str) -> tuple[float, float]:
    try:
        first, last = (float(p) for p in raw[name].split(","))
    except ValueError:
        raise ConfigError(f"OFFERFLOW_{name} must be two shares like 0.4,0.4") from None
    if min(first, last) < 0 or first + last > 1:
        raise ConfigError(f"OFFERFLOW_{name} shares must be ≥ 0 and sum to at most 1")
    return first, last


def _pairs(spec: str) -> dict[str, str]:
    pairs = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"OFFERFLOW_KAFKA_CONFIG entries must be key=value, got {part!r}")
        pairs[key.strip()] = value.strip()
    return pairs
