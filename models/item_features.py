"""Catalogue items (:class:`Item`) and their features (``cat:<category>``, ``tag:<tag>``) as
rows of numbers, so a recommendation takes every candidate's strongest feature affinity in one
vectorized step.

A user's content score for an item is their largest affinity among the item's features.
Taken item by item in Python that loop was a fifth of a recommendation; here the features
form a matrix of feature numbers, one row per item number, padded with 0 (a feature that
always scores 0), and the best affinity of many items is one gather and one max.

Examples
--------

>>> import numpy as np
>>> table = ItemFeatures()
>>> table.set(0, ("cat:shoes", "tag:red"))
>>> table.set(2, ("cat:bags",))
>>> table.best(np.array([0, 1, 2, 7]), {"tag:red": 0.5, "cat:bags": 0.25}).tolist()
[0.5, 0.0, 0.25, 0.0]
>>> table.set(0, ("cat:shoes",))  # re-registered without its tag
>>> table.best(np.array([0]), {"tag:red": 0.5}).tolist()
[0.0]

"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Item:
    """Catalog metadata of one product."""

    id: str
    category: str = ""
    price: float | None = None
    tags: tuple[str, ...] = ()
    in_stock: bool = True

    @functools.cached_property
    def features(self) -> tuple[str, ...]:
        """``cat:<category>`` and ``tag:<tag>``: what affinity is kept on."""
        category = (f"cat:{self.category}",) if self.category else ()
        return (*category, *(f"tag:{t}" for t in self.tags))


class ItemFeatures:
    """Feature numbers by item number (the numbering is the caller's, e.g.
    :class:`~models.item_rows.ItemRows`); items never set have no features."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {"": 0}  # feature -> number; 0 pads the rows
        self.matrix = np.zeros((0, 1), dtype=np.int32)

    def set(self, item: int, features: Iterable[str]) -> None:
        """Item number ``item`` has ``features`` (replacing what it had)."""
        row = [self.numbers.setdefault(f, len(self.numbers)) for f in features if f]
        rows, width = self.matrix.shape
        if item >= rows or len(row) > width:  # grow by doubling: items arrive one by one
            grown = np.zeros((max(rows, 2 * item + 1), max(width, len(row))), dtype=np.int32)
            grown[:rows, :width] = self.matrix
            self.matrix = grown
        self.matrix[item] = 0
        self.matrix[item, : len(row)] = row

    def best(self, items: np.ndarray, affinity: Mapping[str, float]) -> np.ndarray:
        """For each item number in ``items``, the largest ``affinity`` of its features (at
        least 0; 0 for an item without features)."""
        values = np.zeros(len(self.numbers))
        for feature, value in affinity.items():
            number = self.numbers.get(feature)
            if number:
                values[number] = value
        out = np.zeros(len(items))
        inside = items < len(self.matrix)
        out[inside] = values[self.matrix[items[inside]]].max(axis=1)
        return out
