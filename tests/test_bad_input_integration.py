"""A corpus of bad input driven through the real ingestion path (the broker, the flow, the
dead-letter topic): truncated Avro, unknown schema ids, payloads over a configured size
limit, JSON nested too deep, invalid UTF-8, NaN and infinities (in JSON and in Avro),
timestamps far in the past and the future, and redelivered event ids. Each kind is
dead-lettered with its own reason, exactly as many times as it was sent, the valid events
around them all count, and the run's counters account for every record.

The corpus comes from seeded generators, a few dozen variants of each kind (cut points,
ids, depths, byte positions, magnitudes); ``tests/test_ingest.py`` fuzzes the same gate in
process with hypothesis over arbitrary bytes."""

from __future__ import annotations

import random
import struct
import time
from collections import Counter

import orjson
import pytest

from offerflow import runner
from offerflow.devstack.sample import generate
from offerflow.devstack.tally import tally
from offerflow.kafka_io import produce, read_to_end
from schemas import codec
from schemas.units import DAY_MS
from tests.conftest import FLOW_TIMEOUT_S, Run

pytestmark = pytest.mark.integration

MAX_BYTES = 4096  # a configured limit (OFFERFLOW_MAX_EVENT_BYTES), not the default
VARIANTS = 25


def _event(rng: random.Random, now: int, **fields: object) -> dict:
    return {
        "event_id": f"c-{rng.randrange(10**12)}",
        "type": "page_view",
        "user_id": f"user-{rng.randrange(50):06d}",
        "ts": now - rng.randrange(60_000),
        "properties": {"page": "/"},
        **fields,
    }


def corpus(seed: int, now: int) -> list[tuple[str, bytes, bytes]]:
    """``(expected reason, key, value)`` for every bad record."""
    rng = random.Random(seed)
    out: list[tuple[str, bytes, bytes]] = []

    def add(reason: str, value: bytes, key: bytes = b"bad") -> None:
        out.append((reason, key, value))

    for _ in range(VARIANTS):
        avro = codec.encode("event", _event(rng, now), "confluent")
        add("avro_decode_error", avro[: rng.randrange(6, len(avro) - 1)])
        unknown = rng.choice([0, 77, 999, 2**31 - 1])
        add("unknown_schema_id", b"\x00" + struct.pack(">I", unknown) + avro[5:])
        pad = "x" * rng.randrange(MAX_BYTES, 3 * MAX_BYTES)
        add("too_large", orjson.dumps(_event(rng, now, properties={"pad": pad})))
        depth = rng.randrange(1025, 2000)
        add("too_deep", b"[" * depth + b"]" * depth)
        clean = orjson.dumps(_event(rng, now, properties={"page": "/MARK"}))
        add("invalid_utf8", clean.replace(b"MARK", bytes([rng.choice([0xFF, 0xC3, 0xE2])])))
        token = rng.choice([b"NaN", b"Infinity", b"-Infinity"])
        add("non_finite_number", clean.replace(b'"/MARK"', token))
        nan = _event(rng, now, properties={"value": rng.choice([float("nan"), float("inf")])})
        add("non_finite_number", codec.encode("event", nan, "confluent"))
        old = now - rng.randrange(31, 3650) * DAY_MS
        add("timestamp_out_of_range", orjson.dumps(_event(rng, now, ts=old)))
        future = now + rng.randrange(2, 10**6) * 3_600_000
        add("timestamp_out_of_range", orjson.dumps(_event(rng, now, ts=future)))
    return out


def test_bad_input_corpus_is_dead_lettered_by_reason_and_every_record_is_counted(
    live_stack: None,
) -> None:
    run = Run(OFFERFLOW_MAX_EVENT_BYTES=str(MAX_BYTES))
    try:
        now = int(time.time() * 1000)
        bad = corpus(seed=12, now=now)
        valid = generate(3_000, seed=12, users=300, malformed_rate=0.0, duplicate_rate=0.0,
                         now_ms=now)  # fmt: skip
        redelivered = random.Random(5).sample(valid, 40)  # the same bytes again, later
        records = [(s.key, s.value) for s in valid]
        rng = random.Random(6)
        for _reason, key, value in bad:  # bad records in among the valid ones
            records.insert(rng.randrange(len(records)), (key, value))
        records += [(s.key, s.value) for s in redelivered]
        produce(run.settings, run.settings.topic("events"), records)
        assert runner.run("profiles", timeout=FLOW_TIMEOUT_S, env=run.env) == 0

        result = tally(run.settings)
        want = Counter(reason for reason, _k, _v in bad)
        want["duplicate_event"] = len(redelivered)
        assert len(want) == 8 and dict(result.dead_letters) == dict(want)
        assert result.events == len(valid)
        assert result.accepted + result.dead == len(records)  # every record accounted for
        assert max(result.dead_letter_ids.values()) == 1
        letters = [codec.decode("dead_letter", m.value())
                   for m in read_to_end(run.settings, run.settings.topic("dlq"))]  # fmt: skip
        refused = Counter(d["original_value"] for d in letters if d["reason"] != "duplicate_event")
        assert refused == Counter(v for _reason, _k, v in bad)  # with their original bytes
    finally:
        run.cleanup()
