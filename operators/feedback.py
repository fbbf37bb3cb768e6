"""Messages the flow sends to itself through the internal topic.

Bytewax dataflows have no cycles, yet some results must come back to a user's profile step:
the online-clustering stage (keyed by model) returns each user's cluster, identity
stitching moves an anonymous visitor's profile into the known user's, and the policy and
budget steps tell the user's ledger what was finally decided. Those go out to the
internal topic (``<prefix>.internal``), keyed by the target user, and come back in as a second
input of the same flow. Kafka persists them, so the loop survives crashes like any input.

Kinds (``target`` is the pseudonym the message is for):

- ``link``: ``target`` (an anonymous id) now belongs to ``payload["to"]`` (the known id);
- ``absorb``: merge ``payload["profile"]`` (an encoded profile) from ``payload["from"]``;
- ``forward``: an event (``payload["event"]``) that reached an alias of ``target``;
- ``cluster``: ``target``'s online cluster is ``payload["cluster"]``;
- ``forget``: ``target`` was an alias of an erased user: erase it too;
- ``decided``: the policy step chose ``payload["offer"]`` on ``payload["channel"]`` for
  ``payload["decision_id"]``, which the user's ledger had reserved;
- ``released``: that decision ended with no offer (budget, a deleted campaign): free its slot;
- ``recorded``: the personalization API made decision ``payload["decision_id"]`` for the user
  (the ledger keeps it so its feedback joins it; see :mod:`offerflow.api.decide`);
- ``models``: the predictive models' newest fitted parameters (:mod:`operators.predict_step`);
  ``target`` is one of the broadcast keys that give every worker a copy, and each process's
  user steps compute their customers' predictions from it.

Examples
--------

>>> msg = Feedback("cluster", "p1", {"cluster": 3})
>>> decode_feedback(msg.encode()) == msg
True
>>> decode_feedback(b'{"kind": "teleport", "target": "p1", "payload": {}}')
Traceback (most recent call last):
...
schemas.rejection.Rejected: bad_internal_record: unknown kind 'teleport'

"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from schemas.rejection import Reason, Rejected

KINDS = frozenset(
    {"link", "absorb", "forward", "cluster", "forget", "decided", "released", "recorded", "models"}
)


@dataclass(frozen=True)
class Feedback:
    """One internal message for the profile step of ``target``."""

    kind: str
    target: str
    payload: dict[str, Any]

    def encode(self) -> bytes:
        return orjson.dumps({"kind": self.kind, "target": self.target, "payload": self.payload})


def decode_feedback(data: bytes | None) -> Feedback:
    """Parse an internal record; ``Rejected`` (``bad_internal_record``) if it is not one."""
    try:
        raw = orjson.loads(data or b"")
    except orjson.JSONDecodeError as exc:
        raise Rejected(Reason.BAD_INTERNAL_RECORD, f"invalid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise Rejected(Reason.BAD_INTERNAL_RECORD, "not an object")
    kind, target, payload = raw.get("kind"), raw.get("target"), raw.get("payload")
    if kind not in KINDS:
        raise Rejected(Reason.BAD_INTERNAL_RECORD, f"unknown kind {kind!r}")
    if not isinstance(target, str) or not target or not isinstance(payload, dict):
        raise Rejected(Reason.BAD_INTERNAL_RECORD, "target must be a string, payload an object")
    return Feedback(kind, target, payload)
