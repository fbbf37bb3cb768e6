"""Cap and budget slots in Redis, shared by everything that decides: the flow's user step and
the personalization API.

Each user's ledger lives in the flow, but the API decides too, at the same moment, from
other processes. So that neither can pass a frequency cap or a send budget the other has just
used, a decision that any cap or budget applies to takes its slot in Redis with one Lua script
(atomic: Redis runs one script at a time): it counts the user's contacts inside each cap's
window, checks the campaign's sends against ``max_sends``, and only if every check passes
records the contact and the send. Both paths call the same script with the same arguments
(:func:`reservation`); the flow's own ledger still screens first, so Redis only ever refuses
what the other path took in between.

Keys: ``<prefix>:slots:<pseudonym>`` (a hash, decision id → ``campaign|channels|ts``, expiring
after the longest kept window) and ``<prefix>:sends:<campaign>`` (a set of decision ids, at most
``max_sends`` long). A replayed decision id finds its slot taken by itself and is granted
again, so recovery replays count once. A decision that ends with no offer gives both back; a
confirmed one narrows its contact to the channel used.

Examples
--------

>>> from state.campaign_file import parse_campaigns
>>> catalog = parse_campaigns('''
... [[campaign]]
... id = "promo"
... channels = ["email", "web"]
... caps = [{ channel = "email", max = 1, window = "1d" }]
... budget = { max_sends = 100 }
... [[campaign.offer]]
... id = "o"
... ''')
>>> r = reservation(lambda *p: ":".join(("of", *p)), "u1", "d1", catalog, "promo",
...                 ("email", "web"), ts=5, keep_ms=10)
>>> r.keys
('of:slots:u1', 'of:sends:promo')
>>> r.args[:6], r.args[6:]  # one cap applies: email's, within this campaign
(('d1', 'promo|email,web|5', 5, 10, 100, 1), ('email', 86400000, 1, 'promo'))

"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import redis

from operators import metrics
from schemas.units import DAY_MS
from state.campaigns import Catalog

#: How long a user's contacts are kept: the ledger's own horizon, so no cap window is longer.
KEEP_MS = 30 * DAY_MS

#: Grant (1), or refuse for a cap (0) or the send budget (-1), atomically; see the module
#: docstring. ARGV: decision id, entry, ts, keep_ms, max_sends (0: none), cap count, then
#: per cap: channel scope (``*``: any), window_ms, max, campaign ("" for the file's caps).
_RESERVE_FUNCTION = """
local function reserve(slots, sends, ARGV)
  local did, entry, ts, keep = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
  local max_sends, caps = tonumber(ARGV[5]), tonumber(ARGV[6])
  if redis.call('HEXISTS', slots, did) == 1 then return 1 end
  local kept, raw = {}, redis.call('HGETALL', slots)
  for i = 1, #raw, 2 do
    local camp, chans, at = string.match(raw[i + 1], '^(.*)|(.*)|(-?%d+)$')
    at = tonumber(at)
    if at < ts - keep then redis.call('HDEL', slots, raw[i])
    else kept[#kept + 1] = {camp, ',' .. chans .. ',', at} end
  end
  for c = 0, caps - 1 do
    local scope, window = ARGV[7 + 4 * c], tonumber(ARGV[8 + 4 * c])
    local most, camp = tonumber(ARGV[9 + 4 * c]), ARGV[10 + 4 * c]
    local n = 0
    for _, e in ipairs(kept) do
      if e[3] >= ts - window and (camp == '' or e[1] == camp)
          and (scope == '*' or string.find(e[2], ',' .. scope .. ',', 1, true)) then
        n = n + 1
      end
    end
    if n >= most then return 0 end
  end
  if max_sends > 0 and redis.call('SISMEMBER', sends, did) == 0 then
    if redis.call('SCARD', sends) >= max_sends then return -1 end
    redis.call('SADD', sends, did)
  end
  redis.call('HSET', slots, did, entry)
  redis.call('PEXPIRE', slots, keep)
  return 1
end
"""
RESERVE = _RESERVE_FUNCTION + "return reserve(KEYS[1], KEYS[2], ARGV)\n"

#: The API's second round trip in one call: reserve (when ARGV is not empty), and read the
#: policy (KEYS[3]) and budget (KEYS[4]) documents: ``[verdict, policy, budget]``.
RESERVE_AND_READ = (
    _RESERVE_FUNCTION
    + """
local granted = 1
if #ARGV > 0 then granted = reserve(KEYS[1], KEYS[2], ARGV) end
return {granted, redis.call('GET', KEYS[3]), redis.call('GET', KEYS[4])}
"""
)

#: The API's first round trip in one call: the profile (KEYS[1]), the user's slots (KEYS[2],
#: flat field/value list), their recommendations (KEYS[3]) and the trending ones (KEYS[4]).
READ_USER = """
return {redis.call('GET', KEYS[1]), redis.call('HGETALL', KEYS[2]),
        redis.call('GET', KEYS[3]), redis.call('GET', KEYS[4])}
"""

#: Narrow a granted contact to the channel used (ARGV: decision id, channel).
CONFIRM = """
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if not entry then return 0 end
local camp, _, at = string.match(entry, '^(.*)|(.*)|(-?%d+)$')
redis.call('HSET', KEYS[1], ARGV[1], camp .. '|' .. ARGV[2] .. '|' .. at)
return 1
"""

#: Give a slot and its send back (ARGV: decision id).
RELEASE = """
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[1])
return 1
"""


class Verdict(Enum):
    """What the reservation script answered."""

    GRANTED = 1
    CAPPED = 0
    BUDGET = -1
    UNAVAILABLE = None  # Redis did not answer: the caller falls back (see its docs)


@dataclass(frozen=True)
class Reservation:
    """The keys and arguments of one :data:`RESERVE` call."""

    keys: tuple[str, str]
    args: tuple[str | int, ...]


def reservation(
    key: Callable[..., str],
    user: str,
    decision_id: str,
    catalog: Catalog,
    campaign_id: str,
    channels: tuple[str, ...],
    ts: int,
    keep_ms: int,
) -> Reservation | None:
    """The reservation a decision of ``campaign_id`` on ``channels`` needs, or ``None`` when
    no cap or budget applies to it (then there is nothing to share). ``key`` builds the
    namespaced Redis key from its parts."""
    campaign = catalog.campaigns[campaign_id]
    caps: list[str | int] = []
    scoped = [(c, campaign_id) for c in campaign.caps] + [(c, "") for c in catalog.global_caps]
    for cap, scope in scoped:
        if cap.channel == "*" or cap.channel in channels:
            caps += [cap.channel, cap.window_ms, cap.max, scope]
    budget = campaign.max_sends or 0
    if not caps and not budget:
        return None
    entry = f"{campaign_id}|{','.join(channels)}|{ts}"
    return Reservation(
        (key("slots", user), key("sends", campaign_id)),
        (decision_id, entry, ts, keep_ms, budget, len(caps) // 4, *caps),
    )


class SlotView:
    """A user's contacts as the slots hash holds them, counted as the ledger counts them
    (:meth:`state.contacts.ContactLedger.count`), so the API screens with the flow's rules
    (:func:`operators.eligibility.screen`) on what both paths have sent.

    >>> view = SlotView({b"d1": b"promo|email,web|5", b"d2": b"other|sms|9"})
    >>> view.count(("email",), 0), view.count(("*",), 6), view.count(("*",), 0, "promo")
    (1, 1, 1)
    """

    def __init__(self, entries: dict[bytes, bytes]) -> None:
        self.entries: list[tuple[str, tuple[str, ...], int]] = []
        for raw in entries.values():
            campaign, channels, ts = raw.decode().rsplit("|", 2)
            self.entries.append((campaign, tuple(channels.split(",")), int(ts)))

    def count(self, channels: tuple[str, ...], since_ms: int, campaign: str | None = None) -> int:
        every = "*" in channels
        return sum(
            ts >= since_ms
            and (campaign is None or c == campaign)
            and (every or any(ch in channels for ch in chans))
            for c, chans, ts in self.entries
        )


def verdict(answer: int | None) -> Verdict:
    """The script's answer as a :class:`Verdict`."""
    return Verdict(None if answer is None else int(answer))


