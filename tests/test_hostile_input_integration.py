"""Hostile input through the real broker and Redis: 10,000 events for five users, each trying to
grow state without limit (:mod:`offerflow.devstack.hostile`: new traits, consent purposes, channels,
sources, products, categories, huge properties, out-of-range values). Every user's state and
Redis document stays under the documented bound, every refusal is a dead letter with its
reason, every mapping or cut is counted by reason, and the Markov chain stays as small as the
source allow-list."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import orjson
import pytest
import redis

from config.settings import Settings
from models.markov_chain import MarkovAttribution
from offerflow import runner
from offerflow.devstack.hostile import hostile_record
from offerflow.devstack.tally import tally
from offerflow.kafka_io import produce
from operators.pseudonymize import Pseudonymizer
from tests.conftest import Run, wait_for

pytestmark = pytest.mark.integration
USERS = [f"attacker-{i}" for i in range(5)]  # the users of offerflow.devstack.hostile's mix
EVENTS = 10_000
MAX_PRODUCTS = 200
#: Documented bounds (docs/privacy.md): a profile's Redis document and its snapshot.
MAX_DOCUMENT_BYTES = 16 * 1024
MAX_SNAPSHOT_BYTES = 16 * 1024
REFUSED = {
    "unknown_consent_purpose": 2_000,
    "too_many_fields": 500,
    "string_too_long": 500,
    "value_out_of_range": 500,
}
BOUNDED = {
    "trait_not_allowed": 2_000,
    "channel_other": 2_000,
    "source_other": 2_000,
    "name_cut": 2_000,
    "product_cap": 2_000 - MAX_PRODUCTS,
}


def bounded(settings: Settings) -> dict[str, float]:
    client = redis.Redis.from_url(settings.redis_url)
    with client:
        docs = [
            orjson.loads(client.get(k)) for k in client.scan_iter(settings.redis_key("ops", "*"))
        ]
    totals: dict[str, float] = {}
    for doc in docs:
        for reason, n in doc["counters"].get("bounded", {}).items():
            totals[reason] = totals.get(reason, 0) + n
    return totals


def test_hostile_clients_cannot_grow_state(live_stack: None, tmp_path: Path) -> None:
    run = Run(
        OFFERFLOW_TAIL="true",
        OFFERFLOW_MAX_PRODUCTS=str(MAX_PRODUCTS),
        OFFERFLOW_METRICS_PORT="0",
        OFFERFLOW_OPS_INTERVAL_S="0.5",
    )
    now = int(time.time() * 1000)
    produce(
        run.settings, run.settings.topic("events"), (hostile_record(i, now) for i in range(EVENTS))
    )
    recovery = tmp_path / "recovery"
    procs = runner.start("profiles", env=run.env, recovery_dir=str(recovery), snapshot_s=1)
    try:
        wait_for(lambda: bounded(run.settings) == BOUNDED, 180)
        accepted = EVENTS - sum(REFUSED.values())
        wait_for(lambda: tally(run.settings).accepted == accepted, 60)
        wait_for(lambda: _snapshot_sizes(recovery), 30)  # the profile step has snapshotted
    finally:
        runner.stop(procs)
    try:
        result = tally(run.settings)
        assert {r: n for r, n in result.dead_letters.items()} == REFUSED
        client = redis.Redis.from_url(run.settings.redis_url)
        with client:
            docs = [client.get(run.settings.redis_key("profile", k)) for k in _pseudonyms(run)]
        assert all(docs) and max(len(d) for d in docs) <= MAX_DOCUMENT_BYTES
        sizes = _snapshot_sizes(recovery)
        assert sizes and max(sizes) <= MAX_SNAPSHOT_BYTES
        with client:
            key = run.settings.redis_key("attribution", "markov_path")
            markov = orjson.loads(client.get(key))
        assert set(markov["channels"]) == {"other"}  # 2,000 distinct sources sent
        print(f"largest profile document {max(len(d) for d in docs):,} B, "
              f"largest profile snapshot {max(sizes):,} B")  # fmt: skip
    finally:
        run.cleanup()


def test_the_markov_solve_is_bounded_by_the_source_allow_list() -> None:
    settings = Settings.from_env({"OFFERFLOW_ENV": "dev"})
    channels = sorted(settings.gate.sources | {"other", "unknown"})
    assert len(channels) <= 64  # the chain's states: one per channel at order 1
    chain = MarkovAttribution()
    for i, first in enumerate(channels):
        for second in channels[i % 7 :: 7]:
            chain.learn([first, second], conversions=1 if i % 3 else 0, nulls=1)
    started = time.perf_counter()
    effects = chain.removal_effects()
    elapsed = time.perf_counter() - started
    assert set(effects) == set(channels)
    print(f"Markov solve over {len(channels)} channels (every allowed source): {elapsed:.3f} s")


def _pseudonyms(run: Run) -> list[str]:
    p = Pseudonymizer(run.settings.id_key)
    return [p.user(u) for u in USERS]


def _snapshot_sizes(recovery: Path) -> list[int]:
    """Sizes of the profile step's snapshots, as stored."""
    sizes = []
    for db in recovery.glob("*.sqlite3"):
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT step_id, state_key, ser_change FROM snaps").fetchall()
        sizes += [len(b) for step, _key, b in rows if step.endswith(".profile.stateful_batch")]
    return sizes
