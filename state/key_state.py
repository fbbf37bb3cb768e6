"""What the profile step keeps under one key, as Bytewax snapshots it: a user's profile with
their contact ledger and journey, or an alias of another user, or an erasure tombstone.

The encoding is the profile's own (:meth:`~state.profile.Profile.to_bytes`) when the ledger
and journey are empty, ``D`` + a pickle of the three encodings when not (``C``: written before
journeys existed, still read), and a small JSON record for aliases and tombstones. Every
version written is read back, so recovery restores exactly what was there.

Examples
--------

>>> from state.profile import ProfileConfig
>>> config = ProfileConfig()
>>> tomb = KeyState("u1", erased_at=1_700_000_000_000)
>>> KeyState.from_bytes(tomb.to_bytes(), config).erased_at
1700000000000
>>> alive = KeyState("u2", Profile(config, "u2"))
>>> KeyState.from_bytes(alive.to_bytes(), config).profile.user_id
'u2'

"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field

import orjson

from state.contacts import ContactLedger
from state.journey import Journey
from state.profile import Profile, ProfileConfig


@dataclass
class KeyState:
    """One key's state: ``profile`` (with ``ledger`` and ``journey``), else an alias
    (``alias_of``) or a tombstone (``erased_at``, ms)."""

    user: str
    profile: Profile | None = None
    ledger: ContactLedger = field(default_factory=ContactLedger)
    journey: Journey = field(default_factory=Journey)
    erased_at: int | None = None
    alias_of: str | None = None

    def to_bytes(self) -> bytes:
        if self.profile is not None:
            if self.ledger or self.journey:
                state = (self.profile.to_bytes(), self.ledger.to_state(), self.journey.to_state())
                return b"D" + pickle.dumps(state)
            return self.profile.to_bytes()
        if self.erased_at is not None:
            return orjson.dumps({"user": self.user, "erased_at": self.erased_at})
        return orjson.dumps({"user": self.user, "alias_of": self.alias_of})

    @classmethod
    def from_bytes(cls, data: bytes, config: ProfileConfig) -> KeyState:
        if data[:1] in (b"C", b"D"):
            profile_bytes, ledger, *journey = pickle.loads(data[1:])
            profile = Profile.from_bytes(profile_bytes, config)
            return cls(
                profile.user_id,
                profile,
                ContactLedger.from_state(ledger),
                Journey.from_state(journey[0]) if journey else Journey(),
            )
        if data[:1] == b"{":
            record = orjson.loads(data)
            return cls(
                record["user"], erased_at=record.get("erased_at"), alias_of=record.get("alias_of")
            )
        profile = Profile.from_bytes(data, config)
        return cls(profile.user_id, profile)
