"""Why a record was refused: the reason codes that dead letters carry.

Every path that refuses input raises :class:`Rejected` with one of the :class:`Reason` codes,
so operators can group the dead-letter topic by cause and fix producers. The codes are part of
the dead-letter contract: add new ones, never rename old ones.

Examples
--------

>>> from schemas.rejection import Reason, Rejected
>>> err = Rejected(Reason.MISSING_FIELD, "user_id is required")
>>> err.reason, str(err)
(<Reason.MISSING_FIELD: 'missing_field'>, 'missing_field: user_id is required')

"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Machine-readable reason codes for dead letters."""

    EMPTY = "empty"
    TOO_LARGE = "too_large"
    UNPARSEABLE = "unparseable"
    INVALID_UTF8 = "invalid_utf8"
    TOO_DEEP = "too_deep"
    NON_FINITE_NUMBER = "non_finite_number"
    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_SCHEMA_ID = "unknown_schema_id"
    AVRO_DECODE_ERROR = "avro_decode_error"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    INVALID_VALUE = "invalid_value"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    BAD_TIMESTAMP = "bad_timestamp"
    TIMESTAMP_OUT_OF_RANGE = "timestamp_out_of_range"
    KAFKA_ERROR = "kafka_error"
    ERASED_USER = "erased_user"
    DUPLICATE_EVENT = "duplicate_event"
    BAD_INTERNAL_RECORD = "bad_internal_record"
    INTERNAL_ERROR = "internal_error"
    UNKNOWN_DECISION = "unknown_decision"
    LATE_FEEDBACK = "late_feedback"
    BAD_CAMPAIGN = "bad_campaign"
    TOO_MANY_FIELDS = "too_many_fields"
    STRING_TOO_LONG = "string_too_long"
    VALUE_OUT_OF_RANGE = "value_out_of_range"
    UNKNOWN_CONSENT_PURPOSE = "unknown_consent_purpose"
    UNTRUSTED_PSEUDONYM = "untrusted_pseudonym"
    INCOMPATIBLE_SCHEMA = "incompatible_schema"


class Rejected(Exception):
    """A record that cannot be accepted, with the reason code and a human explanation.

    Parameters
    ----------
    reason
        The reason code, stable across versions.
    detail
        What exactly was wrong, for the operator reading the dead letter.

    """

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
