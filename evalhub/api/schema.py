"""OpenAPI documentation that the code cannot state by itself.

* The error envelope is the same on every native endpoint, so
  :class:`NativeAutoSchema` adds it to every operation instead of each view
  repeating it.
* API keys travel in ``Authorization: Bearer`` or ``X-API-KEY``: two
  alternative security schemes, described once here.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

BEARER = "ApiKeyBearer"
HEADER = "ApiKeyHeader"


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine word, e.g. `unknown_argument`.")
    message = serializers.CharField(help_text="What went wrong, for people.")
    field = serializers.CharField(
        allow_null=True, help_text="The input at fault (`metrics[0].args.k`, `line 17`), or null."
    )


class ErrorSerializer(serializers.Serializer):
    """The native API's one error envelope."""

    error = ErrorDetailSerializer()


ERROR_RESPONSES = {
    400: "Invalid input; `error.field` names the culprit.",
    401: "No API key or session, or the key is unknown, revoked or expired.",
    403: "Visible, but the caller's role does not allow this action.",
    404: "No such object, or the caller may not see it.",
    429: "Too many requests for this API key; see the `Retry-After` header.",
}


def error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=description)


class NativeAutoSchema(AutoSchema):
    """Documents the native error envelope on every operation of the native API."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status_code, description in ERROR_RESPONSES.items():
            if str(status_code) not in responses:
                responses[str(status_code)] = self._get_response_for_code(
                    error_response(description), str(status_code), direction=direction
                )
        return responses


def _api_key_definitions() -> list[dict]:
    return [
        {
            "type": "http",
            "scheme": "bearer",
            "description": "An evalhub API key: `Authorization: Bearer eh_…`.",
        },
        {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-KEY",
            "description": "The same API key in the `X-API-KEY` header.",
        },
    ]


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """``evalhub.authentication.ApiKeyAuthentication``: either header works (OR, not AND)."""

    target_class = "evalhub.authentication.ApiKeyAuthentication"
    name = [BEARER, HEADER]

    def get_security_requirement(self, auto_schema):
        return [{BEARER: []}, {HEADER: []}]

    def get_security_definition(self, auto_schema):
        return _api_key_definitions()


class XApiKeyScheme(OpenApiAuthenticationExtension):
    """PromptLayer's compat endpoints take the key in ``X-API-KEY`` only (seed 000)."""

    target_class = "runs.compat.promptlayer.XApiKeyAuthentication"
    name = "XApiKeyOnly"

    def get_security_definition(self, auto_schema):
        return _api_key_definitions()[1]
