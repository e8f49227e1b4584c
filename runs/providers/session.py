"""The aiohttp session every provider call goes through.

One session per event loop (a worker's chunk), shared by all its calls, so
connections are reused across items instead of a TCP/TLS handshake per call.
"""

from __future__ import annotations

import aiohttp


def make_session(
    *, limit: int, timeout: float = 60.0, trust_env: bool = False
) -> aiohttp.ClientSession:
    """A pooled session allowing ``limit`` connections, all to one host if need be.

    Call it inside the running loop that will use it, and close it (``async
    with``) before that loop ends. ``limit_per_host`` equals ``limit`` because
    a chunk usually talks to one provider. ``timeout`` is only the fallback:
    each call passes its endpoint's own. ``trust_env`` (HTTP(S)_PROXY,
    .netrc) is off by default so a proxy set for the web process cannot
    silently capture calls to local models or the test server.
    """
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 10.0)),
        trust_env=trust_env,
    )
