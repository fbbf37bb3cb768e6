"""Ingestion: raw Kafka bytes in, a clean pseudonymous :class:`Event` or a dead letter out.

This is the single gate every inbound record passes. In order it checks size, decodes (JSON,
schemaless Avro or Confluent-framed Avro), validates the envelope, checks that the event time
lies within the accepted window around now, and pseudonymizes the user and scrubs PII. It never
raises: whatever the bytes, the result is exactly one of an ``Event`` or a ``DeadLetter``.

Examples
--------

>>> from operators.pseudonymize import Pseudonymizer
>>> ingest = Ingestor(Pseudonymizer(b"k" * 32), clock=lambda: 1_767_225_600.0)
>>> ok = ingest(b"u1", b'{"event_id": "e1", "type": "page_view", "user_id": "u1",'
...             b' "ts": "2026-01-01T00:00:00Z"}')
>>> ok.type, ok.ts, ok.user_id != "u1"
(<EventType.PAGE_VIEW: 'page_view'>, 1767225600000, True)
>>> bad = ingest(b"u1", b'{"event_id": "e2", "type": "page_view", "user_id": "u1", "ts": 5}')
>>> bad.reason, bad.value[:20]
(<Reason.TIMESTAMP_OUT_OF_RANGE: 'timestamp_out_of_range'>, b'{"event_id": "e2", "')

"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import Literal

from operators.dead_letter import DeadLetter, Origin
from operators.pseudonymize import Pseudonymizer
from schemas import codec
from schemas.event import Event, parse_event
from schemas.rejection import Reason, Rejected

InputFormat = Literal["auto", "json", "avro", "confluent"]
_NO_ORIGIN = Origin()


#: Header that channel senders set (value ``pseudonymous``) on feedback events whose
#: ``user_id`` is the pseudonym a decision carried, not an app's raw id.
PSEUDONYMOUS_HEADER = "offerflow-user-id"
_PSEUDONYM = re.compile(r"[0-9a-f]{32}")


class Ingestor:
    """Decode, validate, time-check and pseudonymize one inbound record.

    Parameters
    ----------
    pseudonymizer
        Keyed pseudonymization of user ids and PII scrubbing.
    max_bytes
        Larger payloads are refused before any parsing (protects memory and the parser).
    max_age_s
        Oldest accepted event time, in seconds before now (raise it for backfills).
    max_future_s
        Newest accepted event time, in seconds after now (client clock skew).
    input_format
        ``auto`` tells JSON from Confluent-framed Avro by the payload (a ``content-type:
        avro/binary`` header marks schemaless Avro); the others force one format.
    clock
        Wall clock in epoch seconds; tests pass a fixed one.

    """

    def __init__(
        self,
        pseudonymizer: Pseudonymizer,
        *,
        max_bytes: int = 65_536,
        max_age_s: float = 30 * 86_400,
        max_future_s: float = 3_600,
        input_format: InputFormat = "auto",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pseudonymizer = pseudonymizer
        self.max_bytes = max_bytes
        self.max_age_ms = int(max_age_s * 1000)
        self.max_future_ms = int(max_future_s * 1000)
        self.input_format = input_format
        self.clock = clock

    def __call__(
        self,
        key: bytes | None,
        value: bytes | None,
        headers: Iterable[tuple[str, bytes | None]] = (),
        origin: Origin = _NO_ORIGIN,
    ) -> Event | DeadLetter:
        """Ingest one record; never raises."""
        try:
            return self._ingest(value, headers)
        except Rejected as err:
            return DeadLetter(err.reason, err.detail, key, value, origin)
        except Exception as exc:  # a bug must cost one record, not the whole flow
            detail = f"{type(exc).__name__}: {exc}"[:300]
            return DeadLetter(Reason.INTERNAL_ERROR, detail, key, value, origin)

    def _ingest(self, value: bytes | None, headers: Iterable[tuple[str, bytes | None]]) -> Event:
        if not value:
            raise Rejected(Reason.EMPTY, "the record has no value")
        if len(value) > self.max_bytes:
            raise Rejected(Reason.TOO_LARGE, f"{len(value)} bytes exceeds {self.max_bytes}")
        fmt = (
            codec.sniff_format(value, headers)
            if self.input_format == "auto"
            else (self.input_format)
        )
        if fmt == "confluent" and codec.schema_name_of(value) != "event":
            raise Rejected(Reason.UNKNOWN_SCHEMA_ID, "the schema id is not the event schema's")
        event = parse_event(codec.decode("event", value, fmt))
        now_ms = int(self.clock() * 1000)
        if not now_ms - self.max_age_ms <= event.ts <= now_ms + self.max_future_ms:
            raise Rejected(
                Reason.TIMESTAMP_OUT_OF_RANGE,
                f"ts {event.ts} is outside [now - {self.max_age_ms // 1000} s, "
                f"now + {self.max_future_ms // 1000} s]",
            )
        pseudonymous = any(
            k == PSEUDONYMOUS_HEADER and v == b"pseudonymous" for k, v in headers or ()
        )
        if pseudonymous and not _PSEUDONYM.fullmatch(event.user_id):
            raise Rejected(Reason.INVALID_VALUE, "user_id is not a pseudonym (32 hex digits)")
        return self.pseudonymizer.scrub(event, pseudonymous)
