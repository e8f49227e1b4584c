"""schemathesis against ``/api/schema/``: every documented operation, fuzzed through the WSGI app.

Bounded and reproducible: at most 10 examples per operation and pass, with
``derandomize=True`` (the same as ``--hypothesis-derandomize``: examples are
a function of the test alone). Authenticated as a member. Two passes: path
ids as generated (mostly objects that do not exist), then path ids pinned to
a small world of real objects so bodies and query strings reach the
services. Asserts what the issue asks: no 5xx, and no response that
contradicts the schema.
"""

import collections
import re

import pytest

from evalhub.models import ApiKey, Workspace
from tests.factories import LanguageModelFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

MAX_EXAMPLES = 10


@pytest.fixture
def wsgi_app():
    """The production WSGI app, minus closing the database connection after each request,
    which would end the test's transaction (Django's test client does the same)."""
    from django.core import signals
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def real_ids(w, key) -> list[tuple[str, dict]]:
    """Path prefix → path parameters naming the world's objects, first match wins."""
    return [
        ("/api/v1/datasets/", {"id": w.dataset.pk, "number": 1}),
        ("/api/v1/prompts/", {"id": w.prompt.pk, "number": 1}),
        ("/api/v1/eval-configs/", {"id": w.config.pk, "number": 1}),
        ("/api/v1/agents/", {"id": w.agent.pk}),
        ("/api/v1/reports/", {"id": w.report.pk}),
        ("/api/v1/runs/", {"id": w.run.pk}),
        ("/api/v1/logged-requests/", {"id": w.logged.pk}),
        ("/api/v1/workspaces/", {"id": w.workspace.pk}),
        ("/api/v1/organizations/", {"id": w.org.pk, "user_id": w.member.pk}),
        ("/api/v1/api-keys/", {"id": key.pk}),
        ("/api/v1/metrics/", {"id_or_slug": "exact_match"}),
        ("/api/v1/models/", {"slug": w.model.slug}),
        ("/compat/promptlayer/", {"report_id": w.report.pk}),
        ("/compat/trulayer/", {"dataset_id": str(w.dataset.uuid), "run_id": str(w.run.uuid)}),
        ("/compat/vogent/", {"config_id": str(w.config.uuid), "run_id": str(w.run.uuid)}),
        ("/compat/aymara/", {"run_uuid": str(w.run.uuid)}),
        ("/compat/aegis/", {"run_id": w.run.pk}),
    ]


def pinned(operation, w, key) -> dict | None:
    names = set(re.findall(r"\{(\w+)\}", operation.path))
    if not names or operation.method.upper() == "DELETE":  # deleting the world ends the test
        return None
    for prefix, ids in real_ids(w, key):
        if operation.path.startswith(prefix):
            return {name: ids[name] for name in names}
    raise AssertionError(f"no real ids for {operation.label}")


def test_schemathesis_finds_no_server_error_and_no_response_breaking_the_schema(
    world, member, key_for, monkeypatch, settings, wsgi_app
):
    import schemathesis
    from hypothesis import HealthCheck, Phase, given
    from hypothesis import settings as hypothesis_settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    from datasets.models import LoggedRequest
    from evalhub.api.throttling import ApiKeyThrottle

    # Fuzzing is not a rate-limit test; and a "blocking" run must not wait out the default.
    monkeypatch.setattr(ApiKeyThrottle, "THROTTLE_RATES", {"api_key": "1000000/min"})
    settings.EVALHUB_ENGINE = {**settings.EVALHUB_ENGINE, "BLOCKING_TIMEOUT": 0.2}
    world.member = member
    world.logged = LoggedRequest.objects.create(owner=member, organization=world.org, prompt="p")
    world.workspace = Workspace.objects.create(name="Team", organization=world.org)
    world.model = LanguageModelFactory(slug="gpt-4o-mini")
    raw = key_for(member)
    key = ApiKey.objects.get(key_hash=ApiKey.digest(raw))
    headers = {"Authorization": f"Bearer {raw}", "X-API-KEY": raw}
    statuses = collections.Counter()

    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app)
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        real = pinned(operation, world, key)
        for path_parameters in [None, real] if real else [None]:

            @hypothesis_settings(
                max_examples=MAX_EXAMPLES,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate],
            )
            @given(case=operation.as_strategy(path_parameters=path_parameters))
            def fuzz(case):
                response = case.call(headers=headers)
                statuses[response.status_code // 100] += 1
                # A fuzzed POST /api-keys/{id}/revoke/ may revoke our own key: keep using it.
                ApiKey.objects.filter(pk=key.pk).update(revoked_at=None)
                case.validate_response(
                    response, checks=[not_a_server_error, response_schema_conformance]
                )

            try:
                fuzz()
            except Exception as exc:  # collect every operation's failures, report them all
                failures.append(f"{operation.label} (ids {path_parameters}):\n{exc}")
    assert operations > 60
    assert statuses[2] > 200, statuses  # the world was reached, not only 404s
    assert not failures, "\n\n".join(failures)
