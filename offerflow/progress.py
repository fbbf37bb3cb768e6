"""Progress of long-running commands: a ``tqdm`` bar on a terminal, a rate line otherwise.

Logs and CI output have no use for a bar redrawn with carriage returns, and a silent command
looks hung, so off a terminal :class:`Progress` writes one plain line every ``every_s``
seconds and a last one at the end::

    decisions: 120,000/200,000 (60%), 3,950/s

Examples
--------

>>> import io
>>> out = io.StringIO()
>>> with Progress(total=3, desc="rows", unit="row", stream=out) as bar:
...     for _ in range(3):
...         bar.update()
>>> print(out.getvalue().strip().split(", ")[0])
rows: 3/3 (100%)
>>> list(progress(range(2), desc="rows", stream=io.StringIO()))
[0, 1]

"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")


class Progress:
    """A bar (``tqdm``) when ``stream`` is a terminal, else a rate line every ``every_s``;
    nothing when ``enabled`` is false."""

    def __init__(
        self,
        total: int | None = None,
        desc: str = "",
        unit: str = "it",
        *,
        enabled: bool = True,
        every_s: float = 10.0,
        stream: IO[str] | None = None,
    ) -> None:
        self.total, self.desc, self.unit, self.every_s = total, desc, unit, every_s
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.done = 0
        self.started = self.last = time.monotonic()
        terminal = enabled and self.stream.isatty()
        self.bar: Any = (
            tqdm(total=total, desc=desc, unit=unit, file=self.stream) if terminal else None
        )

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled and time.monotonic() - self.last >= self.every_s:
            self._line()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            self._line()
        self.enabled = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _line(self) -> None:
        self.last = time.monotonic()
        rate = self.done / max(self.last - self.started, 1e-9)
        share = f" ({self.done / self.total:.0%})" if self.total else ""
        of = f"/{self.total:,}" if self.total else ""
        print(f"{self.desc}: {self.done:,}{of}{share}, {rate:,.0f} {self.unit}/s",
              file=self.stream, flush=True)  # fmt: skip


def progress(
    items: Iterable[T],
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    *,
    enabled: bool = True,
    stream: IO[str] | None = None,
) -> Iterator[T]:
    """``items``, reporting progress as :class:`Progress` does."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with Progress(total, desc, unit, enabled=enabled, stream=stream) as bar:
        for item in items:
            yield item
            bar.update()
