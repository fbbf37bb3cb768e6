"""Parsers of single setting values (integers, durations, shares, allow-lists, ``k=v``
pairs): each names the variable it read in its :class:`ConfigError`, so a bad value is one
clear line. :mod:`config.settings` resolves the settings with them.

>>> durations({"HALF_LIVES": "7d,1d"}, "HALF_LIVES")
(86400000, 604800000)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from schemas.event import EventType
from schemas.units import parse_duration


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


def allow_list(raw: Mapping[str, str], name: str, built_in: frozenset[str]) -> frozenset[str]:
    """An allow-list: empty is ``built_in``, ``+a,b`` adds to it, ``a,b`` replaces it."""
    spec = raw[name].strip()
    extend = spec.startswith("+")
    names = frozenset(p.strip().lower() for p in spec.lstrip("+").split(",") if p.strip())
    if spec and not names:
        raise ConfigError(f"OFFERFLOW_{name} must list names separated by commas")
    return built_in | names if extend or not spec else names


def integer(raw: Mapping[str, str], name: str, minimum: int) -> int:
    try:
        value = int(raw[name])
    except ValueError:
        raise ConfigError(f"OFFERFLOW_{name} must be an integer, got {raw[name]!r}") from None
    if value < minimum:
        raise ConfigError(f"OFFERFLOW_{name} must be at least {minimum}, got {value}")
    return value


def number(raw: Mapping[str, str], name: str) -> float:
    try:
        value = float(raw[name])
    except ValueError:
        raise ConfigError(f"OFFERFLOW_{name} must be a number, got {raw[name]!r}") from None
    if not value >= 0:
        raise ConfigError(f"OFFERFLOW_{name} must be a non-negative number, got {raw[name]!r}")
    return value


#: Largest money amount a setting may allow: cents of it are still exact integers in a float.
MAX_MONEY = 1e13


def money(raw: Mapping[str, str], name: str) -> float:
    """A non-negative amount of money up to :data:`MAX_MONEY` (profiles keep integer cents,
    and an infinite bound would let a value through that has no cents)."""
    value = number(raw, name)
    if value > MAX_MONEY:
        raise ConfigError(f"OFFERFLOW_{name} must be at most {MAX_MONEY:g}, got {raw[name]!r}")
    return value


def boolean(raw: Mapping[str, str], name: str) -> bool:
    value = raw[name].strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"OFFERFLOW_{name} must be true or false, got {raw[name]!r}")


def choice(raw: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    value = raw[name].strip().lower()
    if value not in allowed:
        raise ConfigError(f"OFFERFLOW_{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def durations(raw: Mapping[str, str], name: str) -> tuple[int, ...]:
    """``"1d,7d,30d"`` → milliseconds, ascending (units as :func:`schemas.units.parse_duration`
    reads them, except that a bare number is refused: a setting always names its unit)."""
    out = []
    for part in filter(None, (p.strip() for p in raw[name].split(","))):
        try:
            ms = None if part.replace(".", "", 1).isdigit() else parse_duration(part)
        except ValueError:
            ms = None
        if ms is None:
            raise ConfigError(
                f"OFFERFLOW_{name} must list durations like 250ms, 90s, 30m, 12h or 7d; "
                f"got {part!r}"
            )
        out.append(ms)
    if not out:
        raise ConfigError(f"OFFERFLOW_{name} needs at least one duration")
    return tuple(sorted(set(out)))


def duration(raw: Mapping[str, str], name: str) -> int:
    """One duration like ``30d`` → milliseconds."""
    found = durations(raw, name)
    if len(found) != 1:
        raise ConfigError(f"OFFERFLOW_{name} must be one duration like 30d, got {raw[name]!r}")
    return found[0]


def conversions(raw: Mapping[str, str], name: str) -> tuple[str, ...]:
    names = tuple(p.strip() for p in raw[name].split(",") if p.strip())
    known = {t.value for t in EventType}
    if not names or set(names) - known:
        raise ConfigError(f"OFFERFLOW_{name} must list event types from {sorted(known)}")
    return names


def shares(raw: Mapping[str, str], name: str) -> tuple[float, float]:
    try:
        first, last = (float(p) for p in raw[name].split(","))
    except ValueError:
        raise ConfigError(f"OFFERFLOW_{name} must be two shares like 0.4,0.4") from None
    if min(first, last) < 0 or first + last > 1:
        raise ConfigError(f"OFFERFLOW_{name} shares must be ≥ 0 and sum to at most 1")
    return first, last


def pairs(spec: str) -> dict[str, str]:
    pairs = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"OFFERFLOW_KAFKA_CONFIG entries must be key=value, got {part!r}")
        pairs[key.strip()] = value.strip()
    return pairs


def text(raw: Mapping[str, str], name: str) -> str:
    """The value as it is."""
    return raw[name]


def at_least(minimum: int) -> Callable[[Mapping[str, str], str], int]:
    """A parser of whole numbers of at least ``minimum``."""
    return lambda raw, name: integer(raw, name, minimum)


def one_of(*allowed: str) -> Callable[[Mapping[str, str], str], str]:
    """A parser accepting only ``allowed`` values."""
    return lambda raw, name: choice(raw, name, allowed)


def key_values(raw: Mapping[str, str], name: str) -> dict[str, str]:
    """``k=v,k2=v2`` pairs (see :func:`pairs`)."""
    return pairs(raw[name])
