"""How many users each segment holds, and how that moved over time.

Keyed by segment name: every membership change of a user (``added``/``removed`` in a
segment change record, including the empty membership an erasure or expiry leaves) is a
+1 or -1 for each segment it names, so a key's work is one addition per change. The size
series is cumulative: each point is the size as of the newest change in its bucket.

Examples
--------

>>> size = SegmentSize("vip", bucket_ms=60_000)
>>> size.add(+1, 1_000); size.add(+1, 2_000); size.add(-1, 61_000)
>>> size.document()
{'segment': 'vip', 'size': 1, 'joined': 2, 'left': 1, 'history': [[0, 2], [60000, 1]]}

"""

from __future__ import annotations

from typing import Any

from state.history import Series


class SegmentSize:
    """Running size of one segment.

    Parameters
    ----------
    segment
        Segment name.
    bucket_ms
        Event time per point of the size series.

    """

    def __init__(self, segment: str, bucket_ms: int) -> None:
        self.series = Series(bucket_ms)
        self.doc: dict[str, Any] = {
            "segment": segment,
            "size": 0,
            "joined": 0,
            "left": 0,
            "history": self.series.points,
        }

    def add(self, change: int, ts: int) -> None:
        """A user joined (``+1``) or left (``-1``) at event time ``ts``."""
        self.doc["size"] += change
        self.doc["joined" if change > 0 else "left"] += 1
        self.series.slot(ts, _size)
        self.series.points[-1][1] = self.doc["size"]

    def document(self) -> dict[str, Any]:
        """The live document (serialized by the Redis mirror once per batch)."""
        return self.doc


def _size(previous: int | None) -> int:
    return previous or 0
