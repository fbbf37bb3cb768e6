"""API keys: who may call the personalization API, for what, and how often.

A key is ``<id>.<secret>``. The keys file holds, per key, its id, the SHA-256 of its secret
(never the secret), its scopes and optionally its own rate; a presented key is found by id and
its secret's hash compared in constant time, so neither the file nor the timing of a refusal
gives a secret away.

Examples
--------

>>> key, entry = new_key("web", ("collect",))
>>> ring = KeyRing.parse(entry)
>>> ring.verify(key).scopes, ring.verify(key + "x"), ring.verify("nokey")
(frozenset({'collect'}), None, None)

"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass

#: What a key may do: send events, ask for decisions, read profiles and analytics, change
#: consent and ask for erasure.
SCOPES = ("collect", "decide", "read", "privacy")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class ApiKey:
    """One key as the service knows it: no secret, only its hash."""

    id: str
    digest: bytes
    scopes: frozenset[str]
    rate: int | None = None


class KeyRing:
    """The keys the service accepts, by id."""

    def __init__(self, keys: Iterable[ApiKey]) -> None:
        self.keys = {k.id: k for k in keys}

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """Keys from TOML (``[[key]]`` tables: ``id``, ``sha256``, ``scopes``, ``rate``);
        raises :class:`ValueError` with one line naming the problem."""
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"not TOML: {exc}") from None
        keys = []
        for i, raw in enumerate(doc.get("key", [])):
            where = f"key #{i + 1}"
            kid = raw.get("id")
            if not isinstance(kid, str) or not _ID.match(kid):
                raise ValueError(f"{where}: id must be 1-64 letters, digits, - or _")
            digest = raw.get("sha256")
            if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise ValueError(f"{where} ({kid}): sha256 must be 64 lower-case hex digits")
            scopes = raw.get("scopes")
            if not isinstance(scopes, list) or not scopes or set(scopes) - set(SCOPES):
                raise ValueError(f"{where} ({kid}): scopes must be a list from {SCOPES}")
            rate = raw.get("rate")
            if rate is not None and (not isinstance(rate, int) or rate < 1):
                raise ValueError(f"{where} ({kid}): rate must be a whole number of requests/s")
            keys.append(ApiKey(kid, bytes.fromhex(digest), frozenset(scopes), rate))
        if len({k.id for k in keys}) != len(keys):
            raise ValueError("two keys share an id")
        return cls(keys)

    def verify(self, presented: str) -> ApiKey | None:
        """The key ``presented`` is, or ``None``."""
        kid, _, secret = presented.partition(".")
        key = self.keys.get(kid)
        digest = hashlib.sha256(secret.encode()).digest()
        if key is None or not secret:
            return None
        return key if hmac.compare_digest(digest, key.digest) else None


def new_key(kid: str, scopes: Iterable[str], rate: int | None = None) -> tuple[str, str]:
    """A fresh key and its keys-file entry: the key is shown once, the entry is kept."""
    if not _ID.match(kid):
        raise ValueError("id must be 1-64 letters, digits, - or _")
    scopes = sorted(set(scopes))
    if not scopes or set(scopes) - set(SCOPES):
        raise ValueError(f"scopes must be from {', '.join(SCOPES)}")
    secret = secrets.token_urlsafe(24)
    digest = hashlib.sha256(secret.encode()).hexdigest()
    entry = f'[[key]]\nid = "{kid}"\nsha256 = "{digest}"\nscopes = {scopes!r}\n'.replace("'", '"')
    if rate is not None:
        entry += f"rate = {rate}\n"
    return f"{kid}.{secret}", entry
