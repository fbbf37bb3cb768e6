"""Personal data in field names and free text: what a key names, and what a value contains.

Two questions, both asked on text normalized the way an attacker cannot dodge: Unicode NFKC
(a full-width at sign, U+FF20, is ``@``), with URL escapes (``%40``) undone, letters of any case.

- :func:`key_kind` reads a field name, in any spelling (``phoneNumber``, ``phone_number``,
  ``Phone-Number``), as a contact point, an id of the same user, or another direct identifier
  (names, postal address, birth date, IP, national and card numbers, credentials).
- :func:`redact` finds email addresses, phone numbers, payment card numbers (Luhn-checked)
  and IP addresses anywhere in a string and replaces each with ``[email]``, ``[phone]``,
  ``[card]`` or ``[ip]``.

A phone number is a run of 9 to 15 digits that starts with ``+`` or is broken by spaces,
dots, dashes or brackets, and does not start like a date: a bare run of digits is as likely an
order number or a timestamp, so it counts as a phone only under a phone-like key.

Examples
--------

>>> key_kind("phoneNumber"), key_kind("given_name"), key_kind("customer_id")
(<KeyKind.PHONE: 'phone'>, <KeyKind.DROP: 'drop'>, <KeyKind.USER_ID: 'user_id'>)
>>> key_kind("product_name") is None, key_kind("membership") is None
(True, True)
>>> redact("call +33 6 12 34 56 78 or mail alice\uff20example.com")
('call [phone] or mail [email]', ('email', 'phone'))
>>> redact("https://shop.example/?ref=bob%40example.com&ip=10.1.2.3")
('https://shop.example/?ref=[email]&ip=[ip]', ('email', 'ip'))
>>> redact("order 1767225600000, card 4111 1111 1111 1111")
('order 1767225600000, card [card]', ('card',))

"""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata
from enum import StrEnum
from urllib.parse import unquote


class KeyKind(StrEnum):
    """What a field name says its value is."""

    EMAIL = "email"
    PHONE = "phone"
    USER_ID = "user_id"
    DROP = "drop"


_EMAIL_TOKENS = frozenset({"email", "mail", "emailaddress"})
_PHONE_TOKENS = frozenset(
    {"phone", "tel", "telephone", "mobile", "cell", "cellphone", "fax", "msisdn", "whatsapp"}
)
#: Ids of the same person: pseudonymized like the user id, so stitching still works.
_ID_KEYS = frozenset(
    {
        "userid",
        "anonymousid",
        "previousid",
        "customerid",
        "clientid",
        "accountid",
        "memberid",
        "visitorid",
        "externalid",
        "loginid",
    }
)
_DROP_KEYS = frozenset(
    {
        "name",
        "surname",
        "username",
        "nickname",
        "address",
        "street",
        "streetaddress",
        "postcode",
        "postalcode",
        "zip",
        "zipcode",
        "birthday",
        "birthdate",
        "dateofbirth",
        "dob",
        "ip",
        "ipaddress",
        "ssn",
        "socialsecuritynumber",
        "nationalid",
        "passport",
        "passportnumber",
        "taxid",
        "creditcard",
        "cardnumber",
        "ccnumber",
        "pan",
        "cvv",
        "cvc",
        "iban",
        "password",
        "passwd",
        "secret",
    }
)
#: ``<prefix>_name`` and ``<prefix>_ip`` that name a person or their connection.
_NAME_PREFIXES = frozenset(
    {"first", "last", "full", "given", "family", "display", "middle", "maiden", "legal", "real"}
)
_IP_PREFIXES = frozenset({"client", "remote", "user", "source", "src", "origin", "forwarded"})
_ADDRESS_TOKENS = frozenset({"address", "street"})

