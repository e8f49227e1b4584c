"""HTTP mechanics shared by the OpenAI-compatible client and the HTTP agent.

Both speak JSON over POST and must fail the same way: one ProviderError with a
kind the engine understands, whatever aiohttp raised or the server answered.
Bodies are read with a cap so a runaway or hostile endpoint cannot make a
worker hold an unbounded response in memory.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from runs.providers.errors import ErrorKind, ProviderError

# A malformed body is worth exactly one more attempt: a proxy that truncated
# one response usually passes the next, a provider that always answers garbage
# should not be paid max_attempts times per item.
BAD_RESPONSE_ATTEMPTS = 2

# 501 Not Implemented and 505 HTTP Version Not Supported will not change on
# retry; every other 5xx (including 520-529 from CDNs and "overloaded"
# gateways) is the server's transient trouble.
_PERMANENT_5XX = frozenset({501, 505})

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_ERROR_EXCERPT = 300


@dataclass(slots=True)
class RawResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes
    latency_ms: float


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    payload: Any,
    *,
    headers: Mapping[str, str],
    timeout: float,
    max_body_bytes: int,
) -> RawResponse:
    """POST ``payload`` as JSON; return the capped body or raise ProviderError.

    Only transport failures are raised here; the caller classifies statuses,
    because what a 200 must contain differs between a chat model and an agent.
    """
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    started = time.perf_counter()
    try:
        async with session.post(
            url, data=data, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as resp:
            body = await read_capped(resp, max_body_bytes, url=url)
            return RawResponse(
                resp.status, resp.headers, body, (time.perf_counter() - started) * 1000
            )
    except TimeoutError:
        # aiohttp's own timeout errors subclass TimeoutError, so this also
        # covers connect and socket-read timeouts.
        raise ProviderError(
            f"no response from {url} within {timeout:g}s", kind=ErrorKind.TIMEOUT, retryable=True
        ) from None
    except aiohttp.InvalidURL as exc:
        raise ProviderError(f"invalid URL {url!r}", kind=ErrorKind.CLIENT_ERROR) from exc
    except aiohttp.ClientError as exc:
        # Refused, reset, disconnected mid-body, DNS failure: all transient
        # from where we stand.
        raise ProviderError(
            f"connection to {url} failed: {type(exc).__name__}: {exc}",
            kind=ErrorKind.CONNECTION,
            retryable=True,
        ) from exc


async def read_capped(resp: aiohttp.ClientResponse, limit: int, *, url: str) -> bytes:
    """Read at most ``limit`` bytes of the body; past that, drop the connection.

    A declared Content-Length over the cap is refused before reading a byte.
    Compressed bodies are read through the stream, so the cap applies to the
    decompressed size (a small gzip can expand to gigabytes).
    """
    declared = resp.content_length
    if declared is not None and declared > limit:
        resp.close()
        raise _too_large(url, limit, declared, resp.status)
    if declared is not None and "Content-Encoding" not in resp.headers:
        return await resp.read()
    buf = bytearray()
    async for chunk in resp.content.iter_any():
        buf += chunk
        if len(buf) > limit:
            # close(), not release(): the rest of the body must never be read.
            resp.close()
            raise _too_large(url, limit, None, resp.status)
    return bytes(buf)


def _too_large(url: str, limit: int, declared: int | None, status: int) -> ProviderError:
    declared_text = f" (it declares {declared} bytes)" if declared is not None else ""
    return ProviderError(
        f"response from {url} exceeds the {limit}-byte limit{declared_text}",
        kind=ErrorKind.TOO_LARGE,
        status=status,
    )


def decode_json(response: RawResponse, *, who: str) -> Any:
    try:
        return json.loads(response.body)
    except ValueError:
        raise ProviderError(
            f"{who} returned a body that is not JSON: {_excerpt(response.body)!r}",
            kind=ErrorKind.BAD_RESPONSE,
            status=response.status,
            retryable=True,
            attempt_limit=BAD_RESPONSE_ATTEMPTS,
        ) from None


def error_from_status(response: RawResponse, *, who: str) -> ProviderError:
    """Classify a non-2xx answer, quoting the provider's own error message."""
    status = response.status
    message, code, error_type = _provider_error(response.body)
    text = f"{who} returned HTTP {status}: {message}"
    if status == 429 and "insufficient_quota" in (code, error_type):
        # OpenAI signals an empty balance with 429 too; waiting will not refill it.
        return ProviderError(text, kind=ErrorKind.QUOTA, status=status, quota_exhausted=True)
    if status == 402:
        # "Payment required": OpenRouter and others for exhausted credits.
        return ProviderError(text, kind=ErrorKind.QUOTA, status=status, quota_exhausted=True)
    if status == 429:
        return ProviderError(
            text,
            kind=ErrorKind.RATE_LIMITED,
            status=status,
            retryable=True,
            retry_after=retry_after_from(response.headers),
        )
    if status == 408:
        return ProviderError(text, kind=ErrorKind.TIMEOUT, status=status, retryable=True)
    if status >= 500:
        retryable = status not in _PERMANENT_5XX
        return ProviderError(
            text,
            kind=ErrorKind.SERVER_ERROR,
            status=status,
            retryable=retryable,
            retry_after=retry_after_from(response.headers) if retryable else None,
        )
    if status >= 400:
        return ProviderError(text, kind=ErrorKind.CLIENT_ERROR, status=status)
    # 1xx/3xx that aiohttp did not resolve (e.g. a redirect it may not follow).
    return ProviderError(text, kind=ErrorKind.BAD_RESPONSE, status=status)


