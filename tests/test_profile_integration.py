"""The profile flow through the real broker and Redis: profiles equal an independent
recomputation from the raw events, erasure removes a user everywhere, and no raw identifier
or contact point reaches state, Redis or any output topic."""

from __future__ import annotations

import hashlib
import hmac
import math
import sqlite3
import time
from collections import defaultdict
from pathlib import Path

import orjson
import pytest
import redis

from offerflow import runner
from offerflow.devstack.sample import Sample, email_of, generate, phone_of
from offerflow.devstack.tally import profiles, tally
from offerflow.kafka_io import produce, read_to_end
from operators.pseudonymize import Pseudonymizer
from schemas import codec
from tests.conftest import FLOW_TIMEOUT_S, KEY, Run

pytestmark = pytest.mark.integration
DAY = 86_400_000
HALF_LIVES = {"1d": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
CATEGORY_WEIGHTS = {"product_view": 1.0, "add_to_cart": 2.0, "purchase": 3.0}


def pseudonym(user: str) -> str:
    return hmac.new(KEY.encode(), b"user:" + user.encode(), hashlib.sha256).hexdigest()[:32]


def hashed_event(event_id: str) -> str:
    """The keyed hash an app's event id travels under after the gate."""
    return Pseudonymizer(KEY.encode()).event(event_id)


def recompute(samples: list[Sample]) -> dict[str, dict]:
    """Expected profile features per pseudonym, from the raw events, by brute force: every
    decayed feature is the closed-form sum over the user's events, as of the last one."""
    events: dict[str, list[dict]] = defaultdict(list)
    for s in samples:
        if s.expect == "valid":
            events[pseudonym(s.user)].append(codec.decode("event", s.value))  # type: ignore
    expected = {}
    for pid, evs in events.items():
        as_of = max(e["ts"] for e in evs)
        f: dict = {"events": len(evs), "first_seen": min(e["ts"] for e in evs), "last_seen": as_of}
        purchases = [e for e in evs if e["type"] == "purchase"]
        f["purchases"] = len(purchases)
        f["revenue"] = sum(e["properties"].get("value", 0.0) for e in purchases)
        f["avg_order_value"] = f["revenue"] / len(purchases) if purchases else 0.0
        signals: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for e in evs:
            f[f"count.{e['type']}"] = f.get(f"count.{e['type']}", 0) + 1
            signals[f"act:{e['type']}"].append((e["ts"], 1.0))
            if e["type"] == "purchase":
                signals["spend"].append((e["ts"], e["properties"]["value"]))
            if e["type"] in CATEGORY_WEIGHTS:
                signals["cat:" + e["properties"]["category"]].append(
                    (e["ts"], CATEGORY_WEIGHTS[e["type"]])
                )
            if e["channel"] and e["type"] in ("offer_impression", "message_delivered"):
                signals["imp:" + e["channel"]].append((e["ts"], 1.0))
            if e["channel"] and e["type"] in ("offer_click", "message_open"):
                signals["eng:" + e["channel"]].append((e["ts"], 1.0))
        for name, points in signals.items():
            for label, h in HALF_LIVES.items():
                f[f"{name}.{label}"] = sum(w * 2.0 ** (-(as_of - t) / h) for t, w in points)
        consent: dict[str, tuple] = {}
        for e in evs:
            for purpose, granted in e["consent"].items():
                consent[purpose] = max(
                    consent.get(purpose, (0, "", None)), (e["ts"], e["event_id"], granted)
                )
        for purpose, (_ts, _eid, granted) in consent.items():
            f[f"consent.{purpose}"] = granted
        latest = max(evs, key=lambda e: (e["ts"], e["event_id"]))
        f["device"] = latest["context"]["device"]
        with_channel = [e for e in evs if e["channel"]]
        if with_channel:
            f["last_channel"] = max(with_channel, key=lambda e: (e["ts"], e["event_id"]))["channel"]
        expected[pid] = f
    return expected


def test_profiles_match_an_independent_recomputation(run: Run) -> None:
    samples = generate(
        50_000, seed=21, users=2_000, malformed_rate=0.02, now_ms=int(time.time() * 1000)
    )
    produce(run.settings, run.settings.topic("events"), ((s.key, s.value) for s in samples))
    assert runner.run("profiles", timeout=FLOW_TIMEOUT_S, env=run.env) == 0

    actual = profiles(run.settings)
    expected = recompute(samples)
    assert actual.keys() == expected.keys() and len(actual) == 2_000
    checked = 0
    for pid, want in expected.items():
        got = actual[pid]["features"]
        for name, value in want.items():
            if isinstance(value, float):
                assert math.isclose(got[name], value, rel_tol=1e-9, abs_tol=1e-300), (
                    pid,
                    name,
                    got[name],
                    value,
                )
            else:
                assert got[name] == value, (pid, name, got[name], value)
            checked += 1
        decayed = {
            k for k in got if k.rsplit(".", 1)[-1] in HALF_LIVES and not k.startswith("fatigue.")
        }
        assert decayed == {k for k in want if k.rsplit(".", 1)[-1] in HALF_LIVES}
    assert checked > 100_000
    result = tally(run.settings)
    assert result.accepted + result.dead == len(samples)


def test_erasure_removes_the_user_everywhere(run: Run, tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    samples = generate(3_000, seed=4, users=50, malformed_rate=0, now_ms=now)
    victim = samples[0].user
    pid = pseudonym(victim)

    def event(eid: str, kind: str, **extra: object) -> tuple[bytes, bytes]:
        body = {"event_id": eid, "type": kind, "user_id": victim, "ts": now, **extra}
        return victim.encode(), orjson.dumps(body)

    records = [(s.key, s.value) for s in samples]
    records += [
        event("erase-1", "erase"),
        event("late-1", "page_view"),
        event("late-2", "purchase", properties={"value": 9.0}),
    ]
    produce(run.settings, run.settings.topic("events"), records)
    client = redis.Redis.from_url(run.settings.redis_url)
    inboxes = [run.settings.redis_key("inbox", p) for p in (pid, pseudonym(samples[1].user))]
    for inbox in inboxes:  # what the senders keep for in-app offers
        client.lpush(inbox, b'{"offer_id": "o"}')
    assert (
        runner.run(
            "profiles", timeout=FLOW_TIMEOUT_S, env=run.env, recovery_dir=str(tmp_path / "rec")
        )
        == 0
    )

    with client:
        assert not client.exists(run.settings.redis_key("profile", pid))
        assert [client.exists(inbox) for inbox in inboxes] == [0, 1]  # the victim's only
        others = client.exists(
            *[run.settings.redis_key("profile", pseudonym(s.user)) for s in samples[1:50]]
        )
    assert others > 0
    audits = [
        codec.decode("privacy_audit", m.value())
        for m in read_to_end(run.settings, run.settings.topic("privacy"))
    ]
    erase = [a for a in audits if a["action"] == "erase"]
    assert [(a["user_id"], a["source_event_id"]) for a in erase] == [(pid, hashed_event("erase-1"))]
    letters = [
        codec.decode("dead_letter", m.value())
        for m in read_to_end(run.settings, run.settings.topic("dlq"))
    ]
    assert sorted(d["dead_letter_id"] for d in letters if d["reason"] == "erased_user") == sorted(
        [f"erased:{hashed_event('late-1')}", f"erased:{hashed_event('late-2')}"]
    )
    assert all(victim.encode() not in (d["original_value"] or b"") for d in letters)


def test_no_raw_identifiers_anywhere(run: Run, tmp_path: Path) -> None:
    samples = generate(8_000, seed=8, users=400, malformed_rate=0, now_ms=int(time.time() * 1000))
    produce(run.settings, run.settings.topic("events"), ((s.key, s.value) for s in samples))
    recovery = tmp_path / "recovery"
    assert (
        runner.run(
            "profiles",
            timeout=FLOW_TIMEOUT_S,
            env=run.env,
            recovery_dir=str(recovery),
            snapshot_s=1,
        )
        == 0
    )

    blobs: list[bytes] = []
    for db in recovery.glob("*.sqlite3"):
        with sqlite3.connect(db) as conn:
            for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'"):
                blobs += [repr(row).encode() for row in conn.execute(f"SELECT * FROM {table}")]
    client = redis.Redis.from_url(run.settings.redis_url)
    with client:
        keys = list(client.scan_iter(match=run.settings.redis_key("*")))
        blobs += keys + [v for v in client.mget(keys) if v]
    for logical in ("segments", "privacy", "dlq", "decisions", "attributions"):
        for msg in read_to_end(run.settings, run.settings.topic(logical)):
            blobs += [msg.key() or b"", msg.value() or b""]
    haystack = b"\n".join(blobs)
    assert len(haystack) > 100_000  # the scan saw real data
    users = {s.user for s in samples}
    leaks = [
        u
        for u in users
        if u.encode() in haystack
        or email_of(u).encode() in haystack
        or phone_of(u).encode() in haystack
    ]
    assert leaks == []
    assert b"first_name" not in haystack and b"@example.com" not in haystack


def test_profile_command_shows_a_live_profile(run: Run) -> None:
    import os
    import subprocess
    import sys

    samples = generate(300, seed=2, users=5, malformed_rate=0, now_ms=int(time.time() * 1000))
    produce(run.settings, run.settings.topic("events"), ((s.key, s.value) for s in samples))
    assert runner.run("profiles", timeout=FLOW_TIMEOUT_S, env=run.env) == 0
    env = {**os.environ, **run.env}
    user = samples[0].user
    shown = subprocess.run(
        [sys.executable, "-m", "offerflow", "profile", user],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    doc = orjson.loads(shown.stdout)
    assert doc == profiles(run.settings)[pseudonym(user)]
    assert doc["features"]["events"] == sum(s.user == user and s.expect == "valid" for s in samples)
    missing = subprocess.run(
        [sys.executable, "-m", "offerflow", "profile", "nobody"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1 and "no profile" in missing.stderr
