"""Account for a run: what reached the dead-letter topic (by reason) and what the profiles in
Redis hold. Used by the demo, the benchmark and the integration tests to check that every
input record is either accepted or dead-lettered, exactly once."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import orjson
import redis

from config.settings import Settings
from offerflow.kafka_io import read_to_end
from schemas import codec


@dataclass
class Tally:
    """Outcome of a run as read back from the DLQ topic and Redis."""

    events: int = 0
    #: Redeliveries: dead-lettered as ``duplicate_event`` by the profile step.
    duplicates: int = 0
    users: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    dead_letter_ids: Counter[str] = field(default_factory=Counter)

    @property
    def accepted(self) -> int:
        """Events the profiles counted (every other record is a dead letter)."""
        return self.events

    @property
    def dead(self) -> int:
        """Dead letters written: refused records, redeliveries (``duplicate_event``), events
        of erased users, unknown feedback."""
        return sum(self.dead_letters.values())


def tally(settings: Settings) -> Tally:
    """Read the run's dead-letter topic to its end and sum its Redis profiles."""
    result = Tally()
    for msg in read_to_end(settings, settings.topic("dlq")):
        record = codec.decode("dead_letter", msg.value())
        result.dead_letters[record["reason"]] += 1
        result.dead_letter_ids[record["dead_letter_id"]] += 1
    documents = profiles(settings)
    result.users = len(documents)
    result.events = sum(d["features"]["events"] for d in documents.values())
    result.duplicates = result.dead_letters["duplicate_event"]
    return result


def profiles(settings: Settings) -> dict[str, dict]:
    """Every user's profile document in Redis, by pseudonym."""
    client = redis.Redis.from_url(settings.redis_url)
    prefix = settings.redis_key("profile", "")
    with client:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        values = client.mget(keys) if keys else []
    return {
        key.decode()[len(prefix) :]: orjson.loads(value)
        for key, value in zip(keys, values, strict=True)
        if value is not None
    }
