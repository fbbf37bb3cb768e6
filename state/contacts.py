"""A user's contact ledger: the decisions sent to them, for frequency caps and the reward join.

Lives in the user-keyed step beside the profile, because caps and consent must be checked in
one place per user however many workers run. Each decision goes through:

``pending`` (a cap slot reserved on every channel it may use, before the policy step chooses)
→ ``sent`` (the offer and channel are known) or released (no offer after all: slot freed)
→ closed. Feedback can overtake the ``decided`` message (the sender reads the decisions topic,
the ledger hears back through the internal topic): while pending, it is recorded and the
window can only close once the decision is confirmed (:meth:`ContactLedger.settle`)
; closed when its reward window ends (event time, or the wall-clock timer when the user is
silent) or as soon as the reward cannot change (a binary reward combined by ``first``/``max``
that reached 1). Closing a *delivered* decision yields its reward (0 when nothing came back:
otherwise the posteriors would only ever see successes); an undelivered one yields nothing.
A delivered decision whose window is still open yields a ``shown`` record once, so the policy
counts a provisional miss at delivery (:meth:`ContactLedger.shown`).

Closed decisions shrink to ``(decision_id, campaign, channel, ts, window_end)``: enough to
count caps and to tell late feedback (after the window) from an unknown decision id; feedback
inside the window of a decision closed early (its reward was final) is simply not needed.
Entries older than ``keep_ms`` go.

Examples
--------

>>> ledger = ContactLedger()
>>> ledger.reserve(Contact("d1", "spring", ("email",), 1_000, "new", "click", "first", 100.0,
...                        60_000))
>>> ledger.count(("email",), since_ms=0)
1
>>> ledger.confirm("d1", "ten_off", "email")
True
>>> ledger.feedback("d1", "impression", 2_000, 0.0)
('open', None)
>>> ledger.feedback("d1", "click", 3_000, 0.0)[0]
'closed'
>>> ledger.feedback("d1", "click", 4_000, 0.0)  # inside the window, reward already final
('done', None)
>>> ledger.feedback("d1", "click", 70_000, 0.0)
('late', None)
>>> ledger.feedback("nope", "click", 4_000, 0.0)
('unknown', None)

"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from schemas.units import DAY_MS
from state.experiments import HOLDOUT_ID
from state.exposures import Exposures

#: Feedback kinds by what they mean for a decision.
DELIVERY = "impression"
CLICK = "click"
CONVERSION = "conversion"


@dataclass(slots=True)
class Contact:
    """One open decision (see the module docstring)."""

    decision_id: str
    campaign: str
    channels: tuple[str, ...]
    ts: int
    segment: str
    reward_kind: str
    combine: str
    reward_cap: float
    window_ms: int
    context: dict[str, float] = field(default_factory=dict)
    offer: str | None = None
    delivered: int | None = None
    value: float | None = None
    revenue: float = 0.0
    sent: bool = False
    experiments: tuple[str, ...] = ()
    covariates: tuple[float, ...] = ()
    #: The policy counted a provisional miss when it was shown (:meth:`ContactLedger.shown`).
    assumed: bool = False

    @property
    def closes_at(self) -> int:
        return self.ts + self.window_ms

    def reward(self) -> dict[str, Any]:
        """The reward record for the policy step (reward in [0, 1])."""
        return {
            "decision_id": self.decision_id,
            "campaign": self.campaign,
            "segment": self.segment,
            "offer": self.offer,
            "channel": self.channels[0],
            "reward": self.value or 0.0,
            "revenue": self.revenue,
            "context": self.context,
            "ts": self.ts,
            "provisional": self.assumed,
            "variants": [
                key.split("|") for key in self.experiments if not key.startswith(HOLDOUT_ID + "|")
            ],
        }


class ContactLedger:
    """Open decisions by id plus a compact history of closed ones.

    Parameters
    ----------
    keep_ms
        How long closed decisions are kept for cap counting (the longest cap window).
    max_closed
        Bound on closed decisions kept (oldest dropped first).

    """

    def __init__(self, keep_ms: int = 30 * DAY_MS, max_closed: int = 256) -> None:
        self.keep_ms = keep_ms
        self.max_closed = max_closed
        self.open: dict[str, Contact] = {}
        self.closed: list[tuple[str, str, str, int, int]] = []
        self.fired: dict[str, int] = {}
        self.last_cart: int | None = None
        self.exposures = Exposures()
        #: Feedback that arrived before its API decision's ``recorded`` message: decision
        #: id -> [(wait until, event record)] (see :meth:`park`).
        self.early: dict[str, list[tuple[int, dict[str, Any]]]] = {}

    def __bool__(self) -> bool:
        return bool(
            self.open or self.closed or self.fired or self.last_cart or self.exposures or self.early
        )

    # -- caps --------------------------------------------------------------------------

    def count(self, channels: tuple[str, ...], since_ms: int, campaign: str | None = None) -> int:
        """Decisions since ``since_ms`` that used (or may still use) any of ``channels``
        (``("*",)``: any channel), for ``campaign`` or all campaigns."""
        every = "*" in channels
        n = 0
        for c in self.open.values():
            if c.ts >= since_ms and (campaign is None or c.campaign == campaign):
                n += every or any(ch in channels for ch in c.channels)
        for _id, camp, ch, ts, _end in self.closed:
            if ts >= since_ms and (campaign is None or camp == campaign):
                n += every or ch in channels
        return n

    # -- decision life cycle -----------------------------------------------------------

    def reserve(self, contact: Contact) -> None:
        self.open[contact.decision_id] = contact

    def known(self, decision_id: str) -> bool:
        return self.campaign_of(decision_id) is not None

    def campaign_of(self, decision_id: str) -> tuple[str, str] | None:
        """``(campaign, channel)`` of one of this user's decisions, open or closed."""
        contact = self.open.get(decision_id)
        if contact is not None:
            return contact.campaign, contact.channels[0]
        for closed in reversed(self.closed):
            if closed[0] == decision_id:
                return closed[1], closed[2]
        return None

    def _window_end(self, decision_id: str) -> int | None:
        return next((c[4] for c in self.closed if c[0] == decision_id), None)

    def confirm(self, decision_id: str, offer: str, channel: str) -> bool:
        """The policy step chose ``offer`` on ``channel``; ``False`` if not pending here."""
        contact = self.open.get(decision_id)
        if contact is None or contact.sent:
            return False
        contact.offer, contact.channels, contact.sent = offer, (channel,), True
        return True

    def release(self, decision_id: str) -> None:
        """No offer was sent after all: the reserved cap slot is free again."""
        contact = self.open.get(decision_id)
        if contact is not None and not contact.sent:
            del self.open[decision_id]

    def feedback(
        self, decision_id: str, kind: str, ts: int, revenue: float
    ) -> tuple[str, dict[str, Any] | None]:
        """Apply a delivery, click or conversion. Returns ``(status, reward)``: ``open``,
        ``closed`` (with the reward record), ``done`` (the reward was already final),
        ``late`` or ``unknown``."""
        contact = self.open.get(decision_id)
        if contact is None:
            end = self._window_end(decision_id)
            if end is not None:
                return ("done" if ts <= end else "late"), None
            return "unknown", None
        if ts > contact.closes_at:
            return "late", None
        if kind == DELIVERY:
            contact.delivered = ts if contact.delivered is None else min(contact.delivered, ts)
            return "open", None
        contact.delivered = contact.delivered if contact.delivered is not None else ts
        wanted = CLICK if contact.reward_kind == "click" else CONVERSION
        if kind != wanted:
            return "open", None
        if contact.reward_kind == "revenue":
            contact.revenue += revenue
            gain = min(1.0, max(0.0, revenue / contact.reward_cap))
        else:
            gain = 1.0
        old = contact.value
        if old is None or contact.combine == "sum":
            contact.value = min(1.0, (old or 0.0) + gain)
        elif contact.combine == "max":
            contact.value = max(old, gain)
        reward = self.settle(decision_id)
        return ("closed", reward) if reward is not None else ("open", None)

    def shown(self, decision_id: str) -> dict[str, Any] | None:
        """A confirmed decision was delivered and its window is still open: the record that
        has the policy count a provisional miss for it (``shown``), once; its reward replaces
        the miss when the window closes, so a click (known early) and a miss (known only at
        the window's end) reach the policy at the same moment. Only where a response closes
        the window early: a revenue reward summed or maxed over the window is known at its
        end whatever happens, and a provisional miss would only make the policy pessimistic."""
        contact = self.open.get(decision_id)
        if contact is None or not contact.sent or contact.delivered is None or contact.assumed:
            return None
        if contact.reward_kind == "revenue" and contact.combine != "first":
            return None
        record = {**contact.reward(), "shown": True}  # no miss was assumed before this one
        contact.assumed = True
        return record

    def settle(self, decision_id: str) -> dict[str, Any] | None:
        """Close a confirmed decision whose reward can no longer change (a binary reward
        that reached 1, or ``first``); its reward record, else ``None``."""
        contact = self.open.get(decision_id)
        if contact is None or not contact.sent or contact.value is None:
            return None
        if contact.combine == "first" or contact.value >= 1.0:
            return self._close(contact)
        return None

    def latest_open(self, ts: int, reward_kinds: tuple[str, ...]) -> str | None:
        """The most recent delivered decision open at ``ts`` whose reward is one of
        ``reward_kinds``: where a conversion without a decision id is credited."""
        best: Contact | None = None
        for c in self.open.values():
            if (
                c.sent
                and c.delivered is not None
                and c.reward_kind in reward_kinds
                and c.delivered <= ts <= c.closes_at
                and (best is None or c.delivered > (best.delivered or 0))
            ):
                best = c
        return best.decision_id if best else None

    def due(self, now_ms: int) -> list[dict[str, Any]]:
        """Close every window that ended by ``now_ms``; rewards of delivered decisions."""
        rewards = []
        for contact in [c for c in self.open.values() if c.closes_at <= now_ms]:
            reward = self._close(contact)
            if contact.sent and contact.delivered is not None:
                rewards.append(reward)
        cutoff = now_ms - self.keep_ms
        if self.closed and self.closed[0][3] < cutoff:
            self.closed = [c for c in self.closed if c[3] >= cutoff]
        return rewards

    def next_close(self) -> int | None:
        closes = [c.closes_at for c in self.open.values()]
        closes += [until for waiting in self.early.values() for until, _record in waiting]
        return min(closes, default=None)

    # -- feedback that overtook an API decision -----------------------------------------

    def park(self, decision_id: str, until: int, record: dict[str, Any], most: int = 32) -> bool:
        """Keep feedback for a decision the API made that this ledger has not heard of yet
        (its ``recorded`` message travels another topic and may come second), until event
        time ``until``; ``False`` when ``most`` are already waiting."""
        if sum(len(w) for w in self.early.values()) >= most:
            return False
        self.early.setdefault(decision_id, []).append((until, record))
        return True

    def unpark(self, decision_id: str) -> list[dict[str, Any]]:
        """The feedback kept for ``decision_id``, now that its decision is known."""
        return [record for _until, record in self.early.pop(decision_id, [])]

    def expired(self, now_ms: int) -> list[dict[str, Any]]:
        """Kept feedback whose decision never came by ``now_ms``."""
        gone = []
        for did, waiting in list(self.early.items()):
            gone += [record for until, record in waiting if until <= now_ms]
            kept = [(until, record) for until, record in waiting if until > now_ms]
            if kept:
                self.early[did] = kept
            else:
                del self.early[did]
        return gone

    def _close(self, contact: Contact) -> dict[str, Any]:
        del self.open[contact.decision_id]
        if contact.delivered is None and contact.experiments:
            self.exposures.await_delivery(
                contact.decision_id, contact.experiments, contact.covariates
            )
        if contact.sent:
            self.closed.append(
                (
                    contact.decision_id,
                    contact.campaign,
                    contact.channels[0],
                    contact.ts,
                    contact.closes_at,
                )
            )
            if len(self.closed) > self.max_closed:
                del self.closed[0]
        return contact.reward()

    # -- snapshot ----------------------------------------------------------------------

    def to_state(self) -> tuple:
        """Built-in values only, for the step's snapshot."""
        return (
            [[getattr(c, f) for f in Contact.__slots__] for c in self.open.values()],
            self.closed,
            self.fired,
            self.last_cart,
            self.exposures.to_state(),
            self.early,
        )

    @classmethod
    def from_state(cls, state: tuple, keep_ms: int = 30 * DAY_MS) -> ContactLedger:
        ledger = cls(keep_ms)
        contacts, ledger.closed, ledger.fired, ledger.last_cart, *later = state
        if later:  # snapshots written before experiments have none
            ledger.exposures = Exposures.from_state(later[0])
        if len(later) > 1:  # nor before the API
            ledger.early = {k: [tuple(w) for w in v] for k, v in later[1].items()}
        for values in contacts:
            contact = Contact(*values)
            ledger.open[contact.decision_id] = contact
        return ledger