@dataclass
class SlotBook:
    """The flow's side of the slots: the scripts on a Redis client made on first use (one per
    process), with a short timeout. When Redis does not answer, the user step decides on its
    own ledger as it did before the API existed, and Redis is not asked again for ``pause_s``
    so a Redis outage costs each decision nothing.

    Parameters
    ----------
    url
        Redis URL.
    key
        Builds a namespaced key from its parts (``Settings.redis_key``).
    keep_ms
        How long a user's contacts are kept (the longest cap window the flow keeps).

    """

    url: str
    key: Callable[..., str]
    keep_ms: int
    timeout_s: float = 0.05
    pause_s: float = 1.0
    _client: Any = field(default=None, init=False, repr=False)
    _scripts: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _down_until: float = field(default=0.0, init=False, repr=False)

    def reserve(
        self, user: str, decision_id: str, catalog: Catalog, campaign_id: str,
        channels: tuple[str, ...], ts: int,
    ) -> Verdict | None:  # fmt: skip
        """Take the decision's slots; ``None`` when no cap or budget applies."""
        wanted = reservation(self.key, user, decision_id, catalog, campaign_id, channels, ts,
                             self.keep_ms)  # fmt: skip
        if wanted is None:
            return None
        found = verdict(self._run(RESERVE, wanted.keys, wanted.args))
        metrics.count_slot(found.name.lower())
        return found

    def confirm(self, user: str, decision_id: str, campaign_id: str, channel: str) -> None:
        """The decision went out on ``channel``: its contact counts there only."""
        self._run(CONFIRM, (self.key("slots", user), self.key("sends", campaign_id)),
                  (decision_id, channel))  # fmt: skip

    def release(self, user: str, decision_id: str, campaign_id: str) -> None:
        """The decision ended with no offer: its slot and send are free again."""
        self._run(RELEASE, (self.key("slots", user), self.key("sends", campaign_id)),
                  (decision_id,))  # fmt: skip

    def _run(self, script: str, keys: tuple[str, ...], args: tuple) -> int | None:
        if time.monotonic() < self._down_until:
            return None
        try:
            if self._client is None:
                self._client = redis.Redis.from_url(
                    self.url, socket_timeout=self.timeout_s, socket_connect_timeout=self.timeout_s
                )
                self._scripts = {
                    s: self._client.register_script(s) for s in (RESERVE, CONFIRM, RELEASE)
                }
            return self._scripts[script](keys=keys, args=args)
        except (redis.RedisError, OSError):
            self._down_until = time.monotonic() + self.pause_s
            return None
