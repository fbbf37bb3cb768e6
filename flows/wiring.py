"""Steps every flow shares: consume events, pass them through the ingestion gate, and publish
dead letters. Flows call these so the gate is wired the same way everywhere, and so is the
counting (:mod:`operators.metrics`): input positions, accepted events by type, dead letters
by reason and records out by topic are counted here, in ``op.inspect`` steps."""

from __future__ import annotations

import logging

from bytewax import operators as op
from bytewax.connectors.kafka import KafkaError, KafkaSinkMessage, KafkaSourceMessage
from bytewax.connectors.kafka import operators as kop
from bytewax.dataflow import Dataflow, Stream, operator
from bytewax.operators import KeyedStream

from config.settings import Settings
from operators import metrics
from operators.dead_letter import DeadLetter, Origin
from operators.ingest import Ingestor
from operators.packed_state import PackedLogic
from operators.pickled_state import PickledFoldLogic, PickledMapLogic
from operators.pseudonymize import Pseudonymizer
from schemas import codec, registry
from schemas.event import Event, EventType
from schemas.rejection import Reason

#: Source tuning; ``OFFERFLOW_KAFKA_CONFIG`` overrides it. A short ``fetch.queue.backoff.ms``
#: keeps the prefetch queue refilled between polls. The flow has a consumer per partition of
#: each topic it reads, and with a 10 ms fetch wait they kept the local broker at a full core
#: under live load: at 1,000 events/s, a 100 ms wait took the broker from 109% to 53% of a
#: core and decision p99 from 3.3 s to 0.8 s; at 2,000 events/s, p99 went from 27.6 s to
#: 1.2 s. A broker answers
#: a fetch as soon as it has data, so the wait bounds only idle polling (on Tansu a read of
#: pre-produced topics ran 7% slower with it, 2,296 against 2,481 events/s).
SOURCE_TUNING = {"fetch.wait.max.ms": "100", "fetch.queue.backoff.ms": "10"}


class _NoConfigWarnings(logging.Filter):
    """Drops librdkafka's CONFWARN lines: Bytewax hands a source's consumer settings to the
    admin client it lists partitions with, and librdkafka warns about each one there."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "CONFWARN" not in record.getMessage()


#: librdkafka's log for the flow's sources, through Python logging (every other line kept).
KAFKA_LOG = logging.getLogger("offerflow.librdkafka")
KAFKA_LOG.addFilter(_NoConfigWarnings())


def brokers(settings: Settings) -> list[str]:
    """``bootstrap.servers`` as the list Bytewax's connectors take."""
    return [b.strip() for b in settings.kafka_bootstrap.split(",") if b.strip()]


def make_ingestor(settings: Settings) -> Ingestor:
    """The ingestion gate configured by ``settings`` (also applies schema id overrides and
    registers the writer schemas)."""
    registry.use_ids(registry.parse_id_overrides(settings.avro_schema_ids))
    registry.use_writers(registry.parse_writers(settings.avro_writer_schemas))
    return Ingestor(
        Pseudonymizer(settings.id_key),
        max_bytes=settings.max_event_bytes,
        max_age_s=settings.max_event_age_s,
        max_future_s=settings.max_future_s,
        input_format=settings.input_format,  # type: ignore[arg-type]
        policy=settings.gate,
        signing_key=settings.sender_key,
        redact=settings.dlq_redact,
    )


def consume(
    step_id: str, flow: Dataflow, settings: Settings, logical: str
) -> tuple[Stream[KafkaSourceMessage], Stream[DeadLetter]]:
    """Read a topic: its records, and its consumer errors as dead letters (an unattached error
    stream would drop them silently)."""
    consumed = kop.input(
        step_id,
        flow,
        brokers=brokers(settings),
        topics=[settings.topic(logical)],
        tail=settings.tail,
        add_config={**SOURCE_TUNING, "logger": KAFKA_LOG, **settings.kafka_config},
        batch_size=settings.kafka_batch_size,
    )
    inbound = logical == "events"  # the ingest latency is the events topic's alone

    def count(_step: str, msg: KafkaSourceMessage) -> None:
        ts = origin(msg).timestamp_ms if inbound else None
        metrics.count_consumed(msg.topic, msg.partition, msg.offset, ts)
        if inbound:
            metrics.arrived(msg)

    records = op.inspect(f"{step_id}_positions", consumed.oks, count)
    return records, op.map(f"{step_id}_errors", consumed.errs, _consumer_error_letter)


