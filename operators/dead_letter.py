"""Dead letters: a refused record with its reason, its origin and its original bytes.

A dead letter is keyed like the original record and identified by its source position
(``topic:partition:offset``), so a dead letter written twice after a crash replay is a
byte-identical duplicate that consumers can drop.

Examples
--------

>>> from schemas.rejection import Reason
>>> dl = DeadLetter(Reason.UNPARSEABLE, "invalid JSON", b"k", b"{oops",
...                 Origin("offerflow.events", 2, 41, 1_700_000_000_000))
>>> record = dl.to_record()
>>> record["dead_letter_id"], record["reason"], record["original_value"]
('offerflow.events:2:41', 'unparseable', b'{oops')

"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.rejection import Reason


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a record was read: Kafka topic, partition, offset and broker timestamp (ms)."""

    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A refused record, ready to be encoded in the ``dead_letter`` schema."""

    reason: Reason
    detail: str
    key: bytes | None
    value: bytes | None
    origin: Origin
    #: Stable id for records refused after ingestion (no source position at hand).
    dead_letter_id: str | None = None

    def to_record(self) -> dict[str, Any]:
        """The dead letter as a ``dead_letter`` schema record."""
        o = self.origin
        return {
            "dead_letter_id": self.dead_letter_id or f"{o.topic}:{o.partition}:{o.offset}",
            "reason": self.reason.value,
            "detail": self.detail,
            "source_topic": o.topic,
            "source_partition": o.partition,
            "source_offset": o.offset,
            "source_ts": o.timestamp_ms,
            "original_key": self.key,
            "original_value": self.value,
        }
