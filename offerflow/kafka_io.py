"""Plain confluent-kafka helpers for commands and tests: produce with a progress bar, read a
topic to its end, delete topics.

Reading uses manual partition assignment and ``enable.partition.eof`` rather than consumer
groups and watermarks: it is what Bytewax does, and the local broker's group consumer and
high-watermarks are unreliable (its group consumer ran at a flat ~4,300 records/s, and its
watermarks can trail the true end).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from config.settings import Settings
from offerflow.progress import progress


def produce(
    settings: Settings,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes | None]],
    *,
    total: int | None = None,
    desc: str = "produce",
) -> int:
    """Write ``(key, value)`` records to ``topic``; return how many were acknowledged."""
    acked = 0
    failed: list[str] = []

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        nonlocal acked
        if err is None:
            acked += 1
        else:
            failed.append(str(err))

    producer = Producer(
        settings.kafka(
            **{
                "linger.ms": "20",
                "batch.num.messages": "10000",
                "queue.buffering.max.messages": "500000",
            }
        )
    )
    for key, value in progress(records, total=total, desc=desc, unit="ev"):
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:  # local queue full: let deliveries drain
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(60) or failed:
        raise RuntimeError(f"{len(failed)} records were not delivered to {topic}: {failed[:3]}")
    return acked


def read_to_end(settings: Settings, topic: str, timeout_s: float = 60.0) -> list[Message]:
    """Every record of ``topic`` from the beginning to its current end."""
    consumer = Consumer(
        settings.kafka(
            **{
                "group.id": "offerflow-reader",
                "enable.auto.commit": "false",
                "enable.partition.eof": "true",
            }
        )
    )
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        remaining, out = set(parts), []
        deadline = time.monotonic() + timeout_s
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{topic}: partitions {sorted(remaining)} did not reach "
                    f"their end within {timeout_s} s"
                )
            for msg in consumer.consume(10_000, 0.5):
                err = msg.error()
                if err is None:
                    out.append(msg)
                elif err.code() == KafkaError._PARTITION_EOF:
                    remaining.discard(msg.partition())
                else:
                    raise RuntimeError(f"{topic}: {err}")
        return out
    finally:
        consumer.close()


def delete_topics(settings: Settings, topics: Iterable[str]) -> None:
    """Delete ``topics`` (close every consumer of them first: the local broker crashes clients
    still assigned to a deleted topic)."""
    names = list(topics)
    if names:
        admin = AdminClient(settings.kafka())  # must outlive the futures it returns
        for future in admin.delete_topics(names).values():
            future.result(timeout=30)
