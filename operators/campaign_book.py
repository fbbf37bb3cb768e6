"""The live campaign catalog of one worker process: the campaign file at start, then every
update on the campaigns topic, applied without a restart.

Every process needs *all* campaigns (any user may be offered any of them), so the topic is
not a partitioned Bytewax input: each process tails the whole compacted topic with its own
consumer (manual assignment, from the beginning, no consumer group) and polls it without
blocking, at most every ``poll_every_s``, from the steps that read the catalog. A record is a
campaign as a JSON object keyed by its id; an empty value deletes the campaign, which stops
being chosen from the next poll on. A record that fails validation is logged and written to
the dead-letter topic with the reason, and the campaign's previous version stays in force.
The file is re-read when it changes, like the segment rules; topic updates win over it.

Examples
--------

>>> book = CampaignBook(text='[[campaign]]\\nid = "c"\\n[[campaign.offer]]\\nid = "o"')
>>> list(book.current().campaigns)
['c']
>>> book.apply(b"c", b"")  # a tombstone from the topic
>>> list(book.current().campaigns)
[]

"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from importlib import resources
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from operators.dead_letter import DeadLetter, Origin
from schemas import codec
from schemas.rejection import Reason
from state.campaign_file import campaign_from_record, experiment_from_record, parse_campaigns
from state.campaigns import EXPERIMENT_KEY, HOLDOUT_KEY, CampaignErrors, Catalog
from state.experiment_file import check
from state.segments import file_mtime

log = logging.getLogger(__name__)


def default_campaigns_text() -> str:
    """The campaign file shipped with OfferFlow (the demo's campaigns)."""
    return resources.files("state").joinpath("campaigns.toml").read_text()


class CampaignBook:
    """File + topic → the :class:`~state.campaigns.Catalog` in force.

    Parameters
    ----------
    path
        Campaign file; empty with no ``text`` means the shipped one.
    text
        Campaign file contents instead of a path (tests).
    kafka
        librdkafka settings to tail the topic with; ``None`` (tests) does not tail.
    topic
        The campaigns topic.
    dlq_topic
        Where invalid campaign records go.
    dlq_format
        Their encoding (``json``, ``avro`` or ``confluent``).
    poll_every_s
        Minimum seconds between polls of the topic and checks of the file.

    """

    def __init__(
        self,
        path: str = "",
        text: str | None = None,
        kafka: dict[str, str] | None = None,
        topic: str = "",
        dlq_topic: str = "",
        dlq_format: str = "json",
        poll_every_s: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.kafka = kafka
        self.topic = topic
        self.dlq_topic = dlq_topic
        self.dlq_format = dlq_format
        self.poll_every_s = poll_every_s
        self.clock = clock
        self._mtime = file_mtime(self.path)
        if text is None:
            text = Path(path).read_text() if path else default_campaigns_text()
        self.file_catalog = parse_campaigns(text)
        # topic key -> Campaign or Experiment, or None if deleted
        self.updates: dict[str, object] = {}
        self.catalog = self.file_catalog
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._checked = -1e9
        self._lock = threading.Lock()  # worker threads (-w) share the process's book

    def current(self) -> Catalog:
        """The campaigns in force now (polls the topic and the file when due)."""
        now = self.clock()
        if now - self._checked >= self.poll_every_s and self._lock.acquire(blocking=False):
            try:
                self._checked = now
                self._reload_file()
                self._poll()
            finally:
                self._lock.release()
        return self.catalog

    def close(self) -> None:
        """Leave the campaigns topic (a long-lived process that stops a book it made)."""
        with self._lock:
            if self._consumer is not None:
                self._consumer.close()
                self._consumer = None

    def apply(self, key: bytes | None, value: bytes | None, origin: Origin | None = None) -> None:
        """Apply one campaigns-topic record (read at ``origin``): a campaign keyed by its id,
        an experiment keyed ``experiment:<id>``, or the global holdout keyed ``holdout``."""
        origin = origin or Origin(self.topic)
        record_key = (key or b"").decode("utf-8", "replace")
        if not record_key:
            self._reject(key, value, "record has no key (the campaign id)", origin)
            return
        if not value:
            self.updates[record_key] = None
            log.warning("%s deleted", record_key)
        else:
            try:
                if record_key.startswith(EXPERIMENT_KEY) or record_key == HOLDOUT_KEY:
                    update = experiment_from_record(record_key, value)
                else:
                    update = campaign_from_record(record_key, value)
            except CampaignErrors as exc:
                self._reject(key, value, str(exc), origin)
                return
            self.updates[record_key] = update
            log.warning("%s updated", record_key)
        self._rebuild()

    def _rebuild(self) -> None:
        catalog = self.file_catalog
        for key, update in self.updates.items():
            if key == HOLDOUT_KEY:
                catalog = replace(catalog, holdout=update)
            elif key.startswith(EXPERIMENT_KEY):
                catalog = catalog.with_experiment(key.removeprefix(EXPERIMENT_KEY), update)
            else:
                catalog = catalog.with_campaign(key, update)  # type: ignore[arg-type]
        for experiment in catalog.experiments.values():
            for problem in check(experiment, catalog.campaigns, catalog.experiments):
                log.warning("experiment %s: %s", experiment.id, problem)
        self.catalog = catalog

    def _reload_file(self) -> None:
        mtime = file_mtime(self.path)
        if not self.path or mtime == self._mtime:
            return
        self._mtime = mtime
        try:
            self.file_catalog = parse_campaigns(Path(self.path).read_text())
        except (OSError, CampaignErrors) as exc:
            log.error("keeping the previous campaigns: %s: %s", self.path, exc)
            return
        log.warning("reloaded %d campaigns from %s", len(self.file_catalog.campaigns), self.path)
        self._rebuild()

    def _poll(self) -> None:
        if self.kafka is None:
            return
        if self._consumer is None:
            self._consumer = self._open()
            if self._consumer is None:
                return
        for msg in self._consumer.consume(num_messages=1000, timeout=0):
            if msg.error() is None:
                where = Origin(msg.topic(), msg.partition(), msg.offset(), msg.timestamp()[1])
                self.apply(msg.key(), msg.value(), where)

    def _open(self) -> Consumer | None:
        consumer = Consumer(
            {**(self.kafka or {}), "group.id": "offerflow-campaigns", "enable.auto.commit": False}
        )
        try:
            meta = consumer.list_topics(self.topic, timeout=5)
        except Exception as exc:  # the broker is down: try again at the next poll
            log.error("cannot read campaigns topic %s yet: %s", self.topic, exc)
            consumer.close()
            return None
        partitions = sorted(meta.topics[self.topic].partitions)
        consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions])
        return consumer

    def _reject(self, key: bytes | None, value: bytes | None, detail: str, origin: Origin) -> None:
        log.error("refused campaign record %r: %s", key, detail)
        if self.kafka is None or not self.dlq_topic:
            return
        if self._producer is None:
            self._producer = Producer(self.kafka)
        # Every process tails the topic: the same id from each makes the copies duplicates.
        letter = DeadLetter(Reason.BAD_CAMPAIGN, detail, key, value, origin)
        record = codec.encode("dead_letter", letter.to_record(), self.dlq_format)
        self._producer.produce(self.dlq_topic, record, key)
        self._producer.flush(5)
