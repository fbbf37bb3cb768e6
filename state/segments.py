"""Declarative rule segments over profile features, reloaded when their file changes.

A rule file (TOML, see ``state/segments.toml``) lists segments in priority order; each has
``all``/``any``/``none`` lists of conditions ``"<feature> <op> <value>"``. Evaluation is a
pure function of a profile's feature dict, so it gives the same answer on every worker.

Examples
--------

>>> rules = SegmentRules.parse('''
... [[segment]]
... name = "big_spender"
... all = ["revenue >= 100"]
... [[segment]]
... name = "browser"
... any = ["count.product_view > 3", "trait.plan == 'gold'"]
... none = ["purchases >= 1"]
... ''')
>>> rules.evaluate({"revenue": 150.0, "purchases": 2})
('big_spender',)
>>> rules.evaluate({"count.product_view": 5})
('browser',)
>>> SegmentRules.parse('[[segment]]\\nname = "x"\\nall = ["revenue >>= 1"]')
Traceback (most recent call last):
...
ValueError: segment 'x': '>= 1' in 'revenue >>= 1' is not a number, true/false or a quoted string

"""

from __future__ import annotations

import logging
import operator
import os
import re
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
_CONDITION = re.compile(r"^\s*([\w.:\-]+)\s*(>=|<=|==|!=|>|<)\s*(.+?)\s*$")


@dataclass(frozen=True)
class Condition:
    """``feature op value``; false when the feature is missing or not comparable."""

    feature: str
    op: str
    value: Any

    def holds(self, features: Mapping[str, Any]) -> bool:
        default = 0 if isinstance(self.value, int | float) else None
        actual = features.get(self.feature, default)
        if actual is None:
            return False
        try:
            return _OPS[self.op](actual, self.value)
        except TypeError:
            return False


@dataclass(frozen=True)
class Segment:
    """A named rule: every ``all`` condition, at least one ``any`` (if any), no ``none``."""

    name: str
    all: tuple[Condition, ...] = ()
    any: tuple[Condition, ...] = ()
    none: tuple[Condition, ...] = ()

    def matches(self, features: Mapping[str, Any]) -> bool:
        return (
            all(c.holds(features) for c in self.all)
            and (not self.any or any(c.holds(features) for c in self.any))
            and not any(c.holds(features) for c in self.none)
        )


@dataclass(frozen=True)
class SegmentRules:
    """An ordered list of segments."""

    segments: tuple[Segment, ...]

    @classmethod
    def parse(cls, text: str) -> SegmentRules:
        """Parse a rule file's text; raise ``ValueError`` naming the bad segment."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"not valid TOML: {exc}") from None
        segments = []
        seen: set[str] = set()
        for i, raw in enumerate(data.get("segment", [])):
            name = raw.get("name")
            if not isinstance(name, str) or not name:
                raise ValueError(f"segment #{i + 1} has no name")
            if name in seen:
                raise ValueError(f"segment {name!r} is defined twice")
            unknown = set(raw) - {"name", "all", "any", "none"}
            if unknown:
                raise ValueError(f"segment {name!r}: unknown keys {sorted(unknown)}")
            parts = {
                k: tuple(_condition(name, c) for c in raw.get(k, ()))
                for k in ("all", "any", "none")
            }
            if not any(parts.values()):
                raise ValueError(f"segment {name!r} has no conditions")
            seen.add(name)
            segments.append(Segment(name, **parts))
        return cls(tuple(segments))

    def evaluate(self, features: Mapping[str, Any]) -> tuple[str, ...]:
        """Names of the segments ``features`` belong to, in priority order."""
        return tuple(s.name for s in self.segments if s.matches(features))


def _condition(segment: str, text: Any) -> Condition:
    match = _CONDITION.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"segment {segment!r}: cannot read condition {text!r}: expected "
            '"<feature> <op> <value>"'
        )
    feature, op, literal = match.groups()
    try:
        value = tomllib.loads(f"v = {literal}")["v"]
    except tomllib.TOMLDecodeError:
        raise ValueError(
            f"segment {segment!r}: {literal!r} in {text!r} is not a number, "
            "true/false or a quoted string"
        ) from None
    return Condition(feature, op, value)


def default_rules_text() -> str:
    """The rule file shipped with OfferFlow."""
    return resources.files(__package__).joinpath("segments.toml").read_text()


class RuleFile:
    """Rules from a file, re-read when it changes (checked at most every ``check_every_s``).

    A file that fails to parse after a change is logged and the previous rules stay in force,
    so a typo cannot take segments away from every user.

    Parameters
    ----------
    path
        The rule file; empty means the shipped default rules (never reloaded).
    check_every_s
        Minimum seconds between checks of the file's modification time.

    """

    def __init__(
        self,
        path: str = "",
        check_every_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.check_every_s = check_every_s
        self.clock = clock
        self._mtime = self._stat()
        self.rules = SegmentRules.parse(Path(path).read_text() if path else default_rules_text())
        self._checked = clock()

    def current(self) -> SegmentRules:
        """The rules in force, reloading the file if it changed."""
        if self.path and self.clock() - self._checked >= self.check_every_s:
            self._checked = self.clock()
            mtime = self._stat()
            if mtime != self._mtime:
                self._mtime = mtime
                try:
                    self.rules = SegmentRules.parse(Path(self.path).read_text())
                    log.warning(
                        "reloaded %d segment rules from %s", len(self.rules.segments), self.path
                    )
                except (OSError, ValueError) as exc:
                    log.error("keeping the previous segment rules: %s: %s", self.path, exc)
        return self.rules

    def _stat(self) -> int | None:
        return file_mtime(self.path)


def file_mtime(path: str) -> int | None:
    """A file's modification time in ns (``None`` if no path or unreadable): how reloadable
    config files notice a change."""
    try:
        return os.stat(path).st_mtime_ns if path else None
    except OSError:
        return None
