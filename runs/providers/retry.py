"""Retrying a provider call: exponential backoff with jitter, honouring Retry-After.

Kept apart from the call itself so the engine decides what one attempt is
(e.g. acquire the shared rate limiter, then call) and can count, log and
cancel between attempts through ``on_retry``.
"""

from __future__ import annotations

import asyncio
import inspect
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from runs.providers.errors import ProviderError

T = TypeVar("T")

OnRetry = Callable[[ProviderError, int, float], object]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``max_attempts`` counts the first try; ``jitter`` is a fraction of the delay."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.2

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        The server's Retry-After wins when given, unjittered, because it
        knows when its window reopens; it is still capped at ``max_delay`` so
        a provider asking for an hour cannot park a worker. Herds of workers
        retrying at once are the shared rate limiter's job, not this one's.
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        # The exponent is clamped so a huge attempt number cannot overflow a float.
        backoff = min(self.base_delay * 2.0 ** min(attempt - 1, 60), self.max_delay)
        if self.jitter:
            backoff *= 1 + random.uniform(-self.jitter, self.jitter)
        return min(max(backoff, 0.0), self.max_delay)


async def with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: OnRetry | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """Await ``call()`` until it succeeds, fails permanently or runs out of attempts.

    Only ProviderError is retried, and only when ``retryable``; an error's own
    ``attempt_limit`` (e.g. one retry for a malformed body) tightens the
    policy. The error finally raised carries ``attempts``. ``on_retry(error,
    attempt, delay)`` runs before each wait and may be a coroutine function.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except ProviderError as error:
            error.attempts = attempt
            limit = policy.max_attempts
            if error.attempt_limit is not None:
                limit = min(limit, error.attempt_limit)
            if not error.retryable or attempt >= limit:
                raise
            delay = policy.delay(attempt, error.retry_after)
            if on_retry is not None:
                outcome = on_retry(error, attempt, delay)
                if inspect.isawaitable(outcome):
                    await outcome
            await sleep(delay)
