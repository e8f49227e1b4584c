"""Fixtures of the page tests: the cast logged in, an org dataset, finished and active runs."""

from __future__ import annotations

import pytest
from django.test import Client

from runs.services import run_create_from_dataset
from tests.runs.conftest import make_config, make_dataset

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def client_for(db):
    """``client_for(user)`` → a test client logged in as ``user``."""

    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def qa_rows():
    """Ten records: seven answered right, three wrong."""
    return [
        {
            "input": {"question": f"What is {i} + {i}?"},
            "expected_output": str(2 * i),
            "actual_output": str(2 * i) if i < 7 else "no idea",
        }
        for i in range(10)
    ]


@pytest.fixture
def dataset(owner, org, qa_rows):
    """A dataset of Acme's, with exact_match selected."""
    return make_dataset(owner=owner, organization=org, records=qa_rows, name="Acme QA")


@pytest.fixture
def config_version(owner, org, dataset):
    return make_config(
        owner=owner,
        organization=org,
        dataset=dataset,
        metrics=[("exact_match", {}), ("levenshtein", {"threshold": 0.8})],
        threshold=60,
    )


@pytest.fixture
def finish(django_capture_on_commit_callbacks):
    """Run ``fn`` and execute the chunk tasks it queues (django-q2 is synchronous in tests)."""

    def call(fn, **kw):
        with django_capture_on_commit_callbacks(execute=True):
            result = fn(**kw)
        result.refresh_from_db()
        return result

    return call


@pytest.fixture
def finished_run(owner, dataset, finish):
    return finish(
        run_create_from_dataset, actor=owner, dataset=dataset, threshold=60, alias="first"
    )


@pytest.fixture
def active_run(owner, dataset, django_capture_on_commit_callbacks):
    """A run written but not executed: pending, as a worker has not picked it up yet."""
    with django_capture_on_commit_callbacks(execute=False):
        return run_create_from_dataset(actor=owner, dataset=dataset, alias="busy")
