"""An idempotent Kafka producer whose deliveries an asyncio handler can await.

confluent-kafka reports deliveries from ``poll``; a thread of its own polls, and each delivery
resolves the request's future on the event loop. Before a batch is queued the producer's
queue is checked for room for all of it, so a full queue refuses a whole batch (the caller
answers 503) instead of queuing part of it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, Producer


class QueueFull(Exception):
    """The producer's local queue has no room: the caller should retry later."""


@dataclass(frozen=True)
class Record:
    """One message for a topic."""

    topic: str
    key: bytes | None
    value: bytes


class AsyncProducer:
    """Produce and await broker acknowledgements from asyncio code.

    Parameters
    ----------
    config
        confluent-kafka settings (``bootstrap.servers``, security); idempotence is always on.
    delivery_timeout_ms
        ``message.timeout.ms``: a message not acknowledged by then fails.
    max_queued
        Messages the local queue may hold.

    """

    def __init__(
        self, config: Mapping[str, str], delivery_timeout_ms: int, max_queued: int = 100_000
    ) -> None:
        self.max_queued = max_queued
        self.failures = 0  # posted messages the broker did not take
        self._producer = Producer(
            {
                **config,
                "enable.idempotence": True,
                "linger.ms": 2,
                "message.timeout.ms": delivery_timeout_ms,
                "queue.buffering.max.messages": max_queued,
            }
        )
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="api-producer", daemon=True)
        self._poller.start()

    def queued(self) -> int:
        """Messages waiting in the local queue."""
        return len(self._producer)

    async def send(self, records: Sequence[Record]) -> list[str | None]:
        """Queue ``records`` and wait for each one's acknowledgement: ``None`` when it is
        on the topic, else the error. Raises :class:`QueueFull` (nothing queued) when the
        local queue cannot take them all."""
        if self.queued() + len(records) > self.max_queued:
            raise QueueFull
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in records]
        for record, future in zip(records, futures, strict=True):

            def done(err: KafkaError | None, _msg, future=future) -> None:
                outcome = None if err is None else str(err)
                loop.call_soon_threadsafe(_settle, future, outcome)

            try:
                self._producer.produce(record.topic, record.value, record.key, on_delivery=done)
            except BufferError:  # another request took the room since the check
                future.set_result("local queue full")
        return list(await asyncio.gather(*futures))

    def post(self, records: Sequence[Record]) -> None:
        """Queue ``records`` without waiting for them (a decision's answer must not wait for
        the broker); a failed delivery is counted in ``failures``. Raises :class:`QueueFull`
        (nothing queued) when the local queue cannot take them all."""
        if self.queued() + len(records) > self.max_queued:
            raise QueueFull
        for record in records:
            self._producer.produce(record.topic, record.value, record.key, on_delivery=self._count)

    def _count(self, err: KafkaError | None, _msg) -> None:
        if err is not None:
            self.failures += 1

    def close(self, timeout_s: float = 10.0) -> None:
        """Deliver what is queued (up to ``timeout_s``) and stop polling."""
        self._stop.set()
        self._poller.join()
        self._producer.flush(timeout_s)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)


def _settle(future: asyncio.Future, outcome: str | None) -> None:
    if not future.done():
        future.set_result(outcome)
