"""Seed 001 (TruLayer): POST /v1/datasets/{id}/runs → 202 EvalRun; GET /v1/eval-runs/{id}."""

import uuid

import pytest

from runs.models import Run
from tests.compat.conftest import assert_matches
from tests.runs.conftest import make_config

pytestmark = pytest.mark.django_db

EVAL_RUN = {
    "type": "object",
    "required": [
        "id",
        "tenant_id",
        "dataset_id",
        "eval_version_id",
        "status",
        "item_count",
        "completed_count",
        "created_at",
    ],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "tenant_id": {"type": "string", "format": "uuid"},
        "dataset_id": {"type": "string", "format": "uuid"},
        "eval_version_id": {"type": "string", "format": "uuid"},
        "status": {"enum": ["pending", "running", "completed", "failed"]},
        "item_count": {"type": "integer"},
        "completed_count": {"type": "integer"},
        "started_at": {"type": ["string", "null"], "format": "date-time"},
        "completed_at": {"type": ["string", "null"], "format": "date-time"},
        "error_message": {"type": ["string", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}


@pytest.fixture
def eval_version(member, org, qa_dataset):
    return make_config(
        owner=member, organization=org, dataset=qa_dataset, metrics=[("exact_match", {})]
    )


def auth(key):
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def test_scheduling_against_a_dataset_answers_202_with_an_eval_run(
    post_json, member_key, qa_dataset, eval_version, org
):
    response = post_json(
        f"/compat/trulayer/v1/datasets/{qa_dataset.uuid}/runs",
        {"eval_version_id": str(eval_version.uuid)},
        **auth(member_key),
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert_matches(EVAL_RUN, body)
    assert body["status"] == "pending"
    assert body["tenant_id"] == str(org.uuid)
    assert body["eval_version_id"] == str(eval_version.uuid)
    assert body["item_count"] == 2 and body["completed_count"] == 0


def test_a_dataset_version_id_is_accepted_too(post_json, member_key, qa_dataset, eval_version):
    version = qa_dataset.latest_version()
    response = post_json(
        f"/compat/trulayer/v1/datasets/{version.uuid}/runs",
        {"eval_version_id": str(eval_version.uuid)},
        **auth(member_key),
    )
    assert response.status_code == 202
    assert Run.objects.get().dataset_version == version


def test_polling_shows_lowercase_completion(
    post_json, client, member_key, qa_dataset, eval_version, transactional_db
):
    created = post_json(
        f"/compat/trulayer/v1/datasets/{qa_dataset.uuid}/runs",
        {"eval_version_id": str(eval_version.uuid)},
        **auth(member_key),
    ).json()
    polled = client.get(f"/compat/trulayer/v1/eval-runs/{created['id']}", **auth(member_key))
    assert polled.status_code == 200
    body = polled.json()
    assert_matches(EVAL_RUN, body)
    assert body["status"] == "completed"
    assert body["completed_count"] == body["item_count"] == 2
    assert body["completed_at"] is not None


@pytest.mark.parametrize("which", ["dataset", "eval_version", "eval_run"])
def test_unknown_ids_are_404_with_an_error_string(
    post_json, client, member_key, qa_dataset, eval_version, which
):
    if which == "eval_run":
        response = client.get(f"/compat/trulayer/v1/eval-runs/{uuid.uuid4()}", **auth(member_key))
    else:
        dataset_id = uuid.uuid4() if which == "dataset" else qa_dataset.uuid
        version_id = uuid.uuid4() if which == "eval_version" else eval_version.uuid
        response = post_json(
            f"/compat/trulayer/v1/datasets/{dataset_id}/runs",
            {"eval_version_id": str(version_id)},
            **auth(member_key),
        )
    assert response.status_code == 404
    assert_matches(ERROR, response.json())


def test_another_tenants_dataset_is_404(post_json, outsider, key_for, qa_dataset, eval_version):
    response = post_json(
        f"/compat/trulayer/v1/datasets/{qa_dataset.uuid}/runs",
        {"eval_version_id": str(eval_version.uuid)},
        **auth(key_for(outsider)),
    )
    assert response.status_code == 404
    assert not Run.objects.exists()


def test_a_missing_eval_version_id_is_refused_with_the_error_envelope(
    post_json, member_key, qa_dataset
):
    response = post_json(
        f"/compat/trulayer/v1/datasets/{qa_dataset.uuid}/runs", {}, **auth(member_key)
    )
    assert response.status_code == 400
    assert_matches(ERROR, response.json())
    assert "eval_version_id" in response.json()["error"]


def test_no_key_is_401(post_json, qa_dataset, eval_version):
    response = post_json(
        f"/compat/trulayer/v1/datasets/{qa_dataset.uuid}/runs",
        {"eval_version_id": str(eval_version.uuid)},
    )
    assert response.status_code == 401
    assert_matches(ERROR, response.json())


def test_a_viewer_cannot_schedule_runs(post_json, viewer, key_for, qa_dataset, eval_version):
    response = post_json(
        f"/compat/trulayer/v1/datasets/{qa_dataset.uuid}/runs",
        {"eval_version_id": str(eval_version.uuid)},
        **auth(key_for(viewer)),
    )
    assert response.status_code == 403
    assert not Run.objects.exists()
