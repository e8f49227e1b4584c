"""What the five compatibility adapters share: API-key auth and error envelopes.

Each adapter maps one product's contract onto the run services and nothing
more. They differ in how an error looks on the wire, so each subclass says how
to render one (:meth:`CompatView.error_body`) and how our error codes map onto
its status codes (:attr:`CompatView.status_for_code`).
"""

from __future__ import annotations

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from evalhub.api.throttling import ApiKeyThrottle
from evalhub.authentication import ApiKeyAuthentication
from evalhub.errors import InvalidInput


class CompatView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    throttle_classes = [ApiKeyThrottle]
    # Our InvalidInput.code → this product's status; unlisted codes use err.status.
    status_for_code: dict[str, int] = {}
    product = ""

    def error_body(
        self, status_code: int, message: str, *, field: str | None = None, code: str = ""
    ) -> dict:
        raise NotImplementedError

    def error(
        self, status_code: int, message: str, *, field=None, code="", headers=None
    ) -> Response:
        return Response(
            self.error_body(status_code, message, field=field, code=code),
            status=status_code,
            headers=headers,
        )

    @property
    def acting_organization(self):
        key = getattr(self.request, "auth", None)
        return getattr(key, "organization", None)

    def handle_exception(self, exc):
        if isinstance(exc, InvalidInput):
            code = self.status_for_code.get(exc.code, exc.status)
            return self.error(code, exc.message, field=exc.field, code=exc.code)
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            return self.error(
                status.HTTP_401_UNAUTHORIZED,
                "Missing or invalid API key."
                if isinstance(exc, exceptions.NotAuthenticated)
                else str(exc.detail),
                code="unauthorized",
                headers={"WWW-Authenticate": 'Bearer realm="evalhub"'},
            )
        if isinstance(exc, exceptions.Throttled):
            wait = int(exc.wait or 1)
            return self.error(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"Too many requests; retry in {wait} s.",
                code="rate_limited",
                headers={"Retry-After": str(wait)},
            )
        if isinstance(exc, exceptions.ParseError):
            return self.error(
                self.parse_error_status, f"Malformed JSON body: {exc.detail}", code="invalid_json"
            )
        if isinstance(exc, exceptions.UnsupportedMediaType):
            return self.error(
                self.parse_error_status, str(exc.detail), code="unsupported_media_type"
            )
        if isinstance(exc, exceptions.MethodNotAllowed):
            return self.error(405, str(exc.detail), code="method_not_allowed")
        if isinstance(exc, exceptions.PermissionDenied):
            return self.error(403, str(exc.detail), code="forbidden")
        if isinstance(exc, exceptions.NotFound):
            return self.error(404, str(exc.detail), code="not_found")
        return super().handle_exception(exc)

    parse_error_status = 400

    def body(self) -> dict:
        data = self.request.data
        if not isinstance(data, dict):
            raise InvalidInput(
                "The request body must be a JSON object.", field="body", code="invalid_body"
            )
        return data


def first_error(errors, prefix="") -> tuple[str, str]:
    """``(field, message)`` of the first error in a DRF ``serializer.errors`` tree."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = key if not prefix else f"{prefix}.{key}"
            if key == "non_field_errors":
                name = prefix or "body"
            return first_error(value, name)
    if isinstance(errors, list) and errors:
        if isinstance(errors[0], dict | list):
            for i, value in enumerate(errors):
                if value:
                    return first_error(value, f"{prefix}[{i}]")
        return prefix, str(errors[0])
    return prefix, str(errors)
