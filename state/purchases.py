"""A customer's purchases as exact facts: how many, on how many days, for how much, first and
last, in a form the predictive models read directly.

Money is kept in integer cents, so a lifetime of purchases sums exactly (a float total of
2,000 purchases drifts to values like 8976.329999999993). The purchase models count
purchase *days*, as Fader, Hardie & Lee do: several purchases of one UTC day are one
repeat purchase, their values summed. The distinct days are kept (4 bytes each), so purchases
arriving out of order give the same facts as in order.

Examples
--------

>>> day = 86_400_000
>>> p = Purchases()
>>> for ts, value in [(0, 10.10), (day + 5, 20.20), (day + 9, 0.10), (3 * day, 30.0)]:
...     p.add(ts, value)
>>> p.count, p.day_count, p.revenue
(4, 3, 60.4)
>>> p.rfm()  # two repeat days, first and last ms, mean value of a repeat day
(2, 0, 259200000, 25.15)
>>> f = p.features(as_of=10 * day)
>>> f["days_since_last_purchase"], f["days_since_first_purchase"]
(7.0, 10.0)

"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from typing import Any

from schemas.units import DAY_MS

Facts = tuple[int, int, int, float]  # repeat purchase days, first ms, last ms, mean repeat value


class Purchases:
    """Counts, cents and times of a customer's purchases (see the module docstring)."""

    __slots__ = ("cents", "count", "days", "first", "first_day_cents", "last", "legacy_days")

    def __init__(self) -> None:
        self.count = 0
        self.cents = 0
        self.first: int | None = None
        self.last: int | None = None
        #: what the first purchase day's purchases were worth: the part that is not repeat
        self.first_day_cents = 0
        #: the distinct UTC days (``ts // DAY_MS``) with a purchase, sorted
        self.days = array("I")
        #: purchase days of a profile stored before days were kept, counted one per purchase
        self.legacy_days = 0

    @property
    def revenue(self) -> float:
        return self.cents / 100

    @property
    def day_count(self) -> int:
        return len(self.days) + self.legacy_days

    def add(self, ts: int, value: float) -> None:
        """One purchase worth ``value`` at event time ``ts``."""
        cents = round(value * 100)
        self._first_day(ts // DAY_MS, cents)
        self.count += 1
        self.cents += cents
        self.first = ts if self.first is None else min(self.first, ts)
        self.last = ts if self.last is None else max(self.last, ts)
        self._add_day(ts // DAY_MS)

    def merge(self, other: Purchases) -> None:
        """Absorb another history of the same person (identity stitching)."""
        if other.first is None or other.last is None:
            return
        self._first_day(other.first // DAY_MS, other.first_day_cents)
        self.count += other.count
        self.cents += other.cents
        self.first = other.first if self.first is None else min(self.first, other.first)
        self.last = other.last if self.last is None else max(self.last, other.last)
        for day in other.days:
            self._add_day(day)
        self.legacy_days += other.legacy_days

    def rfm(self) -> Facts | None:
        """``(repeat purchase days, first ms, last ms, mean value of a repeat day)`` for the
        purchase models; ``None`` before the first purchase."""
        if self.first is None or self.last is None:
            return None
        repeat = self.day_count - 1
        mean = (self.cents - self.first_day_cents) / repeat / 100 if repeat > 0 else 0.0
        return repeat, self.first, self.last, mean

    def features(self, as_of: int) -> dict[str, Any]:
        """The profile features, recency measured at event time ``as_of``."""
        first, last = self.first, self.last
        return {
            "purchases": self.count,
            "purchase_days": self.day_count,
            "revenue": self.revenue,
            "avg_order_value": self.cents / self.count / 100 if self.count else 0.0,
            "first_purchase": first,
            "last_purchase": last,
            "days_since_first_purchase": None if first is None else (as_of - first) / DAY_MS,
            "days_since_last_purchase": None if last is None else (as_of - last) / DAY_MS,
        }

    # -- encoding --------------------------------------------------------------------------

    def to_fields(self) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """The fields a profile stores where it always has (count, cents, first, last), and
        the ones it appends."""
        return (self.count, self.cents, self.first, self.last), (
            self.first_day_cents,
            self.days.tobytes(),
            self.legacy_days,
        )

    @classmethod
    def from_fields(
        cls, head: tuple[Any, ...], tail: tuple[Any, ...], legacy_first_value: float = 0.0
    ) -> Purchases:
        """Read :meth:`to_fields`; an empty ``tail`` is a profile stored before cents and
        days, whose ``revenue`` was a float and whose purchases each counted as a day."""
        p = cls()
        p.count, money, p.first, p.last = head
        if tail:
            p.cents, (p.first_day_cents, days, p.legacy_days) = money, tail
            p.days.frombytes(days)
            return p
        p.cents, p.first_day_cents = round(money * 100), round(legacy_first_value * 100)
        if p.first is not None and p.last is not None:
            p.days.extend(sorted({p.first // DAY_MS, p.last // DAY_MS}))
            p.legacy_days = max(0, p.count - len(p.days))
        return p

    def _first_day(self, day: int, cents: int) -> None:
        """Account ``cents`` spent on ``day`` to the first purchase day if it is (or becomes) it."""
        if self.first is None or day < self.first // DAY_MS:
            self.first_day_cents = cents
        elif day == self.first // DAY_MS:
            self.first_day_cents += cents

    def _add_day(self, day: int) -> None:
        at = bisect_left(self.days, day)
        if at == len(self.days) or self.days[at] != day:
            self.days.insert(at, day)