def ingest(flow: Dataflow, settings: Settings) -> tuple[Stream[Event], Stream[DeadLetter]]:
    """Consume the events topic and split it into accepted events and dead letters."""
    records, consumer_errors = consume("events_in", flow, settings, "events")
    gate = make_ingestor(settings)
    if gate.redact:  # a consumer error carries the raw record too
        consumer_errors = op.map("redact_consumer_errors", consumer_errors, gate.redacted)

    def gated(msg: KafkaSourceMessage) -> Event | DeadLetter:
        result = gate(msg.key, msg.value, msg.headers, origin(msg))
        request = isinstance(result, Event) and result.type is EventType.DECISION_REQUEST
        metrics.gated(msg, result.event_id if request else None)  # type: ignore[union-attr]
        return result

    results = op.map("ingest", records, gated)
    split = op.branch("split_accepted", results, lambda r: isinstance(r, Event))
    accepted = op.inspect("count_accepted", split.trues, lambda _s, e: metrics.count_event(e.type))
    return accepted, op.merge("dead_letters", split.falses, consumer_errors)


def publish_dead_letters(dead: Stream[DeadLetter], settings: Settings) -> None:
    """Encode dead letters and write them to the dead-letter topic, keyed like the original."""
    fmt = settings.output_format
    dead = op.inspect("count_dead_letters", dead, lambda _s, d: metrics.count_dead_letter(d.reason))
    encoded = op.map(
        "encode_dead_letters",
        dead,
        lambda d: KafkaSinkMessage(d.key, codec.encode("dead_letter", d.to_record(), fmt)),
    )  # type: ignore[arg-type]
    publish("dlq", encoded, settings)


def publish(logical: str, messages: Stream[KafkaSinkMessage], settings: Settings) -> None:
    """Write encoded messages to a logical topic (step ``<logical>_out``), counted."""
    counted = op.inspect(
        f"count_{logical}_out", messages, lambda _s, _m: metrics.count_out(logical)
    )
    kop.output(
        f"{logical}_out",
        counted,
        brokers=brokers(settings),
        topic=settings.topic(logical),
        add_config=dict(settings.kafka_config),
    )


def stateful_map(step_id: str, keyed: Stream, mapper, at_end=None) -> Stream:
    """``op.stateful_map`` with pickled snapshots instead of deep copies
    (:mod:`operators.pickled_state`): ``(key, output)`` for each item, and once more per key
    when the input ends if ``at_end(state) -> (state, output)`` is given."""
    return op.stateful(step_id, keyed, lambda resume: PickledMapLogic(mapper, resume, at_end))


@operator
def packed_stateful(step_id: str, up: KeyedStream, builder) -> KeyedStream:
    """``op.stateful`` for per-user steps: each key rests as its snapshot between epochs
    (:mod:`operators.packed_state`). Its inner step id is ``op.stateful``'s, so a recovery
    store written by either reads in the other."""
    return op.stateful_batch("stateful_batch", up, lambda resume: PackedLogic(builder, resume))


def packed_map(step_id: str, keyed: Stream, mapper) -> Stream:
    """:func:`stateful_map` for per-user steps, whose keys rest as their pickle between
    epochs (:func:`packed_stateful`)."""
    return packed_stateful(step_id, keyed, lambda resume: PickledMapLogic(mapper, resume))


def stateful_fold(step_id: str, keyed: Stream, fold, summary) -> Stream:
    """A keyed step that folds each batch of a key's items into its state and emits
    ``(key, summary(state))`` once per batch (:class:`~operators.pickled_state.PickledFoldLogic`):
    for steps whose output is a document of their whole state."""
    return op.stateful_batch(step_id, keyed, lambda resume: PickledFoldLogic(fold, summary, resume))


def keyed_outputs(step_id: str, keyed: Stream, mapper) -> Stream:
    """A :func:`stateful_map` step whose mapper returns a list of outputs per item, flattened:
    ``(key, output)`` for each (the list step is named ``<step_id>_outputs``)."""
    return op.flat_map_value(
        f"{step_id}_outputs", stateful_map(step_id, keyed, mapper), lambda out: out
    )


def origin(msg: KafkaSourceMessage) -> Origin:
    """Where a consumed record came from, for its dead letter."""
    ts = msg.timestamp[1] if msg.timestamp and msg.timestamp[0] else None
    return Origin(msg.topic, msg.partition, msg.offset, ts)


def _consumer_error_letter(err: KafkaError) -> DeadLetter:
    msg = err.msg
    return DeadLetter(Reason.KAFKA_ERROR, str(err.err), msg.key, msg.value, origin(msg))
