"""The Redis sink keeps the flow going through an outage and catches up afterwards."""

from __future__ import annotations

import time

import redis

from operators.redis_mirror import RedisMirrorPartition, client_for


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def dead_client() -> redis.Redis:
    return client_for("redis://127.0.0.1:1/0")  # nothing listens on port 1


def test_outage_keeps_latest_values_and_catches_up(live_stack: None) -> None:
    clock = Clock()
    part = RedisMirrorPartition(dead_client(), ttl_s=60, clock=clock)
    part.write_batch([("offerflow:test-sink:a", {"n": 1}), ("offerflow:test-sink:b", {"n": 1})])
    part.write_batch([("offerflow:test-sink:a", {"n": 2})])  # in backoff: queued, not tried
    assert part.failures == 1 and part.pending == {
        "offerflow:test-sink:a": {"n": 2},
        "offerflow:test-sink:b": {"n": 1},
    }
    part.client = redis.Redis.from_url("redis://127.0.0.1:6379/0")  # Redis is back
    part.write_batch([("offerflow:test-sink:c", None)])
    assert part.pending  # still in backoff
    clock.now = 100.0
    part.write_batch([])
    assert part.pending == {} and part.failures == 0
    assert part.client.get("offerflow:test-sink:a") == b'{"n":2}'
    assert part.client.get("offerflow:test-sink:b") == b'{"n":1}'
    part.client.delete("offerflow:test-sink:a", "offerflow:test-sink:b")


def test_pending_is_bounded_oldest_first() -> None:
    part = RedisMirrorPartition(dead_client(), ttl_s=60, max_pending=2, clock=Clock())
    part.write_batch([("a", {"n": 1}), ("b", {"n": 1}), ("c", {"n": 1})])
    assert list(part.pending) == ["b", "c"] and part.discarded == 1
    part.write_batch([("b", {"n": 2}), ("d", {"n": 1})])
    assert list(part.pending) == ["b", "d"] and part.discarded == 2
    part.close()


def test_pending_writes_go_through_with_no_new_items(live_stack: None) -> None:
    """After an outage the writes land once Redis is back even if the flow has nothing more
    to write (an idle flow calls its sinks with nothing)."""
    part = RedisMirrorPartition(dead_client(), ttl_s=60)
    part.write_batch([("offerflow:test-sink:idle", {"n": 1})])
    assert part.pending and part.failures == 1
    part.client = redis.Redis.from_url("redis://127.0.0.1:6379/0")  # Redis is back
    deadline = time.monotonic() + 10
    while part.pending and time.monotonic() < deadline:
        time.sleep(0.05)
    assert part.client.get("offerflow:test-sink:idle") == b'{"n":1}' and part.failures == 0
    part.client.delete("offerflow:test-sink:idle")
    part.close()


def test_a_document_replaces_the_previous_one(live_stack: None) -> None:
    part = RedisMirrorPartition(redis.Redis.from_url("redis://127.0.0.1:6379/0"), ttl_s=60)
    part.write_batch([("offerflow:test-sink:r", {"old": 1, "n": 1})])
    part.write_batch([("offerflow:test-sink:r", {"n": 2})])
    assert part.client.get("offerflow:test-sink:r") == b'{"n":2}'
    part.write_batch([("offerflow:test-sink:r", None)])
    assert not part.client.exists("offerflow:test-sink:r")
