"""Bytes ↔ records for every schema in the catalogue, in JSON or Avro.

Three wire formats, chosen per topic by configuration:

- ``json``: UTF-8 JSON via orjson; ``bytes`` fields travel as base64 strings.
- ``avro``: schemaless Avro (fastavro) against the catalogue schema.
- ``confluent``: Avro in the Confluent wire format, ``0x00`` + 4-byte big-endian schema id +
  the schemaless body, so consumers using a schema registry can read it.

Reading is forgiving about which format arrives: :func:`sniff_format` tells them apart from
the payload (and an optional ``content-type`` header), so one topic can carry a mix during a
migration. Every failure raises :class:`~schemas.rejection.Rejected` with a reason code.

Examples
--------

>>> from schemas import codec
>>> record = {"audit_id": "a1", "user_id": "p1", "ts": 1, "action": "erase",
...           "source_event_id": None, "details": {}}
>>> for fmt in ("json", "avro", "confluent"):
...     data = codec.encode("privacy_audit", record, fmt)
...     assert codec.decode("privacy_audit", data, fmt) == record
>>> codec.encode("privacy_audit", record, "confluent")[:5]
b'\\x00\\x00\\x00\\x00\\x05'

"""

from __future__ import annotations

import base64
import functools
import io
import re
import struct
from collections.abc import Iterable
from typing import Any, Literal

import fastavro
import orjson
from fastavro.read import SchemaResolutionError

from schemas import registry
from schemas.rejection import Reason, Rejected

Format = Literal["json", "avro", "confluent"]
FORMATS: tuple[Format, ...] = ("json", "avro", "confluent")
_MAGIC = 0
_HEADER = struct.Struct(">bI")
_AVRO_CONTENT_TYPES = frozenset({"avro/binary", "application/avro", "application/vnd.apache.avro"})


def encode(name: str, record: dict[str, Any], fmt: Format) -> bytes:
    """Serialize ``record`` of schema ``name`` in wire format ``fmt``."""
    if fmt == "json":
        return orjson.dumps(record, default=_json_default)
    body = io.BytesIO()
    if fmt == "confluent":
        body.write(_HEADER.pack(_MAGIC, registry.id_for_name(name)))
    elif fmt != "avro":
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    fastavro.schemaless_writer(body, registry.schema(name), record)
    return body.getvalue()


def decode(name: str, data: bytes, fmt: Format | None = None) -> dict[str, Any]:
    """Deserialize a record of schema ``name``; ``fmt=None`` sniffs the format.

    For JSON only the syntax is checked here (the caller validates fields); ``bytes`` fields
    are turned back from base64. Avro payloads must match the schema exactly, with no
    trailing bytes.
    """
    fmt = fmt or sniff_format(data)
    if fmt == "json":
        value = decode_json(data)
        for field in _bytes_fields(name):
            if isinstance(value, dict) and isinstance(value.get(field), str):
                value[field] = base64.b64decode(value[field])
        return value
    if fmt == "confluent":
        found = schema_name_of(data)
        schema_id = _HEADER.unpack_from(data)[1]
        if found != name:
            raise Rejected(Reason.UNKNOWN_SCHEMA_ID, f"schema id {schema_id} is not {name!r}")
        body = memoryview(data)[_HEADER.size :]
        return decode_avro(name, body, registry.writer_for_id(schema_id))
    return decode_avro(name, data)


def sniff_format(data: bytes, headers: Iterable[tuple[str, bytes | None]] = ()) -> Format:
    """Which wire format ``data`` is in: a ``content-type`` header wins; otherwise a leading
    ``0x00`` byte means the Confluent wire format (JSON text never starts with NUL), and
    anything else is read as JSON.

    >>> sniff_format(b'{"a": 1}'), sniff_format(b"\\x00\\x00\\x00\\x00\\x01"), sniff_format(
    ...     b"\\x02", [("content-type", b"avro/binary")])
    ('json', 'confluent', 'avro')

    """
    for key, value in headers:
        if key.lower() == "content-type" and value:
            kind = value.split(b";", 1)[0].strip().lower().decode("latin-1")
            if kind in _AVRO_CONTENT_TYPES:
                return "avro"
            if kind == "application/json":
                return "json"
    return "confluent" if data[:1] == b"\x00" else "json"


def schema_name_of(data: bytes) -> str:
    """The catalogue schema named by a Confluent wire-format header."""
    if len(data) < _HEADER.size:
        raise Rejected(Reason.AVRO_DECODE_ERROR, "shorter than the 5-byte wire-format header")
    magic, schema_id = _HEADER.unpack_from(data)
    name = registry.name_for_id(schema_id) if magic == _MAGIC else None
    if name is None:
        raise Rejected(Reason.UNKNOWN_SCHEMA_ID, f"schema id {schema_id} is not in the catalogue")
    return name


def decode_json(data: bytes) -> Any:
    """Parse JSON; a parser error is told apart (only once parsing failed, so valid records
    pay nothing) as ``invalid_utf8``, ``non_finite_number`` (``NaN``/``Infinity``, which
    JSON does not have), ``too_deep`` (nesting beyond orjson's limit of 1024) or
    ``unparseable`` (anything else: truncation, syntax).

    >>> def reason(data):
    ...     try:
    ...         decode_json(data)
    ...     except Rejected as err:
    ...         return err.reason.value
    >>> [reason(b) for b in (b'{"a": 1', b'\\xff{}', b'{"a": NaN}', b"[" * 2000)]
    ['unparseable', 'invalid_utf8', 'non_finite_number', 'too_deep']
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise Rejected(_json_reason(data, str(exc)), f"invalid JSON: {exc}") from None


_NON_FINITE = re.compile(rb"[:\[,]\s*-?(?:NaN|Infinity)\b")


def _json_reason(data: bytes, message: str) -> Reason:
    try:
        bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        return Reason.INVALID_UTF8
    if "depth limit" in message:
        return Reason.TOO_DEEP
    if _NON_FINITE.search(data):
        return Reason.NON_FINITE_NUMBER
    return Reason.UNPARSEABLE


def decode_avro(
    name: str, data: bytes | memoryview, writer: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Read one schemaless Avro record of schema ``name``, which must use every byte; with a
    ``writer`` schema (another version of ``name``), resolve it into ``name``."""
    stream = io.BytesIO(data)
    reader = registry.schema(name)
    try:
        if writer is None:
            record = fastavro.schemaless_reader(stream, reader, None)
        else:
            record = fastavro.schemaless_reader(stream, writer, reader)
    except SchemaResolutionError as exc:
        raise Rejected(
            Reason.INCOMPATIBLE_SCHEMA,
            f"the writer schema cannot be read as {name}: {exc}"[:300],
        ) from None
    except Exception as exc:  # fastavro raises many types on corrupt input
        raise Rejected(
            Reason.AVRO_DECODE_ERROR,
            f"not a valid {name} record: {type(exc).__name__}: {exc}"[:300],
        ) from None
    if stream.tell() != len(data):
        raise Rejected(
            Reason.AVRO_DECODE_ERROR,
            f"{len(data) - stream.tell()} trailing bytes after the {name} record",
        )
    return record


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


@functools.cache
def _bytes_fields(name: str) -> tuple[str, ...]:
    def is_bytes(kind: Any) -> bool:
        return kind == "bytes" or (isinstance(kind, list) and "bytes" in kind)

    return tuple(f["name"] for f in registry.schema(name)["fields"] if is_bytes(f["type"]))
