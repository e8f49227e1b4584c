"""The OpenAPI 3 schema and its offline documentation pages."""

import re

import pytest
from drf_spectacular.generators import EndpointEnumerator
from jsonschema import Draft4Validator

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def openapi_30_meta_schema() -> dict:
    # The official OpenAPI 3.0 schema, as bundled with schemathesis (no network needed).
    from schemathesis.specs.openapi import definitions

    return definitions.OPENAPI_30


def test_the_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.0")
    assert {"info", "paths", "components"} <= set(schema)
    errors = list(Draft4Validator(openapi_30_meta_schema()).iter_errors(schema))
    assert not errors, errors[0].message


def test_every_native_and_compat_endpoint_is_documented(schema):
    routed = {
        re.sub(r"\{(\w+)\}", "{}", path)
        for path, _, _, _ in EndpointEnumerator().get_api_endpoints()
        if path.startswith(("/api/v1/", "/compat/"))
    }
    documented = {re.sub(r"\{(\w+)\}", "{}", p) for p in schema["paths"]}
    assert routed and routed <= documented, sorted(routed - documented)
    for compat in ("promptlayer", "trulayer", "vogent", "aymara", "aegis"):
        assert sum(p.startswith(f"/compat/{compat}/") for p in documented) == 2


def test_every_create_endpoint_has_an_example(schema):
    for path, operations in schema["paths"].items():
        post = operations.get("post")
        if not post or not path.startswith("/api/v1/") or "requestBody" not in post:
            continue
        if path.endswith(("/cancel/", "/revoke/", "/refresh/", "/upload/", "/baseline/")):
            continue
        content = post["requestBody"]["content"]
        assert any("examples" in c for c in content.values()), path


def test_native_errors_are_documented_with_the_envelope(schema):
    responses = schema["paths"]["/api/v1/runs/{id}/"]["get"]["responses"]
    assert {"401", "404", "429"} <= set(responses)
    ref = responses["404"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/Error")


def test_api_keys_are_documented_as_bearer_or_header(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiKeyBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An evalhub API key: `Authorization: Bearer eh_…`.",
    }
    assert schemes["ApiKeyHeader"]["name"] == "X-API-KEY"


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_the_docs_pages_load_nothing_from_the_internet(client, page):
    response = client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    assert "cdn" not in html.lower()
    assert not re.search(r"""(src|href)=["']https?://""", html), html
    assert "drf_spectacular_sidecar" in html


def test_the_schema_generates_without_a_single_warning(tmp_path):
    """drf-spectacular's own strict mode: unnamed enums, unresolvable serializers or
    untyped fields would each be a warning (and a vaguer schema for clients)."""
    from django.core.management import call_command

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(out))
    text = out.read_text()
    assert "RunStatusEnum" in text and "ItemStatusEnum" in text