#: Anything :func:`redact` could act on starts like this (no nested quantifiers: no ReDoS).
_SUSPECT = re.compile(r"[@%:]|[^\x00-\x7f]|\d[\d .()/-]{5,}\d|\d\.\d{1,3}\.\d{1,3}\.\d")
_TOKENS = re.compile(r"[a-z]+|[0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_EMAIL = re.compile(r"[^@\s/?&=#:;,<>\"'()\[\]]+@[^@\s/?&=#:;,<>\"'()\[\]]+\.[a-z]{2,}", re.I)
_CARD = re.compile(r"(?<![\d])\d(?:[ -]?\d){12,18}(?![\d])")
_PHONE = re.compile(r"(?<![\w+])(?:\+\d[\d .()-]{7,20}\d|\(?\d{2,4}\)?[ .-]\d[\d .-]{5,16}\d)")
_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}")
_IP = re.compile(
    r"(?<![\w.:])(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7})", re.I
)


def normalize(text: str) -> str:
    """NFKC, with URL escapes undone (twice, for double encoding)."""
    text = unicodedata.normalize("NFKC", text)
    return unquote(unquote(text)) if "%" in text else text


def key_tokens(key: str) -> tuple[str, ...]:
    """The words of a field name: ``phoneNumber`` and ``phone_number`` give the same."""
    key = unicodedata.normalize("NFKC", key)
    return tuple(_TOKENS.findall(_CAMEL.sub(" ", key).casefold()))


@functools.lru_cache(maxsize=4096)
def key_kind(key: str) -> KeyKind | None:
    """What a field name says its value is, or ``None`` for an ordinary field. A name that
    itself holds personal data is to be dropped. Cached: names repeat from event to event."""
    tokens = key_tokens(key)
    if not tokens:
        return None
    if redact(key)[1]:  # the key itself is an address, a number to call, ...
        return KeyKind.DROP
    joined = "".join(tokens)
    if tokens[-1] == "hash":  # already a keyed hash (``email_hash``)
        return None
    if joined in _ID_KEYS:
        return KeyKind.USER_ID
    if joined in _DROP_KEYS:
        return KeyKind.DROP
    if not _EMAIL_TOKENS.isdisjoint(tokens):
        return KeyKind.EMAIL
    if not _PHONE_TOKENS.isdisjoint(tokens):
        return KeyKind.PHONE
    last, first = tokens[-1], tokens[0]
    if last == "name" and (len(tokens) == 1 or first in _NAME_PREFIXES):
        return KeyKind.DROP
    if last == "ip" and (len(tokens) == 1 or first in _IP_PREFIXES):
        return KeyKind.DROP
    if not _ADDRESS_TOKENS.isdisjoint(tokens) and "url" not in tokens and "web" not in tokens:
        return KeyKind.DROP
    if joined in ("birthdate", "birthday") or (first == "birth" and last == "date"):
        return KeyKind.DROP
    return None


def may_hold_pii(text: str) -> bool:
    """A cheap test that rules most strings out: no at sign of any width, no escapes, no
    colon, no run of seven digits and separators, no dotted quad. One C-level search."""
    return _SUSPECT.search(text) is not None


def redact(text: str) -> tuple[str, tuple[str, ...]]:
    """``text`` with every email, phone, card number and IP address replaced by a tag, and the
    kinds found, sorted. Text with none comes back unchanged."""
    if not may_hold_pii(text):
        return text, ()
    normal = normalize(text)
    found: list[str] = []

    def tag(kind: str) -> str:
        if kind not in found:
            found.append(kind)
        return f"[{kind}]"

    out = _EMAIL.sub(lambda _m: tag("email"), normal)
    out = _CARD.sub(lambda m: tag("card") if _luhn(m.group()) else m.group(), out)
    out = _IP.sub(lambda m: tag("ip") if _is_ip(m.group()) else m.group(), out)
    out = _PHONE.sub(lambda m: tag("phone") if _phone_digits(m.group()) else m.group(), out)
    return (out, tuple(sorted(found))) if found else (text, ())


def _luhn(candidate: str) -> bool:
    digits = [int(c) for c in candidate if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _is_ip(candidate: str) -> bool:
    if sum(c.isalnum() for c in candidate) < 2:
        return False
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return True


def _phone_digits(candidate: str) -> bool:
    if _DATE.match(candidate):  # 2026-12-02 06:05 is a time, not a number to call
        return False
    return 9 <= sum(c.isdigit() for c in candidate) <= 15
