"""Settings of privacy and input bounds: the keys, dead-letter redaction, the allow-lists and
size bounds of the ingestion gate."""

from __future__ import annotations

from config.values import at_least, duration
from config.variable import Variable

PRIVACY = "Privacy and input bounds"

#: Publicly known key for demos and tests only; production refuses to run with it.
DEV_ID_KEY = "offerflow-dev-key-not-secret-000"

VARIABLES: tuple[Variable, ...] = (
    Variable(
        "ENV",
        "production",
        "`dev` or `production`, spelt exactly so. `dev` allows the built-in development id "
        "key and keeps dead letters unredacted; `production` refuses weak keys.",
        PRIVACY,
    ),
    Variable(
        "CONFIG",
        "",
        "Path of a TOML file with any of these settings (lower-case names "
        "without the prefix); environment variables win over it.",
        PRIVACY,
    ),
    Variable(
        "ID_KEY",
        "",
        "Secret HMAC key (≥ 16 bytes) that pseudonymizes user and event ids. Required "
        "unless ENV=dev; production refuses a low-entropy one (make it with "
        "`openssl rand -hex 32`). Changing it re-keys every user.",
        PRIVACY,
    ),
    Variable(
        "SENDER_KEY",
        "",
        "Secret with which channel senders sign the pseudonymous feedback they publish; "
        "empty: derived from ID_KEY. Set it to run senders without the id key.",
        PRIVACY,
    ),
    Variable(
        "DLQ_REDACT",
        "auto",
        "`true`: dead letters keep no raw personal data (key pseudonymized, value scrubbed or "
        "withheld); `auto`: true unless ENV=dev.",
        PRIVACY,
    ),
    Variable(
        "DLQ_RETENTION",
        "7d",
        "Retention (`retention.ms`) of the dead-letter topic when `offerflow stack up` creates "
        "it; set the same on an existing topic (docs/privacy.md).",
        PRIVACY,
        duration,
    ),
    Variable(
        "CONSENT_PURPOSES",
        "",
        "Consent purposes accepted (comma-separated; `+a,b` adds to the built-in list); an "
        "event naming another is dead-lettered. Empty: the built-in list (docs/privacy.md).",
        PRIVACY,
    ),
    Variable(
        "CHANNELS",
        "",
        "Delivery channels kept as sent (`+a,b` adds); others become `other`. Empty: the "
        "built-in list.",
        PRIVACY,
    ),
    Variable(
        "ATTRIBUTION_SOURCES",
        "",
        "Traffic sources (`utm_source`) attribution keeps apart (`+a,b` adds); others become "
        "`other`. Empty: the built-in list.",
        PRIVACY,
    ),
    Variable(
        "TRAITS",
        "",
        "Traits a profile keeps from `identify` (`+a,b` adds); others are left out and "
        "counted. Empty: the built-in list.",
        PRIVACY,
    ),
    Variable(
        "MAX_PROPERTIES",
        "64",
        "Most entries in an event's properties, context or traits.",
        PRIVACY,
    ),
    Variable(
        "MAX_STRING",
        "1024",
        "Longest string value accepted in an event.",
        PRIVACY,
    ),
    Variable(
        "MAX_PURCHASE_VALUE",
        "1e9",
        "Largest purchase `value` accepted (0 to 1e13).",
        PRIVACY,
    ),
    Variable(
        "MAX_PRODUCTS",
        "100000",
        "Products the recommender learns when no catalogue is set; new ones beyond it are "
        "left out and counted.",
        PRIVACY,
        at_least(1),
    ),
)
