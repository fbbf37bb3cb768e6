"""Exact splits of a whole into integer parts, so attribution credits add up to the cent.

Floating-point fractions such as ``1/3`` never sum back to exactly ``1.0``, and currency
shares computed as ``fraction * value`` drift by fractions of a cent. Attribution reports
must reconcile with the revenue they split, so credits are allocated in integer units with
the largest-remainder (Hamilton) method: each share gets the floor of its exact quota and
the units left over go to the largest remainders (ties to the earliest). Fractions are
then ``parts / FRACTION_UNITS`` with ``FRACTION_UNITS = 2**20`` (about a millionth): every
such number is an exact binary float, and so is every sum of them below ``2**33`` whole
conversions (53 bits), so the credits of one conversion add up to exactly ``1.0`` in any
order, and running totals of billions of conversions stay exact too. Money is split in
minor units (cents).

Examples
--------

>>> split([1.0, 1.0, 1.0], 100)
[34, 33, 33]
>>> fractions = [p / FRACTION_UNITS for p in split([1.0, 1.0, 1.0], FRACTION_UNITS)]
>>> sum(fractions) == 1.0, sum(reversed(fractions)) == 1.0
(True, True)
>>> split([0.0, 0.0], 5)  # no information: equal shares
[3, 2]
>>> to_cents(19.999), from_cents(2000)
(2000, 20.0)

"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Integer units of one whole conversion; a power of two keeps ``parts / FRACTION_UNITS``
#: exact, and a small one keeps totals exact: 2**52 units overflowed the 53-bit mantissa as
#: soon as a total passed two conversions.
FRACTION_UNITS = 2**20
#: Minor currency units per major unit (cents).
MINOR_UNITS = 100


def split(weights: Sequence[float], total: int) -> list[int]:
    """Integer parts proportional to ``weights`` that sum to exactly ``total``.

    Non-positive or non-finite weights count as zero; if every weight is zero the total is
    shared equally, so a split never loses units.
    """
    if not weights:
        return []
    clean = [w if math.isfinite(w) and w > 0 else 0.0 for w in weights]
    positive = [i for i, w in enumerate(clean) if w > 0]
    if len(positive) == 1:  # one-touch paths and first/last-touch models: no arithmetic
        parts = [0] * len(clean)
        parts[positive[0]] = total
        return parts
    top = max(clean)
    # Weights as integers (53 significant bits of each), then integer quotas: no rounding.
    ints = [round(w / top * 2**53) for w in clean] if top > 0 else [1] * len(clean)
    mass = sum(ints)
    parts = [total * w // mass for w in ints]
    remainders = [total * w % mass for w in ints]
    short = total - sum(parts)
    for i in sorted(range(len(parts)), key=lambda i: (-remainders[i], i))[:short]:
        parts[i] += 1
    return parts


def to_cents(value: float) -> int:
    """A currency amount in minor units, rounded half-even."""
    return round(value * MINOR_UNITS) if math.isfinite(value) else 0


def from_cents(cents: int) -> float:
    """Minor units back to the amount."""
    return cents / MINOR_UNITS
