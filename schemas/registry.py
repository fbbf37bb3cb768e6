"""The schema catalogue: each ``*.avsc`` beside this module, parsed once, with its wire id.

The Confluent wire format prefixes each Avro payload with a 4-byte schema id. Without a schema
registry in the loop (the local stack has none) the ids are fixed here; deployments that use a
Confluent Schema Registry register these schemas and map the ids it assigns through
``OFFERFLOW_AVRO_SCHEMA_IDS`` (see :func:`parse_id_overrides`).

Examples
--------

>>> from schemas import registry
>>> registry.schema("event")["name"]
'offerflow.Event'
>>> registry.name_for_id(1), registry.id_for_name("dead_letter")
('event', 6)

"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import fastavro
import orjson

#: Default wire ids of the schemas, stable across releases.
DEFAULT_IDS: dict[str, int] = {
    "event": 1,
    "decision": 2,
    "attribution": 3,
    "segment_change": 4,
    "privacy_audit": 5,
    "dead_letter": 6,
}

_ids: dict[str, int] = dict(DEFAULT_IDS)
_names: dict[int, str] = {v: k for k, v in DEFAULT_IDS.items()}


def names() -> list[str]:
    """All schema names in the catalogue."""
    return list(DEFAULT_IDS)


@functools.cache
def schema(name: str) -> dict[str, Any]:
    """The parsed (fastavro) schema called ``name``; raises ``KeyError`` for an unknown one."""
    if name not in DEFAULT_IDS:
        raise KeyError(f"unknown schema {name!r}; known: {', '.join(DEFAULT_IDS)}")
    text = resources.files(__package__).joinpath(f"{name}.avsc").read_bytes()
    return fastavro.parse_schema(orjson.loads(text))


def id_for_name(name: str) -> int:
    """Wire id under which records of schema ``name`` are written."""
    return _ids[name]


def name_for_id(schema_id: int) -> str | None:
    """Schema name for a wire id, or ``None`` when the id is not one of ours."""
    return _names.get(schema_id)


def parse_id_overrides(spec: str) -> dict[str, int]:
    """Parse ``"event=17,decision=18"`` into a name → id mapping, checking every name.

    >>> parse_id_overrides("event=17, decision=18")
    {'event': 17, 'decision': 18}

    """
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in DEFAULT_IDS or not value.strip().isdigit():
            raise ValueError(
                f"bad schema id mapping {part!r}; expected NAME=ID with NAME in "
                f"{', '.join(DEFAULT_IDS)}"
            )
        out[name] = int(value)
    return out


def use_ids(overrides: dict[str, int]) -> None:
    """Replace the wire ids of the named schemas (process-wide, at start-up)."""
    ids = {**DEFAULT_IDS, **overrides}
    if len(set(ids.values())) != len(ids):
        raise ValueError(f"schema ids must be distinct: {ids}")
    _ids.clear()
    _ids.update(ids)
    _names.clear()
    _names.update({v: k for k, v in ids.items()})
