"""Reads over what the flows keep in Redis: a user's profile and recommendations, the
attribution totals and an experiment's report.

User ids in paths are raw and pseudonymized here with the flow's keyed HMAC; nothing read
holds raw personal data (the flow never stores it). A profile read with Redis slow or down
answers 503 with Retry-After; recommendations answer an empty list marked as a fallback, and
a user with none yet gets the trending products, marked ``popular``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Query, Request

from offerflow.api import metrics
from offerflow.api.service import REDIS_ERRORS, Json, Service, Svc
from offerflow.reports import attribution_report, experiment_report
from operators.reco_step import POPULAR

router = APIRouter(tags=["read"])
_RETRY = {"Retry-After": "1"}


@router.get("/v1/profiles/{user_id}", summary="A user's profile")
async def profile(user_id: str, request: Request, svc: Svc) -> Any:
    """Features, segments, predictions and consent, as the flow last wrote them."""
    svc.authorize(request, "read")
    pid = svc.pseudonym(user_id)
    raw = await _get(svc, svc.settings.redis_key("profile", pid), "profiles")
    if raw is None:
        raise HTTPException(404, "no profile for this user (never seen, expired or erased)")
    return Json({"user": pid, **orjson.loads(raw)})


@router.get("/v1/recommendations/{user_id}", summary="A user's recommended products")
async def recommendations(
    user_id: str,
    request: Request,
    svc: Svc,
    k: Annotated[int, Query(ge=1, le=100, description="how many products")] = 10,
) -> Any:
    """The user's current top products as the recommendation step last ranked them."""
    svc.authorize(request, "read")
    pid = svc.pseudonym(user_id)
    key = svc.settings.redis_key
    try:
        raw, popular = await svc.redis.mget(key("reco", pid), key("reco", POPULAR))
    except REDIS_ERRORS:
        metrics.FALLBACKS.labels("recommendations", "redis").inc()
        return Json({"user": pid, "products": [], "fallback": "redis_unavailable"})
    if raw is None:  # no history yet: what is trending, if the flow has published it
        metrics.FALLBACKS.labels("recommendations", "missing").inc()
        products = orjson.loads(popular)["products"][:k] if popular else []
        return Json({"user": pid, "products": products, "fallback": "popular"})
    return Json({"user": pid, "products": orjson.loads(raw)["products"][:k]})


@router.get("/v1/attribution", summary="Attribution totals")
async def attribution(
    request: Request,
    svc: Svc,
    model: Annotated[str | None, Query(description="one model; every model if absent")] = None,
    by: Literal["channel", "campaign"] = "channel",
) -> Any:
    """Conversions and value credited per channel or campaign by each model."""
    svc.authorize(request, "read")
    if model is not None and model not in attribution_report.MODELS:
        known = ", ".join(attribution_report.MODELS)
        raise HTTPException(422, f"unknown model {model!r}; one of {known}")
    if model == "markov" and by == "campaign":
        raise HTTPException(
            422, "the standard markov split is by channel only; by campaign: use markov_path"
        )
    report = await _sync(svc, lambda client: attribution_report.live(svc.settings, client))
    table = report.channels if by == "channel" else report.campaigns
    models = {m: rows for m, rows in table.items() if model in (None, m)}
    return Json(
        {
            "by": by,
            "conversions": report.conversions,
            "value": report.value,
            "models": {
                m: {k: {"conversions": c, "value": v} for k, (c, v) in rows.items()}
                for m, rows in models.items()
            },
        }
    )


@router.get("/v1/experiments/{experiment_id}", summary="An experiment's report")
async def experiment(experiment_id: str, request: Request, svc: Svc) -> Any:
    """The same numbers as ``offerflow experiment report``: per variant and metric, effect,
    fixed-horizon and sequential p-values, verdict."""
    svc.authorize(request, "read")
    if not experiment_id.replace("-", "").replace("_", "").isalnum():
        raise HTTPException(422, "experiment id must be letters, digits, - or _")
    reports = await _sync(
        svc, lambda client: experiment_report.live(svc.settings, client, experiment_id)
    )
    if not reports:
        raise HTTPException(404, f"no experiment {experiment_id!r} with results in Redis")
    return Json(reports[0].to_json())


async def _get(svc: Service, key: str, route: str) -> bytes | None:
    try:
        return await svc.redis.get(key)
    except REDIS_ERRORS:
        metrics.FALLBACKS.labels(route, "redis").inc()
        raise HTTPException(
            503, "profile store unavailable", headers={"Retry-After": "1"}
        ) from None


async def _sync(svc: Service, report: Callable[[Any], Any]) -> Any:
    """A report from the command line's own query code, off the event loop."""
    try:
        return await asyncio.to_thread(report, svc.sync_redis())
    except REDIS_ERRORS:
        raise HTTPException(
            503, "analytics store unavailable", headers={"Retry-After": "1"}
        ) from None
