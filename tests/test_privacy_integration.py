"""No raw personal data anywhere, end to end: a production-mode flow runs a demo-sized loop
(simulated users, reference senders, decisions, attribution) plus events built to leak: raw
ids inside event ids, decision ids, consent purposes, channels, campaign ids and free text;
camelCase and snake_case PII keys; emails (ASCII and full-width), phones, cards and IPs in
text and URLs; undecodable records. Then Redis, every output topic (decoded, the internal
topic and base64 hand-overs included), the recovery snapshots, the flow's log, the in-app
inboxes and the file outboxes are searched: not one raw occurrence."""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import secrets
import sqlite3
import time
from pathlib import Path

import orjson
import pytest
import redis

from offerflow import runner
from offerflow.devstack.tally import tally
from offerflow.kafka_io import produce, read_to_end
from offerflow.lab.simulator import Simulator
from operators.pseudonymize import Pseudonymizer
from tests.conftest import Run, campaigns_without_quiet_hours, wait_for

pytestmark = pytest.mark.integration
HOSTILE = [f"zoe.durand{i}@example.org" for i in range(3)] + [f"cust-7781{i}" for i in range(3)]
PHONE, PHONE_E164 = "+33 6 12 34 56 78", "+33612345678"
CARD, CARD_DIGITS = "4111 1111 1111 1111", "4111111111111111"
IP = "198.51.100.23"
OUTPUTS = ("decisions", "attributions", "segments", "privacy", "dlq", "internal")


def hostile_events(raw: str, now: int) -> list[tuple[bytes, bytes]]:
    """Events for one user that try every way a raw id or contact point could slip through."""
    email = f"{raw.split('@')[0]}@example.org"
    wide = email.replace("@", "\uff20")
    bodies = [
        {
            "type": "identify",
            "event_id": f"{raw}-identify",
            "traits": {
                "phoneNumber": PHONE,
                "tel": PHONE_E164,
                "cell": PHONE,
                "userId": raw,
                "customer_id": f"CUST-{raw}",
                "surname": "Durand",
                "given_name": "Zoelle",
                "display_name": "Zoelle Durand",
                "ssn": "078-05-1120",
                "credit_card": CARD,
                "client_ip": IP,
                "address_line_1": "12 rue Quincampoix",
                "emailAddress": wide,
                "plan": f"gold, card {CARD} from {IP}",  # an allowed trait: kept, scrubbed
                "persona": f"{wide} fan, call {PHONE}",
                "anonymous_id": f"anon-{raw}",
            },
        },
        {
            "type": "page_view",
            "event_id": f"{raw}-page",
            "channel": f"inbox-of-{raw}",
            "campaign_id": f"camp-{raw}",
            "properties": {
                "notes": f"call {PHONE} or mail {email}",
                "referrer": f"https://shop.example/?u={email.replace('@', '%40')}",
                "utm_source": f"mail-{raw}",
                "comment": f"card {CARD} from {IP}",
                f"seen_by_{raw}": True,
            },
            "context": {"ip": IP, "device": f"pixel of {raw} {PHONE}", "locale": wide},
        },
        {"type": "consent", "event_id": f"{raw}-c1", "consent": {email: True}},
        {"type": "consent", "event_id": f"{raw}-c2", "consent": {"marketing": True, "web": True}},
        {"type": "purchase", "event_id": f"{raw}-buy", "decision_id": f"d_{raw}"},
        {"type": "decision_request", "event_id": f"req-{raw}", "channel": "web"},
        {"type": "purchase", "event_id": f"{raw}-buy2", "properties": {"value": 20.0}},
        {"type": "unsubscribe", "event_id": f"{raw}-unsub", "channel": f"{raw}-sms"},
    ]
    bodies.insert(2, bodies[1])  # a redelivery: dead-lettered with the scrubbed event
    out = [(raw.encode(), orjson.dumps({"user_id": raw, "ts": now, **body})) for body in bodies]
    out.append((raw.encode(), f'{{"user_id": "{raw}", "email": "{email}", "ts": '.encode()))
    return out


def needles(raws: list[str]) -> re.Pattern[bytes]:
    """Every raw value sent in, as one pattern. A needle does not match inside a longer number
    (a profile's float 0.41111111111111111 holds the card's digits)."""
    found = {PHONE, PHONE_E164, CARD, CARD_DIGITS, IP, "Durand", "Zoelle", "Quincampoix"}
    for raw in raws:
        found.add(raw)
        if "@" in raw:
            local = raw.split("@")[0]
            found |= {local, f"{local}\uff20example.org", f"{local}%40example.org"}
    alternatives = b"|".join(re.escape(n.encode()) for n in sorted(found, key=len, reverse=True))
    return re.compile(rb"(?<![0-9.])(?:" + alternatives + rb")(?![0-9])")


