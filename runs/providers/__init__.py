"""Calls to the outside world: OpenAI-compatible models and HTTP agents.

Everything here is async on aiohttp, holds no global state, and reports every
failure as one classified ProviderError (see errors.py for the kinds).
"""

from runs.providers.errors import ErrorKind, ProviderError
from runs.providers.http_agent import HttpAgentEndpoint, call_http_agent
from runs.providers.openai_compat import ChatResult, Endpoint, chat
from runs.providers.retry import RetryPolicy, with_retries
from runs.providers.session import make_session

__all__ = [
    "ChatResult",
    "Endpoint",
    "ErrorKind",
    "HttpAgentEndpoint",
    "ProviderError",
    "RetryPolicy",
    "call_http_agent",
    "chat",
    "make_session",
    "with_retries",
]
