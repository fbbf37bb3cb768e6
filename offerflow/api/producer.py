"""An idempotent Kafka producer whose deliveries an asyncio handler can await.

confluent-kafka reports deliveries from ``poll``; a task on the event loop polls (without
blocking) every few milliseconds, so delivery callbacks run on the loop's own thread and
resolve the requests' futures directly: no second Python thread competes for the GIL with
the handlers. Before a batch is queued the producer's queue is checked for room for all of it,
so a full queue refuses a whole batch (the caller answers 503) instead of queuing part of it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, Producer

#: Seconds between polls while deliveries are awaited, and while none are.
BUSY_POLL_S, IDLE_POLL_S = 0.002, 0.02


class QueueFull(Exception):
    """The producer's local queue has no room: the caller should retry later."""


@dataclass(frozen=True)
class Record:
    """One message for a topic."""

    topic: str
    key: bytes | None
    value: bytes


class AsyncProducer:
    """Produce and await broker acknowledgements from asyncio code; :meth:`start` the poll
    task on the loop that will use it.

    Parameters
    ----------
    config
        confluent-kafka settings (``bootstrap.servers``, security); idempotence is always on.
    delivery_timeout_ms
        ``message.timeout.ms``: a message not acknowledged by then fails.
    max_queued
        Messages the local queue may hold.
    linger_ms
        How long a message may wait for others to share its request to the broker: more
        means fewer, larger requests (the broker's CPU), and a later acknowledgement.
    errors_only
        Report only failed deliveries (librdkafka's ``delivery.report.only.error``): a
        producer used only to :meth:`post` then runs no Python callback per message. Such a
        producer cannot :meth:`send`, which waits for each acknowledgement.

    """

    def __init__(
        self,
        config: Mapping[str, str],
        delivery_timeout_ms: int,
        max_queued: int = 100_000,
        linger_ms: int = 2,
        errors_only: bool = False,
    ) -> None:
        self.max_queued = max_queued
        self.errors_only = errors_only
        self.failures = 0  # posted messages the broker did not take
        self._awaited = 0  # deliveries a request is waiting for
        self._producer: Any = Producer(
            {
                **config,
                "enable.idempotence": True,
                "linger.ms": linger_ms,
                "message.timeout.ms": delivery_timeout_ms,
                "queue.buffering.max.messages": max_queued,
                "delivery.report.only.error": errors_only,
            }
        )
        self._poller: asyncio.Task | None = None

    def start(self) -> None:
        """Start polling on the running loop."""
        self._poller = asyncio.get_running_loop().create_task(self._poll())

    def queued(self) -> int:
        """Messages waiting in the local queue."""
        return len(self._producer)

    async def send(self, records: Sequence[Record]) -> list[str | None]:
        """Queue ``records`` and wait for each one's acknowledgement: ``None`` when it is
        on the topic, else the error. Raises :class:`QueueFull` (nothing queued) when the
        local queue cannot take them all."""
        if self.errors_only:
            raise TypeError("this producer reports failed deliveries only: it cannot send()")
        self._check_room(len(records))
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in records]
        for record, future in zip(records, futures, strict=True):

            def done(err: KafkaError | None, _msg, future=future) -> None:
                if not future.done():
                    future.set_result(None if err is None else str(err))

            try:
                self._producer.produce(record.topic, record.value, record.key, on_delivery=done)
            except BufferError:  # another request took the room since the check
                future.set_result("local queue full")
        self._awaited += len(futures)
        try:
            return list(await asyncio.gather(*futures))
        finally:
            self._awaited -= len(futures)

    def post(self, records: Sequence[Record]) -> None:
        """Queue ``records`` without waiting for them (a decision's answer must not wait for
        the broker); a failed delivery is counted in ``failures``. Raises :class:`QueueFull`
        (nothing queued) when the local queue cannot take them all."""
        self._check_room(len(records))
        for record in records:
            self._producer.produce(record.topic, record.value, record.key, on_delivery=self._count)

    async def close(self, timeout_s: float = 10.0) -> None:
        """Stop polling and deliver what is queued (up to ``timeout_s``)."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        await asyncio.to_thread(self._producer.flush, timeout_s)
        self._producer = None  # destroyed now, not at some later collection (it keeps retrying)

    def _check_room(self, wanted: int) -> None:
        if self.queued() + wanted > self.max_queued:
            raise QueueFull

    def _count(self, err: KafkaError | None, _msg) -> None:
        if err is not None:
            self.failures += 1

    async def _poll(self) -> None:
        while True:
            self._producer.poll(0)
            await asyncio.sleep(BUSY_POLL_S if self._awaited else IDLE_POLL_S)
