"""Per-user event counts: the first keyed state of the pipeline.

Counts accepted events by type with first/last event time, and drops redelivered events by
``event_id``. Kafka sinks and producers are at-least-once, so the same event can arrive twice
(a producer retry, a replay after a crash); a bounded ring of recent id fingerprints per user
catches those without unbounded state. Fingerprints are 64-bit BLAKE2b digests: stable across
processes (unlike ``hash``), and a false match among 32 ids has probability ~2^-59.

Examples
--------

>>> from schemas.event import Event, EventType
>>> counter = EventCounter()
>>> counter.update(Event("e1", EventType.PAGE_VIEW, "p1", 1_000))
True
>>> counter.update(Event("e2", EventType.PURCHASE, "p1", 500))
True
>>> counter.update(Event("e1", EventType.PAGE_VIEW, "p1", 1_000))
False
>>> counter.events, counter.duplicates, counter.first_ts, counter.last_ts, counter.by_type
(2, 1, 500, 1000, {'page_view': 1, 'purchase': 1})

"""

from __future__ import annotations

import hashlib
from collections import deque

from schemas.event import Event


def fingerprint(event_id: str) -> int:
    """Stable 64-bit fingerprint of an event id."""
    digest = hashlib.blake2b(event_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class EventCounter:
    """Counts of one user's accepted events, deduplicated by event id.

    Parameters
    ----------
    dedup_window
        How many of the user's most recent event ids are remembered for deduplication.

    """

    __slots__ = ("by_type", "duplicates", "events", "first_ts", "last_ts", "recent")

    def __init__(self, dedup_window: int = 32) -> None:
        self.events = 0
        self.duplicates = 0
        self.first_ts: int | None = None
        self.last_ts: int | None = None
        self.by_type: dict[str, int] = {}
        self.recent: deque[int] = deque(maxlen=dedup_window)

    def update(self, event: Event) -> bool:
        """Count ``event``; return ``False`` (and count a duplicate) if it was seen already."""
        fp = fingerprint(event.event_id)
        if fp in self.recent:
            self.duplicates += 1
            return False
        self.recent.append(fp)
        self.events += 1
        self.by_type[event.type.value] = self.by_type.get(event.type.value, 0) + 1
        if self.first_ts is None or event.ts < self.first_ts:
            self.first_ts = event.ts
        if self.last_ts is None or event.ts > self.last_ts:
            self.last_ts = event.ts
        return True

    def __deepcopy__(self, memo: dict) -> EventCounter:
        """Fast copy for Bytewax's per-epoch snapshots (the generic deepcopy walks every
        object; the fields here are flat)."""
        twin = EventCounter.__new__(EventCounter)
        twin.events, twin.duplicates = self.events, self.duplicates
        twin.first_ts, twin.last_ts = self.first_ts, self.last_ts
        twin.by_type = dict(self.by_type)
        twin.recent = self.recent.copy()
        return twin

    def to_document(self) -> dict[str, object]:
        """The counts as a JSON-ready document (what Redis readers get)."""
        return {
            "events": self.events,
            "duplicates": self.duplicates,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "by_type": dict(self.by_type),
        }
