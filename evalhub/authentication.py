"""API keys for scripts and CI: ``X-API-KEY: <key>`` or ``Authorization: Bearer <key>``."""

from __future__ import annotations

from rest_framework import authentication, exceptions

from evalhub.models import ApiKey


def raw_key_from(request) -> str | None:
    header = request.META.get("HTTP_X_API_KEY")
    if header:
        return header.strip()
    auth = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def authenticate_key(request) -> tuple | None:
    """``(user, api_key)`` for a valid key, None when no key was sent.

    Raises ``AuthenticationFailed`` for a key that was sent but is unknown,
    revoked or expired. The compat adapters call this too, then render the
    failure in their own envelope.
    """
    raw = raw_key_from(request)
    if raw is None:
        return None
    key = ApiKey.find(raw)
    if key is None:
        raise exceptions.AuthenticationFailed("Invalid, revoked or expired API key.")
    key.touch()
    return key.user, key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    www_authenticate_realm = "evalhub"

    def authenticate(self, request):
        return authenticate_key(request)

    def authenticate_header(self, request):
        return f'Bearer realm="{self.www_authenticate_realm}"'
