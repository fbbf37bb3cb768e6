"""Sparse rows of per-item values over one numbering of the items, summed with NumPy.

The recommender's co-occurrence neighbours and item popularities are kept as decayed sums in
dicts (:class:`~models.decay.DecayedFeatures`), which suit the one-pair-at-a-time updates of
learning. Ranking instead reads a few hundred of them at once: a Python loop over the
neighbours of the user's recent items took 40% of a recommendation. ``ItemRows`` mirrors the
sums as arrays (each write goes to both): rows of neighbour values and one value per item to
normalize by (its popularity), so a recommendation gathers the rows it needs, adds them up
and ranks them in a few vectorized steps.

Examples
--------

>>> rows = ItemRows()
>>> rows.set("a", "b", 2.0)
>>> rows.set("a", "c", 1.0)
>>> rows.set("d", "b", 4.0)
>>> rows.set("a", "b", 3.0)  # overwrites
>>> ids, sums = rows.combine([("a", 1.0), ("d", 0.5)])
>>> {rows.names[i]: float(v) for i, v in zip(ids, sums)}
{'b': 5.0, 'c': 1.0}
>>> rows.replace("a", {"c": 7.0})
>>> ids, sums = rows.combine([("a", 1.0)])
>>> [rows.names[i] for i in ids], sums.tolist()
(['c'], [7.0])
>>> for item, norm in [("b", 4.0), ("c", 1.0)]:
...     rows.set_norm(item, norm)
>>> ids, values = rows.cosine_top([("a", 1.0), ("d", 1.0)], n=2)  # b: 4/sqrt(4), c: 7/sqrt(1)
>>> dict(zip([rows.names[i] for i in ids], values.tolist()))
{'b': 0.2857142857142857, 'c': 1.0}

"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping

import numpy as np

#: Catalogues up to this many items are summed into a dense vector.
DENSE_UP_TO = 50_000


class _Row:
    __slots__ = ("at", "ids", "values")

    def __init__(self) -> None:
        self.ids = array("i")  # item numbers
        self.values = array("d")
        self.at: dict[int, int] = {}  # item number -> position


class ItemRows:
    """Rows of ``{item: value}`` keyed by item, over a shared numbering of item names."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.names: list[str] = []
        self.rows: dict[str, _Row] = {}
        self.norms = array("d")  # by item number; 1 where unset

    def set_norm(self, item: str, value: float) -> None:
        """The value ``item``'s sums are divided by the square root of in :meth:`cosine_top`."""
        self.norms[self.id(item)] = value

    def id(self, name: str) -> int:
        """The item's number (numbered on first sight)."""
        found = self.ids.get(name)
        if found is None:
            found = self.ids[name] = len(self.names)
            self.names.append(name)
            self.norms.append(1.0)
        return found

    def set(self, item: str, other: str, value: float) -> None:
        """Row ``item``'s value for ``other``."""
        row = self.rows.get(item) or self.rows.setdefault(item, _Row())
        number = self.id(other)
        at = row.at.get(number)
        if at is None:
            row.at[number] = len(row.ids)
            row.ids.append(number)
            row.values.append(value)
        else:
            row.values[at] = value

    def replace(self, item: str, values: Mapping[str, float]) -> None:
        """Row ``item`` becomes ``values`` (after a rescale or a pruning)."""
        row = self.rows[item] = _Row()
        for other, value in values.items():
            number = self.id(other)
            row.at[number] = len(row.ids)
            row.ids.append(number)
            row.values.append(value)

    def numbered(self, values: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """``{item: value}`` as item numbers and values (items numbered on first sight)."""
        return (
            np.array([self.id(item) for item in values], dtype=np.intp),
            np.fromiter(values.values(), dtype=float, count=len(values)),
        )

    def combine(self, weighted: Iterable[tuple[str, float]]) -> tuple[np.ndarray, np.ndarray]:
        """``sum(weight * row)`` over ``(item, weight)`` rows: the item numbers present, and
        their sums."""
        ids, values = [], []
        for item, weight in weighted:
            row = self.rows.get(item)
            if row is not None and row.ids:
                ids.append(np.frombuffer(row.ids, dtype=np.int32))
                values.append(np.frombuffer(row.values) * weight)
        if not ids:
            return np.zeros(0, dtype=np.int32), np.zeros(0)
        at, by = np.concatenate(ids), np.concatenate(values)
        if len(self.names) <= DENSE_UP_TO:  # a dense sum beats sorting the few hundred ids
            dense = np.bincount(at, weights=by, minlength=len(self.names))
            present = dense.nonzero()[0]
            return present, dense[present]
        present, where = np.unique(at, return_inverse=True)
        return present, np.bincount(where, weights=by)

    def cosine_top(
        self, weighted: Iterable[tuple[str, float]], n: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` items with the largest :meth:`combine` sums divided by the square root of
        their norms (1 where unset), scaled so the largest is 1: their numbers and values
        (none when no sum is positive)."""
        ids, sums = self.combine(weighted)
        if ids.size == 0:
            return ids, sums
        sums /= np.sqrt(np.frombuffer(self.norms)[ids])
        if ids.size > n:
            top = sums.argpartition(-n)[-n:]
            ids, sums = ids[top], sums[top]
        best = sums.max()
        if best <= 0:
            return ids[:0], sums[:0]
        return ids, sums / best


def largest(names: list[str], values: Iterable[float], n: int) -> list[str]:
    """The ``n`` names of the largest values, ties in ``names`` order, as ``heapq.nlargest``
    gives them at a fraction of its cost over a catalogue.

    >>> largest(["a", "b", "c", "d"], [1.0, 3.0, 1.0, 2.0], 3)
    ['b', 'd', 'a']

    """
    ranked = np.fromiter(values, dtype=float, count=len(names))
    return [names[i] for i in np.argsort(-ranked, kind="stable")[:n].tolist()]
