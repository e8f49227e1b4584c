"""Rate limiting per API key, shared by the native API and the compat endpoints."""

from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle


class ApiKeyThrottle(SimpleRateThrottle):
    """Requests per API key (or per user for sessions), counted in the shared cache.

    The cache is Redis when ``REDIS_URL`` is set and the database cache
    otherwise, so the limit holds across processes and machines. The rate is
    ``API_THROTTLE_RATE`` (``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["api_key"]``).
    """

    scope = "api_key"

    def get_cache_key(self, request, view):
        auth = getattr(request, "auth", None)
        ident = f"key:{auth.pk}" if auth is not None and hasattr(auth, "pk") else None
        if ident is None and request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        if ident is None:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
