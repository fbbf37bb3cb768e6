"""``/v1/decide``: the best offer for a user now, answered in milliseconds.

Two Redis round trips: the user's profile, cap slots and recommendations; then (after
screening) the slot reservation and the policy's posteriors. The decision is made with the
flow's own rules (:mod:`operators.served_decisions`), published to the decisions topic and,
as a ``recorded`` internal message, to the user's ledger in the flow, so the impressions,
clicks and purchases sent later join it (the bandit learns, the experiment counts the
exposure, attribution sees the touch). Caps and send budgets are exact across the API and the
flow because both take their slots with the same Redis script (:mod:`operators.slots`).

Redis slow or down: a "no offer" marked ``fallback: redis_unavailable`` (consent and caps
cannot be checked, so nothing is safe to show). The answer never waits for the broker.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from dataclasses import replace
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from flows.recommendations import CONTENT_CHANNELS
from offerflow.api import metrics
from offerflow.api.producer import QueueFull, Record
from offerflow.api.service import REDIS_ERRORS, Json, Service, Svc, body_as
from operators.decision_plan import Plan
from operators.feedback import Feedback
from operators.reco_step import POPULAR
from operators.served_decisions import Seen, choose, recorded, screened
from operators.slots import KEEP_MS, Verdict, reservation, verdict
from schemas import codec
from state.policy import no_offer

router = APIRouter(tags=["decide"])


class DecideRequest(BaseModel):
    """A request for a decision."""

    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=256, description="the app's raw user id")
    channel: str | None = Field(None, description="web, email, push, ...; absent: any open one")
    campaign: str | None = Field(None, description="decide within this campaign only")
    offers: list[str] | None = Field(None, max_length=100, description="candidate offers only")
    request_id: str | None = Field(
        None, min_length=1, max_length=128, description="retries with the same id get the same "
        "decision (default: a new id)",
    )  # fmt: skip


_SCHEMA = DecideRequest.model_json_schema()


@router.post(
    "/v1/decide",
    summary="Decide the best offer for a user",
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": _SCHEMA}}}},
)
async def decide_post(request: Request, svc: Svc) -> Json:
    """Offer, content, products, decision id, policy and propensity, experiment variant; or
    an explicit "no offer" with its reason."""
    svc.authorize(request, "decide")
    return await decide(svc, await body_as(request, DecideRequest, '{"user_id": "u1"}'))


@router.get("/v1/decide", summary="Decide (query-string form)")
async def decide_get(
    request: Request,
    svc: Svc,
    user_id: Annotated[str, Query(min_length=1, max_length=256)],
    channel: str | None = None,
    campaign: str | None = None,
    request_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
) -> Json:
    """The same as ``POST /v1/decide``, for clients that can only send a GET."""
    svc.authorize(request, "decide")
    body = DecideRequest(user_id=user_id, channel=channel, campaign=campaign, request_id=request_id)
    return await decide(svc, body)


async def decide(svc: Service, body: DecideRequest) -> Json:
    settings = svc.settings
    if not settings.shared_slots:
        raise HTTPException(503, "decisions over HTTP need OFFERFLOW_SHARED_SLOTS=true")
    catalog = svc.campaigns.current()
    if body.campaign is not None and body.campaign not in catalog.campaigns:
        raise HTTPException(422, f"unknown campaign {body.campaign!r}")
    if body.channel is not None and body.channel not in settings.gate.channels:
        known = ", ".join(sorted(settings.gate.channels))
        raise HTTPException(422, f"unknown channel {body.channel!r}; one of {known}")
    pid = svc.pseudonym(body.user_id)
    now = int(time.time() * 1000)
    source = body.request_id or secrets.token_hex(12)
    key = settings.redis_key
    try:
        keys = (key("profile", pid), key("slots", pid), key("reco", pid), key("reco", POPULAR))
        profile, flat, top, popular = await svc.script("read_user", keys, ())
        slots = dict(zip(flat[::2], flat[1::2], strict=True))
    except REDIS_ERRORS:
        request = {"decision_id": f"fallback-{source}", "user": pid, "ts": now, "trigger": "api"}
        return _answer(svc, no_offer(request, body.channel or "any", None), "redis_unavailable")
    plan = screened(catalog, pid, Seen.read(profile, slots), body.channel, now, source,
                    svc.context_label, body.campaign)  # fmt: skip
    if plan.candidate is not None and body.offers is not None:
        chosen = tuple(o for o in plan.candidate.offers if o in body.offers)
        candidate = replace(plan.candidate, offers=chosen)
        plan = replace(plan, candidate=candidate) if chosen else _none(candidate, "no_candidate")
    if plan.candidate is None:
        assert plan.decision is not None
        return _answer(svc, plan.decision, None, plan if plan.withheld else None)
    candidate = plan.candidate
    campaign, did = candidate.campaign, candidate.request["decision_id"]
    wanted = reservation(key, pid, did, catalog, campaign.id, candidate.channels, now, KEEP_MS)
    try:
        taken, doc, budget = await _reserve_and_read(
            svc, wanted, campaign.id, candidate.policy_segment, pid
        )
    except REDIS_ERRORS:
        return _answer(svc, _none(candidate, None).decision, "redis_unavailable")
    if taken is Verdict.CAPPED:
        return _answer(svc, _none(candidate, f"{campaign.id}:frequency_cap").decision, None)
    if taken is Verdict.BUDGET:
        return _answer(svc, _none(candidate, "budget_exhausted:max_sends").decision, None)
    record, fallback = choose(candidate, doc, now, settings.api_posterior_max_age_ms)
    conversions = (budget or {}).get("conversions", 0)
    if campaign.max_conversions is not None and conversions >= campaign.max_conversions:
        record = {**record, "offer_id": None, "payload": {},
                  "reason": "budget_exhausted:max_conversions"}  # fmt: skip
    if record["offer_id"] is None:
        if wanted is not None:
            await _release(svc, wanted.keys, did)
        return _answer(svc, record, fallback)
    if record["channel"] in CONTENT_CHANNELS and (top or popular):
        if not top:  # no history yet: the trending products
            metrics.FALLBACKS.labels("decide", "popular_products").inc()
        chosen = _doc(top or popular)["products"]
        products = [p for p in chosen if p not in campaign.exclude_products]
        record["payload"] = {**record["payload"], "products": ",".join(products)}
    age = None if doc is None else round((now - doc.get("updated_ms", now)) / 1000, 1)
    return _answer(svc, record, fallback, plan, posterior_age_s=age)


async def _reserve_and_read(
    svc: Service, wanted: Any, campaign: str, segment: str, user: str
) -> tuple[Verdict, dict | None, dict | None]:
    key = svc.settings.redis_key
    docs = (key("policy", campaign, segment), key("budget", campaign))
    if wanted is None:  # nothing to reserve: the script only reads
        taken, doc, budget = await svc.script(
            "reserve_and_read", (key("slots", user), key("sends", campaign), *docs), ()
        )
    else:
        taken, doc, budget = await svc.script("reserve_and_read", (*wanted.keys, *docs),
                                              wanted.args)  # fmt: skip
    return verdict(taken), _doc(doc), _doc(budget)


def _doc(raw: bytes | None) -> dict | None:
    return orjson.loads(raw) if raw else None


async def _release(svc: Service, keys: tuple[str, str], did: str) -> None:
    # On failure the slot stays taken until the user's contacts expire: the safe side.
    with contextlib.suppress(*REDIS_ERRORS):
        await svc.script("release", keys, (did,))


def _none(candidate: Any, reason: str | None) -> Plan:
    request = candidate.request
    return Plan(decision={**no_offer(request, candidate.channels[0], reason),
                          "campaign_id": candidate.campaign.id})  # fmt: skip


def _answer(
    svc: Service,
    record: dict[str, Any],
    fallback: str | None,
    plan: Plan | None = None,
    posterior_age_s: float | None = None,
) -> Json:
    """Publish the decision (and, for one the ledger must know, its ``recorded`` message)
    without waiting, and answer."""
    settings = svc.settings
    pid = record["user_id"].encode()
    records = [Record(settings.topic("decisions"), pid,
                      codec.encode("decision", record, settings.output_format))]  # fmt: skip
    if plan is not None:
        message = Feedback("recorded", record["user_id"], recorded(record, plan))
        records.append(Record(settings.topic("internal"), pid, message.encode()))
    if fallback != "redis_unavailable":
        try:
            svc.announcer.post(records)
        except QueueFull:
            metrics.FALLBACKS.labels("decide", "producer_queue").inc()
    outcome = "offer" if record["offer_id"] else "no_offer"
    metrics.DECISIONS.labels(outcome, fallback or "none").inc()
    if fallback:
        metrics.FALLBACKS.labels("decide", fallback).inc()
    payload = record["payload"]
    products = payload.get("products")
    return Json(
        {
            "decision_id": record["decision_id"],
            "user": record["user_id"],
            "offer_id": record["offer_id"],
            "campaign_id": record["campaign_id"],
            "channel": record["channel"],
            "content": {k: v for k, v in payload.items() if k != "products"},
            "products": products.split(",") if products else [],
            "policy": record["policy"],
            "propensity": record["propensity"],
            "experiment_id": record["experiment_id"],
            "variant": record["variant"],
            "segment": record["segment"],
            "reason": record["reason"],
            "fallback": fallback,
            "posterior_age_s": posterior_age_s,
        }
    )
