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
config.values.ConfigError: OFFERFLOW_ID_KEY is not set: production runs need a secret ...

"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from config.secrets import MIN_KEY_BITS, mask_kafka_config, mask_url, weakness
from config.values import (
    ConfigError,
    allow_list,
    boolean,
    duration,
    integer,
    money,
    number,
)
from config.variables import DEV_ID_KEY, TOPICS, VARIABLES
from operators.gate_policy import (
    DEFAULT_CHANNELS,
    DEFAULT_PURPOSES,
    DEFAULT_SOURCES,
    DEFAULT_TRAITS,
    GatePolicy,
)
from operators.ingest import sender_key
from schemas import registry
from schemas.units import DAY_MS

_DEFAULTS = {v.name: v.default for v in VARIABLES}


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build with :meth:`from_env`."""

    env: str
    id_key: bytes
    sender_key: bytes
    dlq_redact: bool
    dlq_retention_ms: int
    gate: GatePolicy
    max_products: int
    kafka_bootstrap: str
    kafka_config: Mapping[str, str]
    kafka_batch_size: int
    partitions: int
    replication: int
    topics: Mapping[str, str]
    input_format: str
    output_format: str
    avro_schema_ids: str
    avro_writer_schemas: str
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
    predict_refresh_ms: int
    predict_min_repeat: int
    predict_model: str
    clv_horizon_days: int
    clv_discount: float
    recommendations: bool
    catalog_file: str
    reco_k: int
    reco_per_category: int
    reco_repeat: str
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
    api_host: str
    api_port: int
    api_keys_file: str
    api_rate: int
    api_max_body_bytes: int
    api_max_batch: int
    api_cors_origins: str
    api_delivery_timeout_ms: int
    api_decisions_linger_ms: int
    api_redis_timeout_ms: int
    shared_slots: bool
    api_posterior_max_age_ms: int

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, need_id_key: bool = True
    ) -> Settings:
        """Resolve every setting from ``environ`` (default ``os.environ``) and the config file.
        ``need_id_key=False`` is for processes that never pseudonymize (senders, dashboard):
        they run without the id key, which then is empty."""
        environ = os.environ if environ is None else environ
        raw = _layered(environ)
        env = raw["ENV"]
        if env not in ("dev", "production"):
            raise ConfigError(f"OFFERFLOW_ENV must be dev or production, got {env!r}")
        key = raw["ID_KEY"]
        if not key and env == "dev":
            key = DEV_ID_KEY
        elif not key and need_id_key:
            raise ConfigError(
                "OFFERFLOW_ID_KEY is not set: production runs need a secret pseudonymization "
                "key of at least 16 bytes (set OFFERFLOW_ENV=dev to use the built-in "
                "development key)"
            )
        elif key == DEV_ID_KEY and env != "dev":
            raise ConfigError(
                "OFFERFLOW_ID_KEY is the public development key; production runs need a secret one"
            )
        if key and len(key.encode()) < 16:
            raise ConfigError("OFFERFLOW_ID_KEY must be at least 16 bytes")
        signing = raw["SENDER_KEY"]
        if env == "production":
            _check_strength("ID_KEY", key)
            _check_strength("SENDER_KEY", signing)
        channels = allow_list(raw, "CHANNELS", DEFAULT_CHANNELS)
        gate = GatePolicy(
            channels=channels,
            sources=allow_list(raw, "ATTRIBUTION_SOURCES", DEFAULT_SOURCES) | channels,
            purposes=allow_list(raw, "CONSENT_PURPOSES", DEFAULT_PURPOSES) | channels,
            traits=allow_list(raw, "TRAITS", DEFAULT_TRAITS),
            max_properties=integer(raw, "MAX_PROPERTIES", 1),
            max_string=integer(raw, "MAX_STRING", 16),
            max_value=money(raw, "MAX_PURCHASE_VALUE"),
        )
        prefix = raw["TOPIC_PREFIX"]
        topics = {t: raw[f"TOPIC_{t.upper()}"] or f"{prefix}.{t}" for t in TOPICS}
        return cls(
            env=env,
            id_key=key.encode(),
            sender_key=signing.encode() if signing else (sender_key(key.encode()) if key else b""),
            dlq_redact=env != "dev" if raw["DLQ_REDACT"] == "auto" else boolean(raw, "DLQ_REDACT"),
            gate=gate,
            topics=topics,
            avro_writer_schemas=_writer_schemas(raw["AVRO_WRITER_SCHEMAS"]),
            clv_horizon_days=max(1, duration(raw, "CLV_HORIZON") // DAY_MS),
            ops_interval_s=number(raw, "OPS_INTERVAL_S") or 2.0,
            **{v.field: v.parse(raw, v.name) for v in VARIABLES if v.parse is not None},
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
        """The settings for display, every secret masked."""
        shown = dict(self.__dict__)
        dev = self.id_key == DEV_ID_KEY.encode()
        shown["id_key"] = "(development key)" if dev else "(set)" if self.id_key else "(not set)"
        shown["sender_key"] = "(set)" if self.sender_key else "(not set)"
        shown["dashboard_token"] = "(set)" if self.dashboard_token else "(random at start)"
        shown["kafka_config"] = mask_kafka_config(self.kafka_config)
        shown["redis_url"] = mask_url(self.redis_url)
        gate = self.gate
        shown["gate"] = {
            name: sorted(getattr(gate, name)) if isinstance(getattr(gate, name), frozenset)
            else getattr(gate, name)
            for name in ("channels", "sources", "purposes", "traits", "max_properties",
                         "max_string", "max_value")
        }  # fmt: skip
        return shown


def _layered(environ: Mapping[str, str]) -> dict[str, str]:
    environ = {**environ, **_from_files(environ)}
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


def _writer_schemas(spec: str) -> str:
    """The writer-schema spec, checked now (files read, schemas parsed) so a bad one fails at
    start with its name, not in a flow worker."""
    try:
        registry.parse_writers(spec)
    except ValueError as exc:
        raise ConfigError(f"OFFERFLOW_AVRO_WRITER_SCHEMAS: {exc}") from None
    return spec


def _check_strength(name: str, key: str) -> None:
    reason = weakness(key) if key else None
    if reason:
        raise ConfigError(
            f"OFFERFLOW_{name} looks weak ({reason}): production needs a random key of at "
            f"least {MIN_KEY_BITS} bits, e.g. `openssl rand -hex 32`"
        )


def _from_files(environ: Mapping[str, str]) -> dict[str, str]:
    """``OFFERFLOW_<NAME>_FILE`` variables read into ``OFFERFLOW_<NAME>``."""
    out = {}
    for name in _DEFAULTS:
        path = environ.get(f"OFFERFLOW_{name}_FILE")
        if not path:
            continue
        try:
            with open(path, encoding="utf-8") as fh:
                out[f"OFFERFLOW_{name}"] = fh.read().rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read OFFERFLOW_{name}_FILE={path}: {exc}") from None
    return out
