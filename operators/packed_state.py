"""Keys that rest as their snapshot: a per-user step's state stays in memory in its encoded
form between epochs and is decoded when the key is touched again.

Bytewax asks every key touched in an epoch for its snapshot when the epoch ends. A
:class:`PackedLogic` keeps that snapshot and drops the live state, so a key that is not
touched again costs its encoding (a profile's is about 460 bytes) instead of its objects
(a profile, its ledger and journey came to about 3 kB); the next item or timer for the key
builds the live state from the snapshot once, as recovery would. Its due timer is kept
beside the bytes, so Bytewax's scheduling never wakes a resting key.

For per-user steps, where most keys rest most of the time. A step holding one big model
would decode it at every epoch; it stays live (:class:`~operators.pickled_state.PickledMapLogic`
under ``op.stateful``). The wrapped logic must answer nothing at the end of the input
(``on_eof``): a resting key is not woken for it.

Examples
--------

>>> from operators.pickled_state import PickledMapLogic
>>> def count(total, item):
...     total = (total or 0) + item
...     return total, total
>>> key = PackedLogic(lambda resume: PickledMapLogic(count, resume), None)
>>> key.on_batch([2, 3])
([2, 5], False)
>>> snapshot = key.snapshot()   # the epoch ends: the key rests as these bytes
>>> key.live is None, key.snapshot() is snapshot
(True, True)
>>> key.on_batch([1])           # touched again: decoded once
([6], False)

"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar

from bytewax.operators import StatefulBatchLogic, StatefulLogic

V = TypeVar("V")
W = TypeVar("W")


class PackedLogic(StatefulBatchLogic[V, W, bytes], Generic[V, W]):
    """One key of a ``stateful`` step whose snapshots are bytes, resting as its last snapshot
    between epochs.

    Parameters
    ----------
    build
        The step's builder: a :class:`StatefulLogic` from a snapshot (``None``: a new key).
    resume
        The key's last snapshot, or ``None`` for a new key.

    """

    def __init__(self, build: Callable[[bytes | None], StatefulLogic], resume: bytes | None):
        self.build = build
        #: The live state, or ``None`` while the key rests as ``packed`` (only one is held).
        self.live: StatefulLogic | None = build(None) if resume is None else None
        self.packed = resume
        self.due: datetime | None = None

    def _wake(self) -> StatefulLogic:
        if self.live is None:  # the bytes go with waking: the live state will change
            self.live, self.packed = self.build(self.packed), None
        return self.live

    def on_batch(self, values: list[V]) -> tuple[list[W], bool]:
        out: list[W] = []
        logic: StatefulLogic | None = self._wake()
        for value in values:
            if logic is None:  # discarded earlier in this batch, and back: a new key
                logic = self.live = self.build(None)
            items, discard = logic.on_item(value)
            out.extend(items)
            if discard:
                logic = self.live = None
        return out, logic is None

    def on_notify(self) -> tuple[list[W], bool]:
        return self._wake().on_notify()

    def on_eof(self) -> tuple[list[W], bool]:
        return ([], self.RETAIN) if self.live is None else self.live.on_eof()

    def notify_at(self) -> datetime | None:
        return self.due if self.live is None else self.live.notify_at()

    def snapshot(self) -> bytes:
        if self.live is not None:
            self.due = self.live.notify_at()
            self.packed = self.live.snapshot()
            self.live = None
        assert self.packed is not None
        return self.packed