def haystack(run: Run, recovery: Path, log: Path, outbox: Path) -> list[tuple[str, bytes]]:
    """Every stored or emitted byte of the run, labelled by where it was found."""
    found: list[tuple[str, bytes]] = []
    client = redis.Redis.from_url(run.settings.redis_url)
    with client:
        for key in client.scan_iter(match=run.settings.redis_key("*"), count=1000):
            kind = client.type(key)
            if kind == b"string":
                values = [client.get(key) or b""]
            elif kind == b"list":
                values = client.lrange(key, 0, -1)
            elif kind == b"hash":
                values = [b for kv in client.hgetall(key).items() for b in kv]
            elif kind == b"set":
                values = list(client.smembers(key))
            else:
                values = [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
            found += [(f"redis {key!r}", b) for b in (key, *values)]
    for logical in OUTPUTS:
        for msg in read_to_end(run.settings, run.settings.topic(logical)):
            for part in (msg.key() or b"", msg.value() or b""):
                found += [(f"topic {logical}", b) for b in decoded(part)]
    for db in recovery.glob("*.sqlite3"):
        with sqlite3.connect(db) as conn:
            tables = conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            for (table,) in list(tables):
                for row in conn.execute(f"SELECT * FROM {table}"):
                    found += [(f"recovery {db.name}", str(c).encode()) for c in row]
                    found += [(f"recovery {db.name}", c) for c in row if isinstance(c, bytes)]
    found.append(("flow log", log.read_bytes()))
    found += [(f"outbox {p.name}", p.read_bytes()) for p in outbox.rglob("*") if p.is_file()]
    return found


def decoded(data: bytes) -> list[bytes]:
    """The bytes, and every string inside them if they are JSON, base64 strings decoded."""
    out = [data]
    try:
        stack = [orjson.loads(data)]
    except orjson.JSONDecodeError:
        return out
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            stack += item
        elif isinstance(item, str):
            out.append(item.encode())
            with contextlib.suppress(binascii.Error, ValueError):
                out += decoded(base64.b64decode(item, validate=True))
    return out


def test_no_raw_personal_data_reaches_any_store(live_stack: None, tmp_path: Path) -> None:
    run = Run(
        OFFERFLOW_ENV="production",
        OFFERFLOW_ID_KEY=secrets.token_hex(32),
        OFFERFLOW_TAIL="true",
        OFFERFLOW_METRICS_PORT="0",
        OFFERFLOW_SEGMENTS_FILE=str(Path("state/persona_segments.toml").resolve()),
        OFFERFLOW_CAMPAIGNS_FILE=str(campaigns_without_quiet_hours(tmp_path / "campaigns.toml")),
    )
    assert run.settings.dlq_redact  # the production default
    recovery, log, outbox = tmp_path / "recovery", tmp_path / "flow.log", tmp_path / "out"
    procs = runner.start(
        "profiles", env=run.env, recovery_dir=str(recovery), snapshot_s=1, log_path=str(log)
    )
    try:
        sim = Simulator(run.settings, users=300, seed=11, outbox_dir=str(outbox))
        now = int(time.time() * 1000)
        # the simulator's own event ids are "<raw user>-<seq>", as many apps make them
        records = [r for raw in HOSTILE + sim.users[:20] for r in hostile_events(raw, now)]
        produce(run.settings, run.settings.topic("events"), records)
        report = sim.run(requests=1_500, rate=500)
        assert report.decisions >= 1_500

        def settled() -> bool:
            result = tally(run.settings)
            letters, users = result.dead_letters, len(HOSTILE) + 20
            return (
                letters["unknown_consent_purpose"] == users
                and result.duplicates >= users
                and letters["invalid_value"] >= users  # decision ids made of raw ids
                and letters["unparseable"] == users
            )

        wait_for(settled, 60)
    finally:
        runner.stop(procs)
    try:
        found = haystack(run, recovery, log, outbox)
        assert sum(len(b) for _, b in found) > 1_000_000  # the search saw real data
        wanted = needles(HOSTILE + sim.users)
        leaks = sorted(
            {(where, blob[max(0, m.start() - 24) : m.end() + 24]) for where, blob in found
             for m in wanted.finditer(blob)}
        )  # fmt: skip
        assert leaks == []
        # the request ids came back hashed: the decisions still name their request
        topic = run.settings.topic("decisions")
        decisions = [orjson.loads(m.value()) for m in read_to_end(run.settings, topic)]
        hashed = Pseudonymizer(run.settings.id_key).event(f"req-{HOSTILE[0]}")
        assert any(d.get("request_event_id") == hashed for d in decisions)
    finally:
        run.cleanup()
