"""Calls to an agent under test that is an HTTP endpoint rather than a model.

The agent receives the record's input as JSON and answers with JSON; the
answer text lives at ``output_field`` (a dotted path, so ``data.answer`` or
``choices.0.text`` reach nested fields). Failures are classified exactly like
model calls so the engine retries and reports them the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from runs.providers.errors import ErrorKind, ProviderError
from runs.providers.openai_compat import ChatResult
from runs.providers.session import make_session
from runs.providers.transport import decode_json, error_from_status, post_json, usage_tokens

__all__ = ["HttpAgentEndpoint", "call_http_agent", "make_session"]

_MISSING = object()


@dataclass(frozen=True, slots=True)
class HttpAgentEndpoint:
    """An agent's URL and headers (headers often hold its key, so not in ``repr``)."""

    url: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    timeout: float = 60.0
    output_field: str = "output"


async def call_http_agent(
    session: aiohttp.ClientSession,
    agent: HttpAgentEndpoint,
    payload: dict[str, Any],
    *,
    max_body_bytes: int = 2_000_000,
) -> ChatResult:
    """POST ``payload`` to the agent and return the text at ``output_field``.

    A non-string value (a number, an object) is returned as its JSON text so
    metrics always compare strings. Token counts come from an OpenAI-style
    ``usage`` object when the agent reports one, else 0. A missing or null
    field is a bad_response that is not retried: it is nearly always a wrong
    ``output_field`` in the agent's configuration, and the message names it.
    """
    headers = {"Content-Type": "application/json", **agent.headers}
    response = await post_json(
        session,
        agent.url,
        payload,
        headers=headers,
        timeout=agent.timeout,
        max_body_bytes=max_body_bytes,
    )
    who = f"agent {agent.url}"
    if not 200 <= response.status < 300:
        raise error_from_status(response, who=who)
    data = decode_json(response, who=who)
    value = _lookup(data, agent.output_field)
    if value is _MISSING or value is None:
        raise ProviderError(
            f"{who} response has no field {agent.output_field!r}",
            kind=ErrorKind.BAD_RESPONSE,
            status=response.status,
        )
    content = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    prompt_tokens, completion_tokens = usage_tokens(data) if isinstance(data, dict) else (0, 0)
    top = agent.output_field.split(".", 1)[0]
    raw = {k: v for k, v in data.items() if k != top} if isinstance(data, dict) else {}
    return ChatResult(
        content=content,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        finish_reason=None,
        model=None,
        latency_ms=response.latency_ms,
        raw=raw,
    )


def _lookup(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part, _MISSING)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return _MISSING
        if data is _MISSING:
            return _MISSING
    return data
