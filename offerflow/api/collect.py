"""The HTTP event collector and the privacy requests: what apps and browsers send, checked
by the ingestion gate's own rules and on the events topic before the answer says so.

``POST /v1/events`` takes one event, a JSON array, or ``{"batch": [...]}`` (Segment's batch
shape), each item in the envelope or Segment's shape (:mod:`offerflow.api.envelope`). Every
item gets its own answer, accepted or refused with the gate's reason; accepted ones are
published keyed by the raw user id, as an app publishing to Kafka would, and the answer waits
for the broker's acknowledgement. ``PUT /v1/users/{id}/consent`` and ``DELETE
/v1/users/{id}`` publish a ``consent`` or ``erase`` event, so they take the flow's one privacy
path.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field, StrictBool

from offerflow.api import metrics
from offerflow.api.envelope import Mapped, to_envelope
from offerflow.api.producer import QueueFull, Record
from offerflow.api.service import Json, Service, Svc, body_as, parse_json
from operators.dead_letter import DeadLetter

router = APIRouter()


@router.post("/v1/events", tags=["collect"], summary="Send one event or a batch")
async def collect(request: Request, svc: Svc) -> Json:
    """Check each event with the ingestion gate's rules and publish the accepted ones.

    200: every event accepted; 207: some refused (each with its reason); 422: none accepted;
    503 with Retry-After: the broker did not take them (nothing was lost: send again, the
    flow drops repeated event ids)."""
    svc.authorize(request, "collect")
    items = _items(await request.body(), svc.settings.api_max_batch)
    now_ms = int(time.time() * 1000)
    results: list[dict[str, Any]] = []
    records: list[Record] = []
    for index, item in enumerate(items):
        mapped = to_envelope(item, now_ms)
        verdict, record = _check(svc, mapped)
        results.append({"index": index, **verdict})
        if record is not None:
            records.append(record)
    failures = await _publish(svc, records)
    accepted = [r for r in results if r["status"] == "accepted"]
    for result, failure in zip(accepted, failures, strict=True):
        if failure is not None:
            result.update(status="failed", reason="not_acknowledged", detail=failure)
    counts = {s: sum(r["status"] == s for r in results) for s in ("accepted", "refused", "failed")}
    for outcome, n in counts.items():
        metrics.EVENTS.labels(outcome).inc(n)
    body = {**counts, "events": results}
    if counts["failed"]:
        return Json(body, status_code=503, headers={"Retry-After": "1"})
    status = 200 if not counts["refused"] else 207 if counts["accepted"] else 422
    return Json(body, status_code=status)


class ConsentChange(BaseModel):
    """Purposes or channels granted (``true``) or withdrawn (``false``)."""

    consent: dict[str, StrictBool] = Field(
        min_length=1, examples=[{"email": True, "marketing": False}]
    )


_SCHEMA = ConsentChange.model_json_schema()


@router.put(
    "/v1/users/{user_id}/consent",
    tags=["privacy"],
    summary="Change consent",
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": _SCHEMA}}}},
)
async def consent(user_id: str, request: Request, svc: Svc) -> Json:
    """Publish a ``consent`` event: the flow applies it before any later decision."""
    svc.authorize(request, "privacy")
    change = await body_as(request, ConsentChange, '{"consent": {"email": true}}')
    event = {"type": "consent", "user_id": user_id, "consent": change.consent}
    return await _privacy(svc, event)


@router.delete("/v1/users/{user_id}", tags=["privacy"], summary="Erase a user")
async def erase(user_id: str, request: Request, svc: Svc) -> Json:
    """Publish an ``erase`` event: the flow deletes the user from its state, Redis and the
    models, and writes the audit record."""
    svc.authorize(request, "privacy")
    return await _privacy(svc, {"type": "erase", "user_id": user_id})


async def _privacy(svc: Service, event: dict[str, Any]) -> Json:
    event = {"event_id": f"api-{uuid.uuid4()}", "ts": int(time.time() * 1000), **event}
    verdict, record = _check(svc, Mapped(event))
    if record is None:
        raise HTTPException(422, f"{verdict['reason']}: {verdict['detail']}")
    (failure,) = await _publish(svc, [record])
    if failure is not None:
        raise HTTPException(503, "the broker did not acknowledge", headers={"Retry-After": "1"})
    return Json({"event_id": event["event_id"], "status": "accepted"}, 202)


def _items(body: bytes, most: int) -> list[Any]:
    doc = parse_json(body)
    if isinstance(doc, dict) and isinstance(doc.get("batch"), list):
        doc = doc["batch"]
    items = doc if isinstance(doc, list) else [doc]
    if not items:
        raise HTTPException(422, "empty batch: send at least one event")
    if len(items) > most:
        raise HTTPException(413, f"batch of {len(items)} events; at most {most} per request")
    return items


def _check(svc: Service, mapped: Mapped) -> tuple[dict[str, Any], Record | None]:
    """The gate's verdict on one item, and the record to publish if accepted."""
    event = mapped.event
    value = orjson.dumps(event)
    checked = svc.ingestor(None, value)
    if isinstance(checked, DeadLetter):
        verdict = {"status": "refused", "reason": checked.reason.value, "detail": checked.detail}
        if isinstance(event, dict) and isinstance(event.get("event_id"), str):
            verdict["event_id"] = event["event_id"]
        return verdict, None
    verdict = {"status": "accepted", "event_id": event["event_id"]}
    if mapped.ignored:
        verdict["ignored"] = list(mapped.ignored)
    key = event["user_id"].encode()
    return verdict, Record(svc.settings.topic("events"), key, value)


async def _publish(svc: Service, records: list[Record]) -> list[str | None]:
    if not records:
        return []
    try:
        return await svc.producer.send(records)
    except QueueFull:
        raise HTTPException(
            503, "the producer's queue is full: retry shortly", headers={"Retry-After": "1"}
        ) from None