def retry_after_from(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait, from whichever hint it sent.

    Order: ``retry-after-ms`` (OpenAI, Azure), ``Retry-After`` (seconds or an
    HTTP-date), then OpenAI's ``x-ratelimit-reset-{requests,tokens}``
    durations ("1s", "6m0s", "20ms"), preferring the limit whose
    ``x-ratelimit-remaining-*`` is 0, else the longer of the two.
    """
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if value:
        seconds = _parse_retry_after(value.strip())
        if seconds is not None:
            return seconds
    resets: list[float] = []
    for limit in ("requests", "tokens"):
        reset = headers.get(f"x-ratelimit-reset-{limit}")
        seconds = parse_duration(reset) if reset else None
        if seconds is None:
            continue
        if headers.get(f"x-ratelimit-remaining-{limit}", "").strip() == "0":
            return seconds
        resets.append(seconds)
    return max(resets) if resets else None


def _parse_retry_after(value: str) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def parse_duration(value: str) -> float | None:
    """``"1h2m3.5s"``, ``"6m0s"``, ``"20ms"`` or a bare number of seconds."""
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parts = _DURATION_PART.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)


def _provider_error(body: bytes) -> tuple[str, str | None, str | None]:
    """(message, code, type) from an OpenAI-style error body, or an excerpt."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            message = error.get("message") or _excerpt(body)
            return str(message), _str_or_none(error.get("code")), _str_or_none(error.get("type"))
        if isinstance(error, str) and error:
            return error, None, None
        # FastAPI / DRF style agents.
        for key in ("detail", "message"):
            if isinstance(data.get(key), str) and data[key]:
                return data[key], None, None
    return _excerpt(body) or "(empty body)", None, None


def provider_error_message(data: dict[str, Any]) -> str | None:
    """The message of an ``{"error": ...}`` object some gateways send with 200."""
    error = data.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error)
    if isinstance(error, str) and error:
        return error
    return None


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _excerpt(body: bytes) -> str:
    return body[:_ERROR_EXCERPT].decode("utf-8", "replace").strip()


def usage_tokens(data: dict[str, Any]) -> tuple[int, int]:
    """(prompt, completion) tokens from an OpenAI-style ``usage``; 0 if absent."""
    usage = data.get("usage")
    if not isinstance(usage, dict):
        return 0, 0
    return _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
