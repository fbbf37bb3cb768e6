"""The schema catalogue: each ``*.avsc`` beside this module, parsed once, with its wire id.

The Confluent wire format prefixes each Avro payload with a 4-byte schema id. Without a schema
registry in the loop (the local stack has none) the ids are fixed here; deployments that use a
Confluent Schema Registry register these schemas and map the ids it assigns through
``OFFERFLOW_AVRO_SCHEMA_IDS`` (see :func:`parse_id_overrides`).

Schema evolution: producers may write with another version of a schema under an id of its
own (``OFFERFLOW_AVRO_WRITER_SCHEMAS``, see :func:`parse_writers`). Such records are read
with Avro schema resolution into the catalogue's version (the reader): a field the writer
added is skipped, a field the writer lacks takes the reader's default. A writer the reader
cannot resolve (a field without a default missing, a type changed) is refused record by
record as ``incompatible_schema``.

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
    "drift_detection": 7,
}

_ids: dict[str, int] = dict(DEFAULT_IDS)
_names: dict[int, str] = {v: k for k, v in DEFAULT_IDS.items()}
#: wire id -> (catalogue schema it is a version of, parsed writer schema)
_writers: dict[int, tuple[str, dict[str, Any]]] = {}


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
    """Schema name for a wire id (a catalogue id or a registered writer's), or ``None`` when
    the id is not one of ours."""
    name = _names.get(schema_id)
    if name is None and schema_id in _writers:
        return _writers[schema_id][0]
    return name


def writer_for_id(schema_id: int) -> dict[str, Any] | None:
    """The registered writer schema under ``schema_id``, or ``None`` for a catalogue id."""
    found = _writers.get(schema_id)
    return None if found is None else found[1]


def parse_writers(spec: str) -> dict[int, tuple[str, dict[str, Any]]]:
    """Parse ``"event=17:/path/event-v2.avsc,..."``: each writer schema's catalogue name, wire
    id and file, read and parsed. Raises ``ValueError`` naming the bad entry.

    >>> parse_writers("")
    {}
    """
    out: dict[int, tuple[str, dict[str, Any]]] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, rest = part.partition("=")
        number, _, path = rest.partition(":")
        if name.strip() not in DEFAULT_IDS or not number.strip().isdigit() or not path.strip():
            raise ValueError(
                f"bad writer schema {part!r}; expected NAME=ID:PATH with NAME in "
                f"{', '.join(DEFAULT_IDS)}"
            )
        try:
            with open(path.strip(), "rb") as fh:
                parsed = fastavro.parse_schema(orjson.loads(fh.read()))
        except (OSError, ValueError, fastavro.schema.SchemaParseException) as exc:
            raise ValueError(f"writer schema {path.strip()}: {exc}") from None
        out[int(number)] = (name.strip(), parsed)
    return out


def use_writers(writers: dict[int, tuple[str, dict[str, Any]]]) -> None:
    """Register writer schemas (process-wide, at start-up, after :func:`use_ids`)."""
    clash = sorted(set(writers) & set(_names))
    if clash:
        raise ValueError(f"writer schema ids {clash} are catalogue ids")
    _writers.clear()
    _writers.update(writers)


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
