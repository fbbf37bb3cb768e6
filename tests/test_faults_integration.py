"""Faults through the real broker and Redis: poison records on every partition are
dead-lettered with their reason while the flow keeps up with the valid events around them,
and a broker that stops answering for a while (the local broker frozen with SIGSTOP, as a
network partition or a stalled broker looks to clients) makes the flow wait, not crash, and
lose nothing once it answers again."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer

from config.settings import Settings
from offerflow.devstack import stack
from offerflow.devstack.sample import generate
from offerflow.devstack.tally import tally
from offerflow.kafka_io import read_to_end
from offerflow.runner import free_port
from schemas import codec
from tests.conftest import Run, tailing_flow, wait_for
from tests.test_flow_integration import counters, expected_counters, produce_samples

pytestmark = pytest.mark.integration

#: One record of each kind of poison, with the reason it must be dead-lettered for.
POISON = {
    "unparseable": b'{"event_id": "x", "type": "page_view", "user_id": ',
    "unknown_schema_id": b"\x00\x00\x00\x03\xe7garbage",
    "too_large": b'{"pad": "' + b"x" * 70_000 + b'"}',
    "unknown_event_type": orjson.dumps(
        {"event_id": "p", "type": "teleport", "user_id": "u", "ts": 0}
    ),
}


def _accounted(run: Run, total: int) -> bool:
    result = tally(run.settings)
    return result.accepted + result.dead >= total


def test_poison_on_every_partition_is_dead_lettered_and_the_flow_keeps_up(
    live_stack: None,
) -> None:
    run = Run(OFFERFLOW_TAIL="true")
    try:
        now = int(time.time() * 1000)
        valid = generate(
            2_000, seed=3, users=300, malformed_rate=0.0, duplicate_rate=0.0, now_ms=now
        )
        producer = Producer(run.settings.kafka())
        topic = run.settings.topic("events")
        half = len(valid) // 2
        for partition in range(run.settings.partitions):  # valid, poison, valid on each
            for s in valid[partition :: run.settings.partitions][: half // 4]:
                producer.produce(topic, s.value, s.key, partition=partition)
            for reason, value in POISON.items():
                producer.produce(topic, value, f"poison-{reason}".encode(), partition=partition)
        producer.flush(30)
        rest = [s for i, s in enumerate(valid) if (i // run.settings.partitions) >= half // 4]
        sent_valid = len(valid) - len(rest)
        with tailing_flow(run) as flow:
            wait_for(lambda: _accounted(run, sent_valid + 4 * len(POISON)), timeout=120)
            produce_samples(run, rest)  # the flow keeps up after the poison
            total = len(valid) + run.settings.partitions * len(POISON)
            wait_for(lambda: _accounted(run, total), timeout=120)
            assert flow.poll() is None
        letters = [codec.decode("dead_letter", m.value()) for m in read_to_end(
            run.settings, run.settings.topic("dlq"))]  # fmt: skip
        by_partition = Counter((d["source_partition"], d["reason"]) for d in letters)
        assert by_partition == Counter(
            (p, reason) for p in range(run.settings.partitions) for reason in POISON
        )
        originals = {bytes(d["original_value"]) for d in letters if d["reason"] != "too_large"}
        assert originals == {v for r, v in POISON.items() if r != "too_large"}
        assert counters(run.settings) == expected_counters(valid)
    finally:
        run.cleanup()


@pytest.mark.skipif("OFFERFLOW_KAFKA_BOOTSTRAP" in os.environ, reason="freezes a local broker only")
def test_flow_waits_out_an_unresponsive_broker_and_loses_nothing(
    live_stack: None, tmp_path: Path
) -> None:
    # A broker of this test's own, on a port of its own: freezing it stops nobody else's run.
    own = {
        "OFFERFLOW_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "OFFERFLOW_STACK_DIR": str(tmp_path / "stack"),
    }
    stack.up(Settings.from_env({**os.environ, **own}, need_id_key=False), external_kafka=False,
             say=lambda _line: None)  # fmt: skip
    run = Run(OFFERFLOW_TAIL="true", **own)
    pid = stack.broker_pid(run.settings)
    assert pid is not None
    samples = generate(
        4_000, seed=8, users=400, malformed_rate=0.05, now_ms=int(time.time() * 1000)
    )
    first, second = samples[:2_000], samples[2_000:]
    try:
        produce_samples(run, first)
        with tailing_flow(run) as flow:
            wait_for(lambda: _accounted(run, len(first)), timeout=120)
            os.kill(pid, signal.SIGSTOP)
            try:
                time.sleep(20)  # the flow's fetches and writes time out meanwhile
                assert flow.poll() is None, "the flow died while the broker was silent"
            finally:
                os.kill(pid, signal.SIGCONT)
            produce_samples(run, second)
            wait_for(lambda: _accounted(run, len(samples)), timeout=180)
            assert flow.poll() is None
        result = tally(run.settings)
        assert result.accepted + result.dead == len(samples)
        assert counters(run.settings) == expected_counters(samples)
        assert "kafka_error" not in result.dead_letters
        assert max(result.dead_letter_ids.values()) == 1
    finally:
        run.cleanup()
        stack.down(run.settings, say=lambda _line: None)  # stops this test's broker only
