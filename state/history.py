"""A bounded time series in event-time buckets, kept inside a keyed state so the dashboard can
draw "over time" charts from one Redis document, on any worker and after any restart.

Each point is ``[bucket_start_ms, value]``. A bucket's value is made once, when the first
update of that bucket arrives, by ``start(previous_value)``: copy the previous value for a
cumulative series (sizes, running sums), or start empty for per-bucket counts. An update
older than the newest bucket (an out-of-order event) lands in the newest bucket rather than
rewriting history: points are "as of the newest update in this bucket", never recomputed.

Examples
--------

>>> s = Series(bucket_ms=60_000, max_points=2)
>>> s.slot(5_000, fresh)["n"] = 1
>>> s.slot(61_000, fresh)["n"] = 2
>>> s.slot(30_000, fresh)["n"] += 1  # late: counted in the newest bucket
>>> s.points
[[0, {'n': 1}], [60000, {'n': 3}]]
>>> s.slot(125_000, carried)["n"] += 10  # cumulative: copy, then add
>>> s.points  # the oldest point made way
[[60000, {'n': 3}], [120000, {'n': 13}]]

"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

V = TypeVar("V")

#: Points kept per series (a day of five-minute buckets is 288).
MAX_POINTS = 500


def fresh(_previous: Any) -> dict:
    """``start`` of a per-bucket count: every bucket begins empty."""
    return {}


def carried(previous: Any) -> dict:
    """``start`` of a cumulative series: a bucket begins as a copy of the one before."""
    return dict(previous or {})


class Series:
    """Newest ``max_points`` buckets of ``bucket_ms`` event time.

    Parameters
    ----------
    bucket_ms
        Event time per point.
    max_points
        Points kept; the oldest are dropped first.

    """

    __slots__ = ("bucket_ms", "max_points", "points")

    def __init__(self, bucket_ms: int, max_points: int = MAX_POINTS) -> None:
        self.bucket_ms = max(1, bucket_ms)
        self.max_points = max_points
        self.points: list[list[Any]] = []

    def slot(self, ts: int, start: Callable[[Any], V]) -> V:
        """The value of ``ts``'s bucket, made by ``start(previous value or None)`` the first
        time that bucket is touched."""
        bucket = ts - ts % self.bucket_ms
        if self.points and bucket <= self.points[-1][0]:
            return self.points[-1][1]
        value = start(self.points[-1][1] if self.points else None)
        self.points.append([bucket, value])
        if len(self.points) > self.max_points:
            del self.points[0]
        return value
