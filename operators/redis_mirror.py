"""A Bytewax sink that mirrors keyed documents into Redis as JSON, surviving Redis outages.

Redis is a read model for outside readers; the dataflow's own state lives in Bytewax. So a
Redis outage must never stop the flow: writes that fail stay pending, coalesced by key (the
newest value of a key replaces an older pending one, because every write carries the key's
whole current value), and are retried with exponential backoff on later batches, or by a
short-lived retry thread while no batches arrive. Writing whole values also makes replays after
a crash harmless: rewriting a key with the same value is a no-op for readers.

Each item is ``(key, document)``: the document replaces the value at ``key`` as JSON with one
``SET key value EX ttl`` (atomic, so readers never see half a document, and a third of the cost
of a ``DEL``/``HSET``/``EXPIRE`` transaction per key); ``None`` deletes the key.

Examples
--------

>>> import redis
>>> client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
>>> part = RedisMirrorPartition(client, ttl_s=60)
>>> key = "offerflow:doctest:k"
>>> part.write_batch([(key, {"events": 3}), (key, {"events": 4})])
>>> client.get(key), 0 < client.ttl(key) <= 60
(b'{"events":4}', True)
>>> part.write_batch([(key, None)])
>>> client.exists(key)
0

"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import redis
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from redis.backoff import NoBackoff
from redis.retry import Retry

from operators import metrics

log = logging.getLogger(__name__)

Document = Mapping[str, Any] | None
Item = tuple[str, Document]


class RedisMirrorPartition(StatelessSinkPartition[Item]):
    """One worker's Redis writer with a coalescing retry buffer.

    Parameters
    ----------
    client
        Redis client; give it short socket timeouts so an outage costs little per batch.
    ttl_s
        Expiry set on every written key, so entries of inactive keys age out.
    max_pending
        Most keys held while Redis is unreachable; beyond it the oldest pending writes are
        discarded with an error log (the flow's state still holds the values, and the next
        update of a discarded key rewrites it).
    clock
        Monotonic seconds, for the retry backoff.

    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        ttl_s: int,
        max_pending: int = 1_000_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.max_pending = max_pending
        self.clock = clock
        self.pending: dict[str, Document] = {}
        self.failures = 0
        self.discarded = 0
        self._retry_at = 0.0
        # A sink is only called with items, so after an outage a thread retries until the
        # writes are through; it exists only while writes are pending (a source ticking every
        # second instead made an idle flow's CPU grow with uptime).
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._retrying = False

    def write_batch(self, items: list[Item]) -> None:
        """Queue ``items`` and flush everything pending unless Redis is in backoff."""
        with self._lock:
            self._queue(items)
            if self.pending and self.clock() >= self._retry_at:
                self._flush()

    def flush(self) -> bool:
        """Try to write everything pending; return whether it all went through."""
        with self._lock:
            return self._flush()

    def close(self) -> None:
        """Last attempt to write what is pending when the flow stops."""
        self._closed.set()
        if not self.flush():
            log.error("flow stopping with %d Redis writes not applied", len(self.pending))
        self.client.close()

    def _queue(self, items: list[Item]) -> None:
        for key, document in items:
            self.pending.pop(key, None)  # re-insert so dict order stays oldest-first
            self.pending[key] = document
        overflow = len(self.pending) - self.max_pending
        if overflow > 0:
            for key in list(self.pending)[:overflow]:
                del self.pending[key]
            self.discarded += overflow
            log.error(
                "Redis unreachable: discarded %d pending writes (max_pending=%d)",
                overflow,
                self.max_pending,
            )

    def _flush(self) -> bool:
        if not self.pending:
            return True
        pipe = self.client.pipeline(transaction=False)
        for key, document in self.pending.items():
            if document is None:
                pipe.delete(key)
            else:
                # execute_command skips set()'s argument checks: a third of the write cost
                pipe.execute_command("SET", key, orjson.dumps(document), "EX", self.ttl_s)
        try:
            pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self.failures += 1
            metrics.count_redis_error()
            backoff = min(30.0, 0.5 * 2 ** min(self.failures, 6))
            self._retry_at = self.clock() + backoff
            log.warning(
                "Redis write failed (%s); %d keys pending, retry in %.1f s",
                exc,
                len(self.pending),
                backoff,
            )
            if not self._retrying and not self._closed.is_set():
                self._retrying = True
                threading.Thread(target=self._retry, name="redis-retry", daemon=True).start()
            return False
        if self.failures:
            log.warning("Redis is back: wrote %d pending keys", len(self.pending))
        self.failures = 0
        self.pending.clear()
        return True

    def _retry(self) -> None:
        """Flush when each backoff ends until everything is written (or the sink closes)."""
        while not self._closed.wait(max(0.05, self._retry_at - self.clock())):
            with self._lock:
                if not self.pending or (self.clock() >= self._retry_at and self._flush()):
                    self._retrying = False
                    return
        self._retrying = False


class RedisMirrorSink(DynamicSink[Item]):
    """Per-worker :class:`RedisMirrorPartition` writers for a Redis URL.

    Parameters
    ----------
    url
        Redis URL, e.g. ``redis://127.0.0.1:6379/0``.
    ttl_s
        Expiry of every written key.

    """

    def __init__(self, url: str, *, ttl_s: int) -> None:
        self.url = url
        self.ttl_s = ttl_s

    def build(self, step_id: str, worker_index: int, worker_count: int) -> RedisMirrorPartition:
        return RedisMirrorPartition(client_for(self.url), ttl_s=self.ttl_s)


def client_for(url: str) -> redis.Redis:
    """A Redis client that fails fast: short timeouts and no internal retries, because
    :class:`RedisMirrorPartition` does its own backoff and must not stall the flow."""
    return redis.Redis.from_url(
        url, socket_connect_timeout=1.0, socket_timeout=2.0, retry=Retry(NoBackoff(), 0)
    )
