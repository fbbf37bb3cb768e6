"""The ingestion flow end to end through the real broker and Redis, run as real Bytewax
processes: every input record is accounted for exactly, per-user counters match an
independent recomputation, recovery resumes without double counting, and two processes give
the same answer as one."""

from __future__ import annotations

import hashlib
import hmac
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import orjson
import pytest
import redis

from offerflow import runner
from offerflow.devstack.sample import Sample, email_of, generate
from offerflow.devstack.tally import profiles, tally
from offerflow.kafka_io import produce, read_to_end
from schemas import codec
from tests.conftest import FLOW_TIMEOUT_S, KEY, Run, wait_for

pytestmark = pytest.mark.integration


def expected_counters(samples: list[Sample]) -> dict[str, dict]:
    """Per-pseudonym event counts recomputed from the raw samples, independently of the
    flow's code: HMAC straight from hashlib, event fields straight from the payload."""
    out: dict[str, dict] = {}
    for s in samples:
        if s.expect not in ("valid", "duplicate"):
            continue
        pid = hmac.new(KEY.encode(), b"user:" + s.user.encode(), hashlib.sha256).hexdigest()[:32]
        doc = out.setdefault(
            pid,
            {"events": 0, "duplicates": 0, "first_ts": None, "last_ts": None, "by_type": Counter()},
        )
        if s.expect == "duplicate":
            doc["duplicates"] += 1
            continue
        raw = codec.decode("event", s.value)  # type: ignore[arg-type]
        doc["events"] += 1
        doc["by_type"][raw["type"]] += 1
        doc["first_ts"] = min(doc["first_ts"] or raw["ts"], raw["ts"])
        doc["last_ts"] = max(doc["last_ts"] or raw["ts"], raw["ts"])
    return {pid: {**d, "by_type": dict(d["by_type"])} for pid, d in out.items()}


def counters(settings) -> dict[str, dict]:
    """The same counts as read from the profile documents in Redis."""
    return {
        pid: {
            "events": d["features"]["events"],
            "duplicates": d["duplicates"],
            "first_ts": d["features"]["first_seen"],
            "last_ts": d["features"]["last_seen"],
            "by_type": {k[6:]: v for k, v in d["features"].items() if k.startswith("count.")},
        }
        for pid, d in profiles(settings).items()
    }


def produce_samples(run: Run, samples: list[Sample]) -> None:
    produce(
        run.settings,
        run.settings.topic("events"),
        ((s.key, s.value) for s in samples),
        total=len(samples),
    )


def test_every_record_is_accounted_for_exactly(run: Run) -> None:
    samples = generate(
        10_000, seed=11, users=2_000, malformed_rate=0.05, now_ms=int(time.time() * 1000)
    )
    produce_samples(run, samples)

    assert runner.run("profiles", timeout=FLOW_TIMEOUT_S, env=run.env) == 0

    result = tally(run.settings)
    expected = Counter(s.expect for s in samples)
    assert result.accepted + result.dead == len(samples) == 10_000
    assert result.events == expected["valid"] and result.duplicates == expected["duplicate"]
    assert expected["duplicate"] > 0  # the redeliveries are exercised
    assert dict(result.dead_letters) == {
        ("duplicate_event" if k == "duplicate" else k): v
        for k, v in expected.items()
        if k != "valid"
    }
    assert max(result.dead_letter_ids.values()) == 1  # no dead letter written twice
    assert counters(run.settings) == expected_counters(samples)

    dead = read_to_end(run.settings, run.settings.topic("dlq"))
    letters = [codec.decode("dead_letter", m.value()) for m in dead]
    originals = Counter(d["original_value"] for d in letters if d["reason"] != "duplicate_event")
    assert originals == Counter(s.value for s in samples if s.expect not in ("valid", "duplicate"))
    # a redelivery's letter holds the scrubbed, pseudonymous event, never the raw bytes
    redelivered = [d["original_value"] for d in letters if d["reason"] == "duplicate_event"]
    assert all(b"user-" not in value for value in redelivered)

    client = redis.Redis.from_url(run.settings.redis_url)
    with client:
        keys = list(client.scan_iter(match=run.settings.redis_key("*")))
        stored = b"".join(keys) + b"".join(v for v in client.mget(keys) if v)
    for s in samples[:500]:
        assert s.user.encode() not in stored and email_of(s.user).encode() not in stored


