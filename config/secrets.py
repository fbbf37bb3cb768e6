"""Secrets in settings: refuse weak keys, and mask every secret before anything is shown.

Key strength is judged by an estimate of its entropy: the key's length times the Shannon
entropy of its characters, the number of distinct characters, and the share of neighbouring
characters that repeat or count up or down (``aaaa``, ``0123``, ``dcba``). It is a floor
against keys typed by hand, not a proof of randomness: make keys with ``openssl rand -hex 32``.

Examples
--------

>>> weakness("3f9c2b7e0a41d8c65e2f1b9a7d04c3e8") is None
True
>>> weakness("aaaaaaaaaaaaaaaaaaaaaaaa")
'about 0 bits of entropy, 1 distinct characters'
>>> weakness("password1234567890")
'9 of 17 neighbouring characters repeat or count up or down'
>>> mask_url("redis://:s3cret@cache:6379/0")
'redis://:***@cache:6379/0'
>>> mask_kafka_config({"sasl.password": "pw", "security.protocol": "SASL_SSL"})
{'sasl.password': '***', 'security.protocol': 'SASL_SSL'}
>>> mask_url("Error 111 connecting to redis://u:pw@h:6379/0.")
'Error 111 connecting to redis://u:***@h:6379/0.'

"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from itertools import pairwise

#: Least estimated entropy of a production key, in bits.
MIN_KEY_BITS = 64
MIN_DISTINCT = 8
MASK = "***"
_SECRET_PARTS = ("password", "secret", "token", "key", "credentials")
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:@/\s]*:)(?P<pw>[^@\s]+)(?=@)", re.I)


def key_bits(key: str) -> float:
    """Length times the Shannon entropy of the key's characters, in bits."""
    counts = Counter(key)
    n = len(key)
    return n * sum(c / n * math.log2(n / c) for c in counts.values()) if n else 0.0


def weakness(key: str) -> str | None:
    """Why ``key`` looks too weak for production, or ``None`` if it does not."""
    bits, distinct = key_bits(key), len(set(key))
    if bits < MIN_KEY_BITS or distinct < MIN_DISTINCT:
        return f"about {bits:.0f} bits of entropy, {distinct} distinct characters"
    steps = sum(abs(ord(b) - ord(a)) <= 1 for a, b in pairwise(key))
    if steps * 2 > len(key) - 1:
        return f"{steps} of {len(key) - 1} neighbouring characters repeat or count up or down"
    return None


def mask_url(url: str) -> str:
    """A URL, or free text holding URLs (an error message), with passwords replaced by
    ``***``."""
    return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, url)


def mask_kafka_config(config: Mapping[str, str]) -> dict[str, str]:
    """librdkafka properties with every secret-looking value masked."""
    return {
        k: MASK if any(part in k.lower() for part in _SECRET_PARTS) else mask_url(v)
        for k, v in config.items()
    }
