"""The native API's test helpers: an HTTP client per member of the cast, and a small world.

``as_(key)`` gives a client that sends ``Authorization: Bearer <key>``;
``world`` is one organization's dataset, config, prompt, agent, report and a
finished run, all shared with the org, so the cast's roles decide.
"""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from runs.definitions import agent_create, prompt_create, report_create
from runs.services import run_create_from_dataset
from tests.runs.conftest import make_config, make_dataset

API = "/api/v1"


class Client:
    """A thin JSON client for one API key (or none)."""

    def __init__(self, key: str | None = None):
        self.http = APIClient()
        if key:
            self.http.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    def _url(self, path: str) -> str:
        return path if path.startswith(("/api/", "/compat/", "http")) else f"{API}{path}"

    def get(self, path, params=None, **headers):
        return self.http.get(self._url(path), params or {}, **headers)

    def post(self, path, body=None, **headers):
        return self.http.post(
            self._url(path),
            json.dumps(body if body is not None else {}),
            content_type="application/json",
            **headers,
        )

    def patch(self, path, body=None, **headers):
        return self.http.patch(
            self._url(path), json.dumps(body or {}), content_type="application/json", **headers
        )

    def delete(self, path, **headers):
        return self.http.delete(self._url(path), **headers)

    def upload(self, path, filename: str, content: bytes, **fields):
        from django.core.files.uploadedfile import SimpleUploadedFile

        data = {"file": SimpleUploadedFile(filename, content), **fields}
        return self.http.post(self._url(path), data, format="multipart")


@pytest.fixture(autouse=True)
def _forget_throttle_counts(request):
    """After each test, drop the request counts of the API keys it used.

    With Redis the counts outlive the test database, and a key of the next
    session may get the same id. Only these keys: flushing the shared cache
    would disturb whatever else uses it.
    """
    yield
    if "_django_db_helper" not in request.fixturenames:
        return
    from django.core.cache import cache

    from evalhub.api.throttling import ApiKeyThrottle
    from evalhub.models import ApiKey

    cache.delete_many(
        [
            ApiKeyThrottle.cache_format % {"scope": "api_key", "ident": f"key:{pk}"}
            for pk in ApiKey.objects.values_list("pk", flat=True)
        ]
    )


@pytest.fixture
def as_(db):
    return Client


@pytest.fixture
def anonymous():
    return Client()


@pytest.fixture
def member_api(member, key_for):
    return Client(key_for(member))


@pytest.fixture
def owner_api(owner, key_for):
    return Client(key_for(owner))


@pytest.fixture
def viewer_api(viewer, key_for):
    return Client(key_for(viewer))


@pytest.fixture
def outsider_api(outsider, key_for):
    return Client(key_for(outsider))


def qa_rows(n=10, right=7):
    return [
        {
            "input": {"question": f"What is {i} + {i}?"},
            "expected_output": str(2 * i),
            "actual_output": str(2 * i) if i < right else "no idea",
        }
        for i in range(n)
    ]


def finished_run(django_capture_on_commit_callbacks, **kw):
    """A run started by the service and executed inline (django-q2 is synchronous in tests)."""
    with django_capture_on_commit_callbacks(execute=True):
        run = run_create_from_dataset(**kw)
    run.refresh_from_db()
    return run


@pytest.fixture
def world(db, org, owner, member, viewer, django_capture_on_commit_callbacks):
    """One org's objects of every kind, owned by the member and shared with the org."""
    from types import SimpleNamespace

    dataset = make_dataset(owner=member, organization=org, records=qa_rows(), name="Support QA")
    config_version = make_config(
        owner=member, organization=org, dataset=dataset, metrics=[("exact_match", {})]
    )
    prompt_version = prompt_create(
        actor=member, name="Answerer", template="Answer: {{ question }}", organization=org
    )
    agent = agent_create(
        actor=member,
        name="Bot",
        kind="http",
        endpoint_url="http://127.0.0.1:9/answer",
        organization=org,
    )
    report = report_create(
        actor=member,
        name="Pipeline",
        dataset=dataset,
        eval_config=config_version.config,
        organization=org,
    )
    run = finished_run(
        django_capture_on_commit_callbacks, actor=member, dataset=dataset, threshold=60
    )
    return SimpleNamespace(
        org=org,
        dataset=dataset,
        version=dataset.latest_version(),
        config=config_version.config,
        config_version=config_version,
        prompt=prompt_version.prompt,
        prompt_version=prompt_version,
        agent=agent,
        report=report,
        run=run,
    )
