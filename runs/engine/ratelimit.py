"""A per-model rate limit shared by every worker on every machine.

GCRA (the generic cell rate algorithm): each model has a "theoretical arrival
time"; a caller reserves the next slot and sleeps until it. Requests are thus
spaced evenly at ``60 / rpm`` seconds, which never exceeds the limit in *any*
sliding minute, unlike fixed one-minute windows that allow a double burst at
the boundary. Tokens per minute work the same way with a cost of N tokens.

The state lives in Redis when REDIS_URL is set (one atomic Lua call), else in
the database (one row per model, updated under a row lock).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from django.conf import settings

# A little burst tolerance keeps concurrent callers from queueing behind each
# other for microseconds; it is small enough never to break a sliding minute.
BURST_SECONDS = 0.0

_LUA = """
local now = tonumber(ARGV[1])
local req_interval = tonumber(ARGV[2])
local tok_interval = tonumber(ARGV[3])
local tokens = tonumber(ARGV[4])
local wait = 0
if req_interval > 0 then
  local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  if tat < now then tat = now end
  wait = tat - now
  redis.call('SET', KEYS[1], tostring(tat + req_interval), 'PX', math.ceil((tat + req_interval - now) * 1000) + 60000)
end
if tok_interval > 0 and tokens > 0 then
  local ttat = tonumber(redis.call('GET', KEYS[2]) or '0')
  if ttat < now then ttat = now end
  local twait = ttat - now
  if twait > wait then wait = twait end
  redis.call('SET', KEYS[2], tostring(ttat + tok_interval * tokens), 'PX', math.ceil((ttat + tok_interval * tokens - now) * 1000) + 60000)
end
return tostring(wait)
"""


@dataclass(frozen=True)
class Limit:
    """A model's limits. ``margin`` widens the spacing a little (0.02: slots
    2 % further apart than the limit allows): a provider counts requests when
    they arrive, and a slot taken a few milliseconds late puts the next one
    exactly a minute after a neighbour, which a sliding window refuses."""

    key: str
    rpm: int | None
    tpm: int | None
    margin: float = 0.0

    @property
    def active(self) -> bool:
        return bool(self.rpm) or bool(self.tpm)

    @property
    def request_interval(self) -> float:
        return 60.0 * (1 + self.margin) / self.rpm if self.rpm else 0.0

    @property
    def token_interval(self) -> float:
        return 60.0 * (1 + self.margin) / self.tpm if self.tpm else 0.0


def limit_for(model) -> Limit:
    return Limit(
        key=f"model:{model.slug}",
        rpm=model.rpm_limit,
        tpm=model.tpm_limit,
        margin=settings.EVALHUB_ENGINE["RATE_LIMIT_MARGIN"],
    )


class RedisLimiter:
    def __init__(self, url: str):
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(url)
        self._script = self._redis.register_script(_LUA)

    async def reserve(self, limit: Limit, tokens: int) -> float:
        now = time.time()
        wait = await self._script(
            keys=[f"evalhub:rl:{limit.key}:req", f"evalhub:rl:{limit.key}:tok"],
            args=[repr(now), repr(limit.request_interval), repr(limit.token_interval), tokens],
        )
        return float(wait)

    async def close(self) -> None:
        await self._redis.aclose()


class DatabaseLimiter:
    """The embedded fallback: same algorithm, one locked row per model.

    ``proxy`` (a :class:`runs.engine.dbproxy.DatabaseProxy`) runs the update
    on the chunk task's thread; without one it runs inline.
    """

    def __init__(self, proxy=None):
        self._proxy = proxy

    async def reserve(self, limit: Limit, tokens: int) -> float:
        if self._proxy is None:
            from asgiref.sync import sync_to_async

            return await sync_to_async(self._reserve)(limit, tokens)
        return await self._proxy.call(self._reserve, limit, tokens)

    @staticmethod
    def _reserve(limit: Limit, tokens: int) -> float:
        from django.db import transaction

        from runs.models import RateLimitState

        now = time.time()
        with transaction.atomic():
            state, _ = RateLimitState.objects.select_for_update().get_or_create(key=limit.key)
            wait = 0.0
            if limit.request_interval:
                tat = max(state.request_tat, now)
                wait = tat - now
                state.request_tat = tat + limit.request_interval
            if limit.token_interval and tokens:
                ttat = max(state.token_tat, now)
                wait = max(wait, ttat - now)
                state.token_tat = ttat + limit.token_interval * tokens
            state.save()
        return wait

    async def close(self) -> None:
        return None


def make_limiter(proxy=None):
    url = settings.REDIS_URL
    return RedisLimiter(url) if url else DatabaseLimiter(proxy)


async def acquire(limiter, limit: Limit, tokens: int = 0) -> float:
    """Wait for this caller's slot; returns the seconds waited."""
    if not limit.active:
        return 0.0
    wait = await limiter.reserve(limit, tokens)
    if wait > BURST_SECONDS:
        await asyncio.sleep(wait)
    return wait
