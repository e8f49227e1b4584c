"""The network side of a chunk: generation and judge calls, concurrently.

Runs inside one ``asyncio.run`` per chunk with one aiohttp session. The
database is touched only before (prefetching cached answers) and after
(writing results) by the caller; here there is only the network, the shared
rate limiter and a cancel flag.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field

from runs.engine import ratelimit
from runs.providers.errors import ProviderError
from runs.providers.http_agent import HttpAgentEndpoint, call_http_agent
from runs.providers.openai_compat import Endpoint, chat
from runs.providers.retry import RetryPolicy, with_retries


def cache_key(model: str, messages, params: dict | None, trial: int = 0) -> str:
    """Identity of a call: same model, messages and params → same answer, reused."""
    blob = json.dumps(
        {"m": model, "msg": messages, "p": params or {}, "t": trial},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class Call:
    """One request to make: a chat completion or an HTTP agent call."""

    key: str
    model: object | None  # LanguageModel for chat calls
    messages: list | None = None
    params: dict = field(default_factory=dict)
    json_mode: bool = False
    agent: HttpAgentEndpoint | None = None
    payload: dict | None = None


@dataclass
class Outcome:
    content: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float | None = None
    cached: bool = False
    error: str = ""
    error_kind: str = ""
    attempts: int = 0


class Fatal(Exception):
    """Stops the whole run (an exhausted quota): no other call can succeed either."""


@dataclass
class CallContext:
    session: object
    limiter: object
    policy: RetryPolicy
    concurrency: int
    timeout: float
    max_body_bytes: int
    cached: dict[str, dict]
    is_cancelled: object  # () -> bool
    fatal: str = ""
    new_cache: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self):
        self.semaphore = asyncio.Semaphore(self.concurrency)


async def perform(ctx: CallContext, call: Call) -> Outcome:
    """Make one call (or reuse its cached answer), retrying as the policy allows."""
    hit = ctx.cached.get(call.key) or ctx.new_cache.get(call.key)
    if hit is not None:
        return Outcome(
            content=hit["content"],
            prompt_tokens=hit["prompt_tokens"],
            completion_tokens=hit["completion_tokens"],
            latency_ms=0.0,
            cached=True,
        )
    async with ctx.semaphore:
        if ctx.fatal:
            return Outcome(error=ctx.fatal, error_kind="quota")
        if ctx.is_cancelled():
            return Outcome(error="cancelled", error_kind="cancelled")
        attempts = 0

        async def attempt():
            nonlocal attempts
            attempts += 1
            if call.agent is not None:
                return await call_http_agent(
                    ctx.session, call.agent, call.payload or {}, max_body_bytes=ctx.max_body_bytes
                )
            model = call.model
            limit = ratelimit.limit_for(model)
            est_tokens = _estimate_tokens(call.messages) if limit.tpm else 0
            await ratelimit.acquire(ctx.limiter, limit, est_tokens)
            endpoint = Endpoint(
                base_url=model.resolved_base_url,
                api_key=model.resolved_api_key or None,
                model=model.api_model_name,
                timeout=ctx.timeout,
            )
            return await chat(
                ctx.session,
                endpoint,
                call.messages,
                call.params,
                max_body_bytes=ctx.max_body_bytes,
                json_mode=call.json_mode and model.supports_json_mode,
            )

        try:
            result = await with_retries(attempt, ctx.policy)
        except ProviderError as err:
            if err.quota_exhausted:
                ctx.fatal = f"Provider quota exhausted: {err.message}"
                return Outcome(error=ctx.fatal, error_kind="quota", attempts=attempts)
            outcome = Outcome(error=err.message, error_kind=str(err.kind), attempts=attempts)
            if err.partial is not None:
                outcome.prompt_tokens = err.partial.prompt_tokens
                outcome.completion_tokens = err.partial.completion_tokens
            return outcome
    entry = {
        "content": result.content,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "model": getattr(call.model, "slug", "agent"),
    }
    ctx.new_cache[call.key] = entry
    return Outcome(
        content=result.content,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        latency_ms=result.latency_ms,
        attempts=attempts,
    )


def _estimate_tokens(messages) -> int:
    chars = sum(len(str(m.get("content", ""))) for m in messages or [])
    return chars // 4 + 256


async def perform_all(ctx: CallContext, calls: list[Call]) -> list[Outcome]:
    return await asyncio.gather(*(perform(ctx, c) for c in calls))
