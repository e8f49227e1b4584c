"""The one exception every provider call raises, classified for the engine.

The engine never inspects HTTP statuses or aiohttp exceptions: it reads
``kind`` (what went wrong, for the item's error and the run's counters),
``retryable`` / ``retry_after`` (what ``with_retries`` does next) and
``quota_exhausted`` (stop the whole run: retrying cannot help and every other
item would hit the same wall).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runs.providers.openai_compat import ChatResult


class ErrorKind(StrEnum):
    """What went wrong. A StrEnum so ``err.kind == "timeout"`` reads naturally."""

    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    BAD_RESPONSE = "bad_response"
    CLIENT_ERROR = "client_error"
    QUOTA = "quota"
    REFUSAL = "refusal"
    TRUNCATED = "truncated"
    TOO_LARGE = "too_large"


class ProviderError(Exception):
    """A failed provider call (one attempt, or the last of several).

    ``attempt_limit`` caps the total attempts for this particular failure below
    the policy's ``max_attempts``: a malformed body is worth one more try (a
    flaky proxy truncated it) but not four (a provider that always answers
    garbage would be paid four times per item).

    ``partial`` carries the answer when the provider did answer but the answer
    is unusable (truncated, refused): its tokens were billed, so the engine
    still accounts for them.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind | str,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        quota_exhausted: bool = False,
        attempt_limit: int | None = None,
        partial: ChatResult | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = ErrorKind(kind)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.quota_exhausted = quota_exhausted
        self.attempt_limit = attempt_limit
        self.partial = partial
        # Set by with_retries on the error it finally raises.
        self.attempts = 1

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"ProviderError(kind={self.kind.value!r}, status={self.status!r}, "
            f"retryable={self.retryable!r}, message={self.message!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments defeat Exception's default pickling, and
        # django-q2 pickles a failed task's exception across processes.
        state = {**self.as_dict(), "attempt_limit": self.attempt_limit, "partial": self.partial}
        return (_rebuild, (state,))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe summary for RunItem.error and API responses."""
        return {
            "kind": self.kind.value,
            "message": self.message,
            "status": self.status,
            "retryable": self.retryable,
            "retry_after": self.retry_after,
            "quota_exhausted": self.quota_exhausted,
            "attempts": self.attempts,
        }


def _rebuild(state: dict[str, Any]) -> ProviderError:
    attempts = state.pop("attempts")
    err = ProviderError(state.pop("message"), **state)
    err.attempts = attempts
    return err
