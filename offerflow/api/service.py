"""What every route of the API shares: settings, keys and limits, the ingestion gate, the
Kafka producer and the Redis client, and the checks each request passes (key, scope, rate)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import orjson
import redis
import redis.asyncio as aioredis
from fastapi import Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from config.settings import Settings
from flows.decisioning import campaign_book
from flows.profiles import context_label
from flows.wiring import make_ingestor
from offerflow.api import metrics
from offerflow.api.keys import ApiKey, KeyRing
from offerflow.api.limits import RateLimiter
from offerflow.api.pipe import RedisPipe
from offerflow.api.producer import AsyncProducer
from operators.campaign_book import CampaignBook
from operators.ingest import Ingestor
from operators.pseudonymize import Pseudonymizer
from operators.slots import READ_USER, RELEASE, RESERVE_AND_READ
from schemas.event import MAX_ID_LENGTH

M = TypeVar("M", bound=BaseModel)
#: The Lua scripts the API runs, and their SHA-1 as Redis names them (EVALSHA).
SCRIPTS = {"read_user": READ_USER, "reserve_and_read": RESERVE_AND_READ, "release": RELEASE}
#: What a Redis that is down or slow raises: the routes answer their fallback.
REDIS_ERRORS = (redis.RedisError, OSError, TimeoutError)
_SHAS = {name: hashlib.sha1(text.encode()).hexdigest() for name, text in SCRIPTS.items()}


@dataclass
class Service:
    """The API's dependencies, built once per process."""

    settings: Settings
    keys: KeyRing
    producer: AsyncProducer  # events and privacy requests: the answer awaits the broker
    announcer: AsyncProducer  # decisions: the answer does not wait, so they may linger
    redis: Any
    pipe: RedisPipe  # the decision path's scripts: one pipelined connection, less CPU
    ingestor: Ingestor
    pseudonymizer: Pseudonymizer
    campaigns: CampaignBook
    context_label: str  # the flow's: the API's decisions see the same context features
    limiter: RateLimiter = field(default_factory=RateLimiter)
    _sync_redis: Any = None

    @classmethod
    def start(cls, settings: Settings, keys: KeyRing) -> Service:
        timeout_s = settings.api_redis_timeout_ms / 1000
        return cls(
            settings,
            keys,
            AsyncProducer(settings.kafka(), settings.api_delivery_timeout_ms),
            AsyncProducer(
                settings.kafka(),
                settings.api_delivery_timeout_ms,
                linger_ms=settings.api_decisions_linger_ms,
                errors_only=True,
            ),
            aioredis.Redis.from_url(
                settings.redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
            ),
            RedisPipe(settings.redis_url, timeout_s),
            make_ingestor(settings),
            Pseudonymizer(settings.id_key),
            campaign_book(settings),
            context_label(settings),
        )

    async def warm(self) -> None:
        """Open the campaigns topic and load the scripts before the first request, so it does
        not pay for them (a Redis that is down now gets the scripts when it is back)."""
        self.producer.start()
        self.announcer.start()
        await asyncio.to_thread(self.campaigns.current)
        with contextlib.suppress(redis.RedisError, OSError):
            await self.load_scripts()

    async def load_scripts(self) -> None:
        for script in SCRIPTS.values():
            await self.redis.script_load(script)

    async def script(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run one of :data:`SCRIPTS` by its SHA-1 (loading them again if Redis restarted
        and forgot them)."""
        sha = _SHAS[name]
        try:
            return await self.pipe.call("EVALSHA", sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            await self.load_scripts()
            return await self.pipe.call("EVALSHA", sha, len(keys), *keys, *args)

    def sync_redis(self) -> Any:
        """A blocking client, for the report code the command line shares (run in a thread)."""
        if self._sync_redis is None:
            timeout_s = max(1.0, self.settings.api_redis_timeout_ms / 1000)
            self._sync_redis = redis.Redis.from_url(
                self.settings.redis_url, socket_timeout=timeout_s
            )
        return self._sync_redis

    async def close(self) -> None:
        await asyncio.to_thread(self.campaigns.close)
        await self.redis.aclose()
        await self.pipe.close()
        if self._sync_redis is not None:
            self._sync_redis.close()
        await self.producer.close()
        await self.announcer.close()

    def authorize(self, request: Request, scope: str) -> ApiKey:
        """The caller's key if it may use ``scope`` now; raises the 401, 403 or 429."""
        presented = request.headers.get("x-api-key")
        auth = request.headers.get("authorization", "")
        if presented is None and auth[:7].lower() == "bearer ":
            presented = auth[7:].strip()
        if not presented:
            raise HTTPException(401, "missing API key: send it as 'Authorization: Bearer <key>'")
        key = self.keys.verify(presented)
        if key is None:
            raise HTTPException(401, "unknown or revoked API key")
        if scope not in key.scopes:
            raise HTTPException(403, f"this key may not {scope} (its scopes: "
                                     f"{', '.join(sorted(key.scopes))})")  # fmt: skip
        wait = self.limiter.take(key.id, key.rate or self.settings.api_rate)
        if wait > 0:
            metrics.RATE_LIMITED.labels(key.id).inc()
            raise HTTPException(
                429,
                f"rate limit of {key.rate or self.settings.api_rate} requests/s exceeded",
                headers={"Retry-After": str(max(1, round(wait + 0.5)))},
            )
        return key

    def pseudonym(self, user_id: str) -> str:
        """The pseudonym of a raw user id from a path, or a 422 naming the problem."""
        if not user_id or len(user_id) > MAX_ID_LENGTH:
            raise HTTPException(422, f"user_id must have 1 to {MAX_ID_LENGTH} characters")
        return self.pseudonymizer.user(user_id)


class Json(Response):
    """A JSON answer rendered by orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def parse_json(body: bytes) -> Any:
    """A body as JSON whatever its content type (browser beacons send text/plain)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HTTPException(400, f"body is not valid JSON: {exc}") from None


async def body_as(request: Request, model: type[M], example: str) -> M:
    """The request's JSON body as ``model``, or the 400/422 that says what is wrong."""
    body = parse_json(await request.body())
    if not isinstance(body, dict):
        raise HTTPException(422, f"body must be an object like {example}")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


async def service(request: Request) -> Service:
    """The route's service (async: FastAPI would run a plain function in a thread)."""
    return request.app.state.service


#: A route's parameter for the service: ``svc: Svc``.
Svc = Annotated[Service, Depends(service)]
