"""What the command modules share: the usage-error type and file checks (flag types are in
:mod:`offerflow.flags`, which the dev tooling uses too)."""

from __future__ import annotations

import os
from datetime import date


class UsageError(Exception):
    """Bad input from a flag or a file: :func:`offerflow.cli.main` prints it as one line and
    exits with code 2, never a traceback."""


def check_readable(path: str, what: str = "file") -> None:
    """A :class:`UsageError` naming ``path`` unless it is a file this process can read."""
    if not os.path.exists(path):
        raise UsageError(f"no such {what}: {path}")
    if os.path.isdir(path):
        raise UsageError(f"{path} is a directory, not a {what}")
    if not os.access(path, os.R_OK):
        raise UsageError(f"cannot read {path}: permission denied")


def read_text(path: str, what: str = "file") -> str:
    """The UTF-8 text of ``path``, or a :class:`UsageError` naming the path and the problem."""
    check_readable(path, what)
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def columns(text: str, count: int = 3) -> tuple[str, ...]:
    """``--columns``: ``count`` comma-separated names or 0-based positions."""
    names = tuple(c.strip() for c in text.split(","))
    if len(names) != count or not all(names):
        raise UsageError(f"--columns needs {count} comma-separated names or positions: {text!r}")
    return names


def iso_date(flag: str, text: str | None) -> date:
    """A ``YYYY-MM-DD`` flag's date, or a :class:`UsageError` naming the flag."""
    if not text:
        raise UsageError(f"give {flag} YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{flag} must be a date like 1997-09-30, got {text!r}") from None
