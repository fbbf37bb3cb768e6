"""argparse types for numeric and duration flags, shared by the command line
(:mod:`offerflow.cli`) and the dev tooling (:mod:`offerflow.devstack`): a bad value is one
line and exit code 2, never a traceback.

Examples
--------

>>> import argparse
>>> parser = argparse.ArgumentParser(prog="bench", exit_on_error=False)
>>> _ = parser.add_argument("--repeat", type=positive_int)
>>> parser.parse_args(["--repeat", "3"]).repeat
3
>>> nonnegative_int("0"), share("0.95"), duration_ms("90s")
(0, 0.95, 90000)

"""

from __future__ import annotations

import argparse
import math


def positive_int(text: str) -> int:
    """An argparse type: a whole number above 0 (argparse turns the error into exit 2)."""
    value = _whole(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
    return value


def nonnegative_int(text: str) -> int:
    """An argparse type: a whole number, 0 or above."""
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or above")
    return value


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def positive_float(text: str) -> float:
    """An argparse type: a finite number above 0."""
    value = _number(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number above 0")
    return value


def nonnegative_float(text: str) -> float:
    """An argparse type: a finite number, 0 or above."""
    value = _number(text)
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number, 0 or above")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def share(text: str) -> float:
    """An argparse type: a share or probability strictly between 0 and 1."""
    value = positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1, e.g. 0.95")
    return value


def duration_ms(text: str) -> int:
    """An argparse type: a duration such as ``90s``, ``30m``, ``6h`` or ``2d``, in ms."""
    from schemas.units import parse_duration

    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be longer than 0")
    return value
