"""One error format across the native API: ``{"error": {"code", "message", "field"}}``.

Services raise :class:`~evalhub.errors.InvalidInput` (with its status, code
and field), DRF raises its own exceptions for authentication, permissions,
parsing, throttling and serializer validation; this handler renders them all
in the same envelope so a script needs one error path. The compat adapters
render their products' envelopes themselves before this handler is reached.
"""

from __future__ import annotations

import math

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from evalhub.errors import InvalidInput


def error_body(code: str, message: str, field: str | None = None) -> dict:
    return {"error": {"code": code, "message": message, "field": field}}


def native_exception_handler(exc, context) -> Response | None:
    """DRF ``EXCEPTION_HANDLER``: anything we can explain becomes the one envelope.

    Returns None for unexpected exceptions, so they still surface as a 500
    (and in the logs) instead of being disguised as a client error.
    """
    if isinstance(exc, InvalidInput):
        set_rollback()
        return Response(error_body(exc.code, exc.message, exc.field), status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None

    set_rollback()
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if isinstance(exc, exceptions.Throttled):
        headers["Retry-After"] = str(max(1, math.ceil(exc.wait or 1)))
    if isinstance(exc, exceptions.ValidationError):
        field, message, code = first_error(exc.detail)
        body = error_body(code or "invalid", message, field or None)
        return Response(body, status=status.HTTP_400_BAD_REQUEST, headers=headers)
    code = exc.detail.code if hasattr(exc.detail, "code") else exc.default_code
    return Response(error_body(code, str(exc.detail)), status=exc.status_code, headers=headers)


def first_error(detail, prefix: str = "") -> tuple[str, str, str]:
    """``(field, message, code)`` of the first error in a DRF error tree.

    Nested fields are dotted and list positions bracketed
    (``metrics[2].args``), the way services name fields in InvalidInput.
    """
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key in ("non_field_errors", "detail"):
                name = prefix
            elif isinstance(key, int):
                name = f"{prefix}[{key}]"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            return first_error(value, name)
    if isinstance(detail, list):
        for position, value in enumerate(detail):
            if isinstance(value, dict | list):
                if value:
                    return first_error(value, f"{prefix}[{position}]")
            else:
                return first_error(value, prefix)
        return prefix, "Invalid value.", "invalid"
    return prefix, str(detail), getattr(detail, "code", "invalid") or "invalid"
