"""Reference channel senders: consume the decisions topic, deliver each offer, and publish the
delivery back as an event so the flow's reward windows open.

Delivery by channel:

- ``email`` and ``sms``: a line in a file outbox (``<OUTBOX_DIR>/<channel>.jsonl``), where a
  real deployment would hand the message to its ESP or SMS gateway;
- ``push`` and ``web``: the user's in-app inbox, a Redis list
  ``<prefix>:inbox:<pseudonym>`` (newest first, 50 kept) that apps read;
- every channel, also: ``POST`` of the decision as JSON to ``OFFERFLOW_WEBHOOK_URL`` if set.

Back to the events topic: ``message_delivered`` (email, SMS) or ``offer_impression`` (push,
web) with the decision id, and, when a recipient responds (the simulator's users, or a
click-tracking redirect in production), ``offer_click``. Those events carry the decision's
pseudonymous user id with the ``offerflow-user-id: pseudonymous`` header, signed with the
senders' key (``OFFERFLOW_SENDER_KEY``, or one derived from the id key), so ingestion trusts
it and does not hash it again. Senders never need the id key itself.

Sends are idempotent on ``decision_id``: a Redis ``SET NX`` marker
(``<prefix>:sent:<decision_id>``, kept for two days) is taken before delivering, so a replayed
decision (the flow is at-least-once across crashes) or a restarted sender never sends twice.
"No offer" decisions and expired ones are skipped and counted.

This reference sender reads every partition itself (manual assignment, from the beginning);
production senders would use a consumer group per channel.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import redis
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from config.settings import Settings
from operators.ingest import PSEUDONYMOUS_HEADER, SIGNATURE_HEADER, sign
from operators.redis_mirror import client_for
from schemas import codec

log = logging.getLogger(__name__)
SENT_TTL_S = 2 * 86_400
INBOX_SIZE = 50

#: ``responder(decision) -> list of (event type, extra fields)``: what the recipient does.
Responder = Callable[[dict[str, Any]], list[tuple[str, dict[str, Any]]]]


class Senders:
    """All four channels' reference senders in one consumer loop.

    Parameters
    ----------
    settings
        Topics, Redis and formats.
    outbox_dir
        Where email and SMS outboxes are written.
    webhook_url
        Optional URL every delivery is POSTed to.
    responder
        Optional recipient model (the simulator): its events are published after delivery.
    observer
        Optional callback seeing every decision read, offer or not.

    """

    def __init__(
        self,
        settings: Settings,
        outbox_dir: str,
        webhook_url: str = "",
        responder: Responder | None = None,
        observer: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.outbox = Path(outbox_dir)
        self.outbox.mkdir(parents=True, exist_ok=True)
        self.webhook_url = webhook_url
        self.responder = responder
        self.observer = observer
        self.redis: redis.Redis = client_for(settings.redis_url)
        self.counts: Counter[str] = Counter()
        self.producer = Producer(settings.kafka(**{"linger.ms": "5"}))
        self.consumer = Consumer(
            settings.kafka(**{"group.id": "offerflow-senders", "enable.auto.commit": "false"})
        )
        topic = settings.topic("decisions")
        partitions = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])

    def poll(self, timeout: float = 0.05) -> int:
        """Deliver what arrived within ``timeout``; returns how many decisions were read."""
        messages = self.consumer.consume(num_messages=500, timeout=timeout)
        for msg in messages:
            if msg.error() is not None:
                self.counts["consumer_error"] += 1
                continue
            try:
                decision = codec.decode("decision", msg.value(), codec.sniff_format(msg.value()))
            except Exception as exc:  # not a decision: count and log it, keep going
                self.counts["undecodable"] += 1
                log.error(
                    "skipped a record that is not a decision at %s[%d]@%d: %s",
                    msg.topic(),
                    msg.partition(),
                    msg.offset(),
                    exc,
                )
                continue
            if self.observer is not None:
                self.observer(decision)
            self.handle(decision)
        self.producer.poll(0)
        return len(messages)

    def handle(self, decision: dict[str, Any]) -> None:
        """Deliver one decision (once), publish its delivery and any response."""
        if decision.get("offer_id") is None:
            self.counts["no_offer"] += 1
            return
        if decision.get("trigger") == "api":  # the app that asked shows it itself
            self.counts["answered_by_api"] += 1
            return
        now = int(time.time() * 1000)
        if decision.get("expires_at") and decision["expires_at"] < now:
            self.counts["expired"] += 1
            return
        marker = self.settings.redis_key("sent", decision["decision_id"])
        if not self.redis.set(marker, now, nx=True, ex=SENT_TTL_S):
            self.counts["duplicate"] += 1
            return
        channel = decision["channel"]
        self._deliver(channel, decision)
        self.counts[f"sent:{channel}"] += 1
        delivered = "message_delivered" if channel in ("email", "sms") else "offer_impression"
        self._publish(decision, delivered, {}, now)
        for kind, extra in self.responder(decision) if self.responder else []:
            self._publish(decision, kind, extra, now + 1)
            self.counts[kind] += 1

    def close(self) -> None:
        self.producer.flush(10)
        self.consumer.close()

    def _deliver(self, channel: str, decision: dict[str, Any]) -> None:
        message = {
            "decision_id": decision["decision_id"],
            "to": decision["user_id"],
            "campaign": decision["campaign_id"],
            "offer": decision["offer_id"],
            "content": decision["payload"],
        }
        if channel in ("email", "sms"):
            with (self.outbox / f"{channel}.jsonl").open("ab") as fh:
                fh.write(orjson.dumps(message) + b"\n")
        else:
            inbox = self.settings.redis_key("inbox", decision["user_id"])
            pipe = self.redis.pipeline()
            pipe.lpush(inbox, orjson.dumps(message))
            pipe.ltrim(inbox, 0, INBOX_SIZE - 1)
            pipe.expire(inbox, SENT_TTL_S)
            pipe.execute()
        if self.webhook_url:
            request = urllib.request.Request(
                self.webhook_url,
                data=json.dumps({"channel": channel, **message}).encode(),
                headers={"Content-Type": "application/json"},
            )
            try:
                urllib.request.urlopen(request, timeout=2).close()
            except OSError as exc:
                self.counts["webhook_error"] += 1
                log.warning("webhook %s failed: %s", self.webhook_url, exc)

    def _publish(self, decision: dict[str, Any], kind: str, extra: dict[str, Any], ts: int) -> None:
        event = {
            "event_id": f"{kind}:{decision['decision_id']}",
            "type": kind,
            "user_id": decision["user_id"],
            "ts": ts,
            "channel": decision["channel"],
            "campaign_id": decision["campaign_id"],
            "decision_id": decision["decision_id"],
            **extra,
        }
        self.producer.produce(
            self.settings.topic("events"),
            orjson.dumps(event),
            decision["user_id"].encode(),
            headers=[
                (PSEUDONYMOUS_HEADER, b"pseudonymous"),
                (
                    SIGNATURE_HEADER,
                    sign(self.settings.sender_key, event["user_id"], event["event_id"]),
                ),
            ],
        )
