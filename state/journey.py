"""A user's journey: the touchpoints since their last conversion, the path that attribution
credits.

Touchpoints are kept in event-time order, within a lookback window and up to a maximum count
(the oldest go first; both kinds of drop are counted, never silent). A conversion takes the
touches at or before its time (:meth:`Journey.take`) and starts a new path; touches that
arrived out of order with a later time stay for the next one. A path that ends without a
conversion (lookback or inactivity) is :meth:`Journey.close`\\ d for the data-driven model.

Examples
--------

>>> j = Journey()
>>> for ts, channel in [(10, "email"), (20, "web"), (40, "push")]:
...     j.add(Touch(ts, channel, "spring", f"d{ts}"), max_touches=2, wall_ms=ts)
>>> [t.channel for t in j.touches], j.dropped
(['web', 'push'], 1)
>>> [t.channel for t in j.take(30, lookback_ms=100)], [t.channel for t in j.touches]
(['web'], ['push'])

"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, NamedTuple


class Touch(NamedTuple):
    """One touchpoint: when, through which channel, and which campaign/decision if any."""

    ts: int
    channel: str
    campaign_id: str | None = None
    decision_id: str | None = None


@dataclass
class Journey:
    """The open path of one user."""

    touches: list[Touch] = field(default_factory=list)
    #: Touches dropped by the size bound or the lookback window, over the user's lifetime.
    dropped: int = 0
    #: Wall-clock time of the newest touch, for the inactivity timer.
    wall_ms: int = 0

    def __bool__(self) -> bool:
        return bool(self.touches)

    def add(self, touch: Touch, max_touches: int, wall_ms: int) -> None:
        """Insert ``touch`` in time order, dropping the oldest beyond ``max_touches``."""
        bisect.insort(self.touches, touch, key=lambda t: t.ts)
        excess = len(self.touches) - max_touches
        if excess > 0:
            del self.touches[:excess]
            self.dropped += excess
        self.wall_ms = max(self.wall_ms, wall_ms)

    def take(self, conversion_ts: int, lookback_ms: int) -> list[Touch]:
        """The touches a conversion at ``conversion_ts`` credits (within the lookback), removed
        from the journey together with older ones."""
        cut = bisect.bisect_right(self.touches, conversion_ts, key=lambda t: t.ts)
        taken, self.touches = self.touches[:cut], self.touches[cut:]
        credited = [t for t in taken if t.ts >= conversion_ts - lookback_ms]
        self.dropped += len(taken) - len(credited)
        return credited

    def close(self) -> list[Touch]:
        """End the path without a conversion; returns its touches."""
        taken, self.touches = self.touches, []
        return taken

    def to_state(self) -> tuple[Any, ...]:
        """Plain tuples for the recovery snapshot."""
        return tuple(tuple(t) for t in self.touches), self.dropped, self.wall_ms

    @classmethod
    def from_state(cls, state: tuple[Any, ...]) -> Journey:
        touches, dropped, wall_ms = state
        return cls([Touch(*t) for t in touches], dropped, wall_ms)

    def merge(self, other: Journey, max_touches: int) -> None:
        """Fold another id's journey into this one (identity stitching)."""
        for touch in other.touches:
            self.add(touch, max_touches, other.wall_ms)
        self.dropped += other.dropped
