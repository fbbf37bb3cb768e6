"""The live simulator: a synthetic population using the apps, asking for decisions and
responding to delivered offers by their hidden tastes, through the real broker, flow and
channel senders.

It produces each user's ``identify`` (with ``traits.persona``) and ``consent``, then a steady
stream of browsing events and ``decision_request``s (channel ``web``, ``email`` or ``push``)
at ``rate`` requests/s, while the reference :class:`~offerflow.senders.Senders` deliver the
decisions and the population answers them (click with its hidden probability, opening the
email or SMS first, and a purchase after a share of clicks). Some sessions start from an
organic source (a ``page_view`` with ``utm_source``) and a few end in a purchase no offer
led to, so attribution sees every kind of path. At the end it waits for the outstanding
decisions and returns a :class:`LiveReport`; :meth:`LiveReport.write_log` writes the
delivered decisions in the offline-evaluation format of ``offerflow ope``.
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import Producer

from config.settings import Settings
from offerflow.lab.population import Population
from offerflow.lab.reco_sim import CATEGORIES, Catalog
from offerflow.progress import Progress
from offerflow.senders import Senders
from operators.campaign_book import CampaignBook
from operators.pseudonymize import Pseudonymizer
from state.campaigns import Catalog as Campaigns

CHANNEL_MIX = (("web", 0.6), ("email", 0.2), ("push", 0.2))
#: Sources of organic visits, and the share of requests that follow one.
ORGANIC_SOURCES = ("google", "facebook", "newsletter", "direct")
ORGANIC_SHARE = 0.3
#: Share of requests that come with a purchase no offer led to.
ORGANIC_PURCHASE_SHARE = 0.01


@dataclass
class Delivered:
    """One delivered decision and what the population did with it."""

    t: float
    campaign: str
    persona: str
    channel: str
    offer: str
    propensity: float
    offers: tuple[str, ...]
    clicked: bool
    p: float
    oracle: float
    uniform: float
    best: bool
    user: str = ""
    experiment: str | None = None  # "experiment|variant" of the decision, if any


@dataclass
class LiveReport:
    """What a live run did: requests, decisions by outcome, deliveries."""

    requests: int = 0
    decisions: int = 0
    no_offer: Counter = field(default_factory=Counter)
    delivered: list[Delivered] = field(default_factory=list)
    sender_counts: Counter = field(default_factory=Counter)
    organic_purchases: int = 0
    seconds: float = 0.0
    with_products: int = 0
    favourite_products: int = 0
    exposed: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    exposures: Counter = field(default_factory=Counter)

    def expose(self, decision: dict[str, Any]) -> str | None:
        """Count a decision's experiment exposure (its delivery, or a withheld message);
        returns its ``"experiment|variant"``."""
        if not decision.get("experiment_id"):
            return None
        key = f"{decision['experiment_id']}|{decision['variant']}"
        self.exposed[key].add(decision["user_id"])
        self.exposures[key] += 1
        return key

    @property
    def purchases(self) -> int:
        """Purchases sent: after a click, and organic ones."""
        return self.sender_counts["purchase"] + self.organic_purchases

    def write_log(self, path: str) -> int:
        """Delivered decisions as ``offerflow ope`` JSON Lines; returns how many."""
        with open(path, "wb") as fh:
            for d in self.delivered:
                record = {
                    "context": d.persona,
                    "action": d.offer,
                    "propensity": d.propensity,
                    "reward": float(d.clicked),
                    "actions": list(d.offers),
                    "campaign": d.campaign,
                    "channel": d.channel,
                }
                fh.write(orjson.dumps(record) + b"\n")
        return len(self.delivered)

    def campaign_table(self) -> list[dict[str, Any]]:
        """Per campaign (and experiment variant, as ``campaign/variant``): decisions, CTR of
        the policy (realized and expected) against uniform random and the oracle, and the
        share of best-offer choices early and late."""
        rows = []
        by_campaign: dict[str, list[Delivered]] = defaultdict(list)
        for d in self.delivered:
            variant = d.experiment.split("|")[1] if d.experiment else ""
            by_campaign[f"{d.campaign}/{variant}" if variant else d.campaign].append(d)
        for campaign, items in sorted(by_campaign.items()):
            n = len(items)
            fifth = max(1, n // 5)
            rows.append(
                {
                    "campaign": campaign,
                    "delivered": n,
                    "clicks": sum(d.clicked for d in items),
                    "ctr_realized": sum(d.clicked for d in items) / n,
                    "ctr_learned": sum(d.p for d in items) / n,
                    "ctr_uniform": sum(d.uniform for d in items) / n,
                    "ctr_oracle": sum(d.oracle for d in items) / n,
                    "best_share_first_fifth": sum(d.best for d in items[:fifth]) / fifth,
                    "best_share_last_fifth": sum(d.best for d in items[-fifth:]) / fifth,
                    "ctr_learned_last_fifth": sum(d.p for d in items[-fifth:]) / fifth,
                    "ctr_oracle_last_fifth": sum(d.oracle for d in items[-fifth:]) / fifth,
                }
            )
        return rows


class Simulator:
    """Population + senders on one run namespace.

    Parameters
    ----------
    settings
        The run's topics, Redis and id key (the simulator maps pseudonyms back to its users,
        which only a test harness holding the key can do).
    users
        Population size.
    seed
        Random seed (tastes are planted with it too).
    outbox_dir
        Where the email/SMS senders write.
    purchase_rate
        Share of clicks followed by a purchase.

    """

    def __init__(
        self,
        settings: Settings,
        users: int = 2_000,
        seed: int = 7,
        outbox_dir: str = ".stack/outbox",
        purchase_rate: float = 0.3,
    ) -> None:
        self.settings = settings
        self.rng = random.Random(seed)
        self.catalog: Campaigns = CampaignBook(settings.campaigns_file).current()
        offers = sorted({o.id for c in self.catalog.campaigns.values() for o in c.offers})
        self.population = Population.planted(offers, seed=seed)
        pseudonymizer = Pseudonymizer(settings.id_key)
        self.users = [f"sim-{seed}-{i:06d}" for i in range(users)]
        self.persona = {u: self.population.persona_of(u) for u in self.users}
        self.by_pseudonym = {pseudonymizer.user(u): u for u in self.users}
        self.products = Catalog.planted(seed)  # planted tastes in products, for recommendations
        self.product_rng = random.Random(seed * 31 + 1)  # apart: the rest replays as before
        self.categories = dict(zip(self.population.personas, CATEGORIES, strict=True))
        self.favourites = {
            u: self.products.favourites(self.product_rng, self.categories[self.persona[u]])
            for u in self.users
        }
        self.purchase_rate = purchase_rate
        self.report = LiveReport()
        self.started = time.monotonic()
        self.producer = Producer(settings.kafka(**{"linger.ms": "5"}))
        self.senders = Senders(
            settings, outbox_dir, responder=self._respond, observer=self.count_decision
        )
        self._seq = 0

    def run(self, requests: int, rate: float, drain_s: float = 60.0) -> LiveReport:
        """Introduce every user, send ``requests`` decision requests at ``rate``/s with some
        browsing around them, and deliver and answer decisions until all are in."""
        now = _now()
        for user in self.users:
            traits = {"persona": self.persona[user]}
            self._event(user, "identify", now, traits=traits)
            consent = {"marketing": True, "email": True, "push": True, "web": True}
            self._event(user, "consent", now, consent=consent)
        self.producer.flush(30)
        self.started = time.monotonic()
        bar = Progress(total=requests, desc="requests", unit="req")
        sent = 0
        while sent < requests:
            due = min(requests, int((time.monotonic() - self.started) * rate) + 1)
            for _ in range(due - sent):
                self._request()
            bar.update(due - sent)
            sent = due
            self.producer.poll(0)
            self.senders.poll(0.02)
        bar.close()
        self.producer.flush(30)
        deadline = time.monotonic() + drain_s
        while self.report.decisions < requests and time.monotonic() < deadline:
            self.senders.poll(0.2)
        self.senders.poll(0.5)
        self.senders.close()
        self.producer.flush(30)
        self.report.requests = requests
        self.report.sender_counts = self.senders.counts
        self.report.seconds = time.monotonic() - self.started
        return self.report

    def _request(self) -> None:
        user = self.rng.choice(self.users)
        roll = self.rng.random()
        channel = next(c for c, w in _cumulative(CHANNEL_MIX) if roll < w)
        now = _now()
        category = self.categories[self.persona[user]]
        product = self.products.pick(self.product_rng, self.favourites[user], category)
        if self.rng.random() < ORGANIC_SHARE:
            source = self.rng.choice(ORGANIC_SOURCES)
            self._event(user, "page_view", now, properties={"utm_source": source})
        self._event(
            user, "product_view", now, properties={"category": category, "product_id": product}
        )
        if self.rng.random() < ORGANIC_PURCHASE_SHARE:
            self._purchase(user, now)
        if self.rng.random() < 0.05:
            cart = {"category": category, "product_id": product}
            self._event(user, "add_to_cart", now, properties=cart)
        self._event(user, "decision_request", now, channel=channel)

    def _respond(self, decision: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """The recipient of a delivered decision: click by hidden probability."""
        user = self.by_pseudonym.get(decision["user_id"])
        campaign = self.catalog.campaigns.get(decision["campaign_id"] or "")
        if user is None or campaign is None:
            return []
        persona, channel, offer = self.persona[user], decision["channel"], decision["offer_id"]
        offers = tuple(o.id for o in campaign.offers if channel in o.channels)
        p = self.population.probability(persona, offer, channel)
        best, best_p = self.population.oracle(persona, channel, offers)
        clicked = self.rng.random() < p
        self.report.delivered.append(
            Delivered(
                time.monotonic() - self.started,
                campaign.id,
                persona,
                channel,
                offer,
                decision["propensity"] or 1.0,
                offers,
                clicked,
                p,
                best_p,
                self.population.uniform(persona, channel, offers),
                offer == best,
                decision["user_id"],
                self.report.expose(decision),
            )
        )
        if not clicked:
            return []
        opened = [("message_open", {})] if channel in ("email", "sms") else []
        out: list[tuple[str, dict[str, Any]]] = [*opened, ("offer_click", {})]
        if self.rng.random() < self.purchase_rate:
            out.append(("purchase", {"properties": self._basket()}))
        return out

    def _purchase(self, user: str, ts: int) -> None:
        self.report.organic_purchases += 1
        self._event(user, "purchase", ts, properties=self._basket())

    def _basket(self) -> dict[str, Any]:
        return {"value": round(self.rng.uniform(20, 120), 2), "currency": "EUR"}

    def count_decision(self, decision: dict[str, Any]) -> None:
        self.report.decisions += 1
        products = (decision.get("payload") or {}).get("products")
        user = self.by_pseudonym.get(decision["user_id"])
        if products and user is not None:
            self.report.with_products += 1
            self.report.favourite_products += bool(
                set(products.split(",")) & set(self.favourites[user])
            )
        if decision.get("offer_id") is None:
            self.report.no_offer[decision.get("reason") or "?"] += 1
            if decision.get("reason") in ("experiment_holdout", "global_holdout"):
                self.report.expose(decision)

    def _event(self, user: str, kind: str, ts: int, **fields: Any) -> None:
        self._seq += 1
        event = {"event_id": f"{user}-{self._seq}", "type": kind, "user_id": user, "ts": ts}
        self.producer.produce(
            self.settings.topic("events"), orjson.dumps({**event, **fields}), user.encode()
        )
        if self._seq % 10_000 == 0:
            self.producer.poll(0)


def _cumulative(mix: tuple[tuple[str, float], ...]) -> list[tuple[str, float]]:
    total, out = 0.0, []
    for name, weight in mix:
        total += weight
        out.append((name, total))
    out[-1] = (out[-1][0], 1.01)
    return out


def _now() -> int:
    return int(time.time() * 1000)
