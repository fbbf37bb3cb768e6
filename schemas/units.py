"""Time units and durations: the one place where ``"30m"`` becomes milliseconds.

Every duration OfferFlow reads (settings, campaign files, caps, triggers) is spelt the same
way: a positive number and a unit, ``ms``, ``s``, ``m``, ``h`` or ``d``. Event times and
windows are integer milliseconds throughout, so the unit constants below are in ms.

Examples
--------

>>> parse_duration("1.5h"), parse_duration("250ms"), parse_duration(" 7d ")
(5400000, 250, 604800000)
>>> parse_duration(90)  # a bare number is seconds
90000
>>> parse_duration("30 minutes")
Traceback (most recent call last):
...
ValueError: '30 minutes' is not a duration like 250ms, 90s, 30m, 12h or 7d
>>> DAY_MS // HOUR_MS
24

"""

from __future__ import annotations

import re
from typing import Any

SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

UNITS_MS = {"ms": 1, "s": SECOND_MS, "m": MINUTE_MS, "h": HOUR_MS, "d": DAY_MS}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")


def parse_duration(value: Any) -> int:
    """A positive duration in milliseconds, from ``"<number><unit>"`` or a bare number of
    seconds; raises :class:`ValueError` naming the value otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        ms = float(value) * SECOND_MS
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration like 250ms, 90s, 30m, 12h or 7d")
        ms = float(match.group(1)) * UNITS_MS[match.group(2)]
    if ms <= 0:
        raise ValueError(f"{value!r} must be positive")
    return int(ms)


def duration_label(ms: int) -> str:
    """The short name of a duration, as feature names use it: whole days, else whole hours,
    else seconds.

    >>> duration_label(7 * DAY_MS), duration_label(HOUR_MS), duration_label(1500)
    ('7d', '1h', '1.5s')

    """
    for unit, size in (("d", DAY_MS), ("h", HOUR_MS)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms / SECOND_MS:g}s"
