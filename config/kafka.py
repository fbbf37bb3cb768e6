"""Settings of Kafka, topics and record formats."""

from __future__ import annotations

from config.values import at_least, boolean, key_values, number, one_of, text
from config.variable import Variable
from schemas.codec import FORMATS

KAFKA = "Kafka and formats"

#: Logical topic names (see Topics in the README); the real name is ``<prefix>.<logical>``
#: unless ``OFFERFLOW_TOPIC_<LOGICAL>`` names it outright.
TOPICS = ("events", "campaigns", "decisions", "attributions", "segments", "privacy", "drift",
          "dlq", "internal")  # fmt: skip

VARIABLES: tuple[Variable, ...] = (
    Variable(
        "KAFKA_BOOTSTRAP",
        "127.0.0.1:9092",
        "Kafka `bootstrap.servers`. When set, "
        "`scripts/stack` uses that cluster and starts no local broker.",
        KAFKA,
        text,
    ),
    Variable(
        "KAFKA_CONFIG",
        "",
        "Extra librdkafka properties for every client, `k=v` pairs "
        "separated by `;` (e.g. `security.protocol=SASL_SSL;sasl.mechanism=PLAIN`).",
        KAFKA,
        key_values,
    ),
    Variable(
        "KAFKA_BATCH_SIZE",
        "1000",
        "Messages per Kafka source poll.",
        KAFKA,
        at_least(1),
    ),
    Variable(
        "PARTITIONS",
        "4",
        "Partitions per topic created by `offerflow stack up`; bounds parallelism.",
        KAFKA,
        at_least(1),
    ),
    Variable(
        "REPLICATION",
        "1",
        "Replication factor of created topics.",
        KAFKA,
        at_least(1),
    ),
    Variable(
        "TOPIC_PREFIX",
        "offerflow",
        "Prefix of every topic name (`<prefix>.events`, ...).",
        KAFKA,
    ),
    *(
        Variable(
            f"TOPIC_{t.upper()}", "", f"Full name of the {t} topic (default `<prefix>.{t}`).", KAFKA
        )
        for t in TOPICS
    ),
    Variable(
        "INPUT_FORMAT",
        "auto",
        "Inbound event format: `auto` (JSON, or Avro in the "
        "Confluent wire format, told apart per record), `json`, `avro` (schemaless) or "
        "`confluent`.",
        KAFKA,
        one_of("auto", *FORMATS),
    ),
    Variable(
        "OUTPUT_FORMAT",
        "json",
        "Outbound record format: `json`, `avro` or `confluent`.",
        KAFKA,
        one_of(*FORMATS),
    ),
    Variable(
        "AVRO_SCHEMA_IDS",
        "",
        "Wire ids assigned by your schema registry, e.g. "
        "`event=17,dead_letter=22` (defaults: event=1 ... drift_detection=7).",
        KAFKA,
        text,
    ),
    Variable(
        "AVRO_WRITER_SCHEMAS",
        "",
        "Other versions of a schema that producers write with, `NAME=ID:PATH` comma-separated "
        "(e.g. `event=17:/etc/offerflow/event-v2.avsc`): read by Avro schema resolution; an "
        "unresolvable record is dead-lettered as `incompatible_schema`.",
        KAFKA,
    ),
    Variable(
        "MAX_EVENT_BYTES",
        "65536",
        "Larger inbound records are dead-lettered unread.",
        KAFKA,
        at_least(64),
    ),
    Variable(
        "MAX_EVENT_AGE_S",
        "2592000",
        "Events older than this (seconds before now) are dead-lettered; raise it for backfills.",
        KAFKA,
        number,
    ),
    Variable(
        "MAX_FUTURE_S",
        "3600",
        "Events further than this in the future are dead-lettered.",
        KAFKA,
        number,
    ),
    Variable(
        "TAIL",
        "true",
        "`false`: flows stop at the end of their input topics (tests, backfills, the demo).",
        KAFKA,
        boolean,
    ),
)
