"""What the ``[[table]]`` parsers of the campaign file (campaigns and experiments) share:
error reporting (every problem is collected as ``line N: <kind> '<id>': <key>: <message>``,
so ``offerflow campaigns validate`` lists them all at once), ids and schedules.

Examples
--------

>>> errors = []
>>> name, err = reporter({"id": "spring"}, "campaign", errors, lambda key: 7)
>>> err("policy", "'greedy' is not one of thompson, ucb")
>>> name, errors
('spring', ["line 7: campaign 'spring': policy: 'greedy' is not one of thompson, ucb"])
>>> valid_id("spring.sale-2"), valid_id("no spaces")
(True, False)

"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

#: The channels a campaign can use and the policies it can choose offers with.
CHANNELS = ("email", "sms", "push", "web")
POLICIES = ("thompson", "ucb", "epsilon_greedy", "linucb", "lints", "random")

_ID = re.compile(r"[\w.\-]{1,64}")


def valid_id(value: Any) -> bool:
    """Ids are 1 to 64 letters, digits, ``_``, ``.`` or ``-``."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def reporter(
    raw: dict[str, Any], kind: str, errors: list[str], line_of: Callable[[str], int]
) -> tuple[str, Callable[[str, str], None]]:
    """The table's display name and an ``err(key, message)`` that appends to ``errors``."""
    ident = raw.get("id")
    name = ident if isinstance(ident, str) and ident else "?"

    def err(key: str, message: str) -> None:
        errors.append(f"line {line_of(key)}: {kind} {name!r}: {key}: {message}")

    return name, err


def parse_time(value: Any) -> int:
    """ISO-8601 (``Z`` or offset; naive means UTC), a TOML datetime, or epoch ms → epoch ms."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def schedule(raw: dict[str, Any], err: Callable[[str, str], None]) -> dict[str, int]:
    """``start_ms``/``end_ms`` from a table's optional ``start`` and ``end`` times.

    >>> schedule({"start": "2026-01-01T00:00:00Z"}, print)
    {'start_ms': 1767225600000}
    """
    times = {}
    for key in ("start", "end"):
        if key in raw:
            try:
                times[f"{key}_ms"] = parse_time(raw[key])
            except (TypeError, ValueError):
                err(key, f"{raw[key]!r} is not an ISO-8601 time")
    return times


class TableLines:
    """Line numbers for error messages: where the n-th ``[[table]]`` (or ``[table]``) starts
    and where a key is set inside it (best effort; TOML parsers do not keep positions)."""

    def __init__(self, text: str, table: str = "campaign") -> None:
        self.text = text.splitlines()
        self.table = table
        self.starts = [
            i + 1
            for i, line in enumerate(self.text)
            if line.strip().startswith((f"[[{table}]]", f"[{table}]"))
        ]

    def block(self, index: int) -> int:
        return self.starts[index] if index < len(self.starts) else 1

    def id_line(self, ident: str) -> int:
        """Line of the table whose ``id`` is ``ident`` (1 if not found)."""
        pattern = re.compile(rf"""^\s*id\s*=\s*["']{re.escape(ident)}["']""")
        return next((i + 1 for i, line in enumerate(self.text) if pattern.match(line)), 1)

    def key(self, start: int, key: str) -> int:
        pattern = re.compile(rf"^\s*(\[+{self.table}\.)?{re.escape(key)}\b")
        for i in range(max(start - 1, 0), len(self.text)):
            if i > start - 1 and self.text[i].strip().startswith(f"[[{self.table}]]"):
                break
            if pattern.match(self.text[i]):
                return i + 1
        return start


def parse_tables(raw: Any, kind: str, text: str, errors: list[str], parse) -> dict[str, Any]:
    """Parse each ``[[kind]]`` table of ``raw`` with ``parse(table, errors, line_of)``; by id."""
    if not isinstance(raw, list):
        errors.append(f"line 1: '{kind}' must be an array of tables: [[{kind}]]")
        return {}
    lines = TableLines(text, kind)
    parsed: dict[str, Any] = {}
    for index, table in enumerate(raw):
        where = lines.block(index)
        if not isinstance(table, dict):
            errors.append(f"line {where}: each {kind} must be a table")
            continue
        item = parse(table, errors, lambda key, w=where: lines.key(w, key))
        if item is None:
            continue
        if item.id in parsed:
            errors.append(f"line {where}: {kind} {item.id!r} is defined twice")
        parsed[item.id] = item
    return parsed