def test_recovery_resumes_without_losing_or_double_counting(run: Run, tmp_path) -> None:
    samples = generate(
        4_000, seed=5, users=300, malformed_rate=0.05, now_ms=int(time.time() * 1000)
    )
    recovery = str(tmp_path / "recovery")
    produce_samples(run, samples[:2_500])
    assert (
        runner.run(
            "profiles", timeout=FLOW_TIMEOUT_S, env=run.env, recovery_dir=recovery, snapshot_s=1
        )
        == 0
    )
    produce_samples(run, samples[2_500:])
    assert (
        runner.run(
            "profiles", timeout=FLOW_TIMEOUT_S, env=run.env, recovery_dir=recovery, snapshot_s=1
        )
        == 0
    )

    assert counters(run.settings) == expected_counters(samples)
    result = tally(run.settings)
    assert result.accepted + result.dead == len(samples)
    assert max(result.dead_letter_ids.values()) == 1


def test_two_processes_give_the_same_counters_as_one(run: Run) -> None:
    samples = generate(
        6_000, seed=9, users=800, malformed_rate=0.05, now_ms=int(time.time() * 1000)
    )
    produce_samples(run, samples)
    assert runner.run("profiles", timeout=FLOW_TIMEOUT_S, env=run.env, processes=2) == 0
    assert counters(run.settings) == expected_counters(samples)
    result = tally(run.settings)
    assert result.accepted + result.dead == len(samples)


def test_production_run_without_key_refuses_to_start() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFERFLOW_")}
    proc = subprocess.run(
        [sys.executable, "-m", "offerflow", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "OFFERFLOW_ID_KEY is not set" in proc.stderr


def test_run_stops_on_sigint_even_when_its_launcher_ignored_it(run: Run) -> None:
    """A background launch from a script leaves SIGINT ignored in the child; ``offerflow
    run`` and its flow processes must still stop on it (they once ran on until killed)."""
    env = {**os.environ, **run.env, "OFFERFLOW_TAIL": "true", "OFFERFLOW_METRICS_PORT": "0"}
    cmd = [sys.executable, "-m", "offerflow", "run", "-p", "2", "--no-recovery"]
    proc = subprocess.Popen(
        cmd,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # as `cmd &` does
    )
    try:
        produce_samples(run, generate(200, seed=5, users=20, now_ms=int(time.time() * 1000)))

        def all_counted() -> bool:
            result = tally(run.settings)  # one read of the DLQ and Redis per poll
            return result.accepted + result.dead == 200

        wait_for(all_counted, 90)
        proc.send_signal(signal.SIGINT)
        # it returns once every flow process has exited, and a clean stop is no failure
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_bounded_run_ends_with_a_summary_and_a_hint(run: Run) -> None:
    """Replaying old data with the default maximum event age dead-letters every event; the
    run says so, and names the setting, instead of exiting silently."""
    old = int(time.time() * 1000) - 400 * 86_400_000
    records = [
        (f"u{i}".encode(), orjson.dumps({"event_id": f"old{i}", "user_id": f"u{i}",
                                         "type": "page_view", "ts": old + i}))
        for i in range(30)
    ]  # fmt: skip
    produce(run.settings, run.settings.topic("events"), records)
    env = {**os.environ, **run.env, "OFFERFLOW_METRICS_PORT": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "offerflow", "run", "--no-tail", "--no-recovery"],
        env=env, capture_output=True, text=True, timeout=FLOW_TIMEOUT_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert lines[-2] == (
        "offerflow run: 0 events accepted, 30 dead-lettered (timestamp_out_of_range 30)"
    )
    assert lines[-1].startswith("hint: every refused event") and "MAX_EVENT_AGE_S" in lines[-1]
    assert "CONFWARN" not in done.stderr


def test_a_bounded_run_that_hangs_is_stopped_and_fails_in_time(run: Run) -> None:
    # tailing, the flow never ends by itself: a stuck backfill looks the same to its caller
    started = time.monotonic()
    with pytest.raises(runner.FlowTimeout):
        runner.run("profiles", timeout=10, env={**run.env, "OFFERFLOW_TAIL": "true"})
    assert time.monotonic() - started < 10 + 25  # the timeout, then SIGINT (SIGKILL at 20 s)
