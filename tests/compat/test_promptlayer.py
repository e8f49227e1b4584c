"""Seed 000 (PromptLayer): POST /reports/{report_id}/run → 201 {success, report_id}."""

import pytest

from datasets.models import Dataset
from runs.models import Report, Run
from tests.compat.conftest import assert_matches
from tests.factories import LoggedRequestFactory, ReportFactory
from tests.runs.conftest import make_config, make_dataset

pytestmark = pytest.mark.django_db

CREATED = {
    "type": "object",
    "required": ["success", "report_id"],
    "properties": {"success": {"type": "boolean"}, "report_id": {"type": "integer"}},
}
ERROR = {
    "type": "object",
    "required": ["success", "message"],
    "properties": {"success": {"const": False}, "message": {"type": "string"}},
}


@pytest.fixture
def pipeline(member, org, qa_dataset):
    version = make_config(
        owner=member, organization=org, dataset=qa_dataset, metrics=[("exact_match", {})]
    )
    return ReportFactory(
        owner=member,
        organization=org,
        kind="pipeline",
        dataset=qa_dataset,
        eval_config=version.config,
    )


def url(report):
    return f"/compat/promptlayer/reports/{report.pk}/run"


def auth(key):
    return {"HTTP_X_API_KEY": key}


def test_running_a_pipeline_creates_a_final_report_and_answers_201(
    post_json, client, member_key, pipeline, transactional_db
):
    response = post_json(url(pipeline), {"name": "Nightly 42"}, **auth(member_key))
    assert response.status_code == 201, response.content
    body = response.json()
    assert_matches(CREATED, body)
    final = Report.objects.get(pk=body["report_id"])
    assert final.kind == "final" and final.name == "Nightly 42" and final.pipeline == pipeline
    polled = client.get(f"/compat/promptlayer/reports/{final.pk}", **auth(member_key)).json()
    assert polled["success"] is True
    assert polled["report"]["status"] == "COMPLETED"
    assert polled["report"]["score"] is not None


def test_dataset_id_replaces_the_pipelines_default_dataset(
    post_json, member_key, pipeline, member, org
):
    other = make_dataset(
        owner=member, organization=org, records=[{"expected_output": "x", "actual_output": "x"}]
    )
    response = post_json(
        url(pipeline), {"name": "on other", "dataset_id": other.pk}, **auth(member_key)
    )
    assert response.status_code == 201
    assert Run.objects.get().dataset == other


def test_refreshing_a_dynamic_dataset_snapshots_logged_requests_first(
    post_json, member_key, member, org
):
    dynamic = Dataset.objects.create(
        name="prod traffic",
        kind="dynamic",
        owner=member,
        organization=org,
        filter={"model": "gpt-4o"},
    )
    LoggedRequestFactory(
        owner=member, organization=org, model="gpt-4o", prompt="hi", response="hello"
    )
    LoggedRequestFactory(
        owner=member, organization=org, model="gpt-3.5", prompt="old", response="old"
    )
    # Logged traffic has answers but no expected outputs: score with a metric that needs none.
    version = make_config(
        owner=member,
        organization=org,
        dataset=dynamic,
        metrics=[("not_contains", {"substrings": ["error"]})],
    )
    pipeline = ReportFactory(
        owner=member, organization=org, kind="pipeline", dataset=dynamic, eval_config=version.config
    )
    response = post_json(
        url(pipeline), {"name": "fresh", "refresh_dataset": True}, **auth(member_key)
    )
    assert response.status_code == 201, response.content
    assert dynamic.versions.count() == 1
    run = Run.objects.get()
    assert run.dataset_version == dynamic.latest_version()
    assert run.item_count == 1


def test_refresh_matching_no_requests_is_401_no_requests_found(
    post_json, member_key, pipeline, member, org
):
    dynamic = Dataset.objects.create(
        name="empty", kind="dynamic", owner=member, organization=org, filter={"model": "none"}
    )
    response = post_json(
        url(pipeline),
        {"name": "x", "dataset_id": dynamic.pk, "refresh_dataset": True},
        **auth(member_key),
    )
    assert response.status_code == 401
    assert_matches(ERROR, response.json())
    assert "No requests found" in response.json()["message"]
    assert not Report.objects.filter(kind="final").exists()


def test_refreshing_a_static_dataset_is_403(post_json, member_key, pipeline):
    response = post_json(url(pipeline), {"name": "x", "refresh_dataset": True}, **auth(member_key))
    assert response.status_code == 403
    assert_matches(ERROR, response.json())


def test_running_a_final_report_is_403(post_json, member_key, pipeline, member, org):
    final = ReportFactory(owner=member, organization=org, kind="final", pipeline=pipeline)
    response = post_json(url(final), {"name": "x"}, **auth(member_key))
    assert response.status_code == 403
    assert "pipeline" in response.json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x" * 256},
        {"name": 5},
        {"name": "x", "dataset_id": "7"},
        {"name": "x", "refresh_dataset": "yes"},
    ],
)
def test_invalid_bodies_are_400(post_json, member_key, pipeline, body):
    response = post_json(url(pipeline), body, **auth(member_key))
    assert response.status_code == 400
    assert_matches(ERROR, response.json())
    assert not Run.objects.exists()


def test_unknown_report_or_dataset_is_404(post_json, member_key, pipeline):
    assert (
        post_json(
            "/compat/promptlayer/reports/999999/run", {"name": "x"}, **auth(member_key)
        ).status_code
        == 404
    )
    response = post_json(url(pipeline), {"name": "x", "dataset_id": 999999}, **auth(member_key))
    assert response.status_code == 404
    assert_matches(ERROR, response.json())


def test_another_orgs_report_is_404(post_json, outsider, key_for, pipeline):
    assert post_json(url(pipeline), {"name": "x"}, **auth(key_for(outsider))).status_code == 404


def test_the_key_goes_in_x_api_key_only(post_json, member_key, pipeline):
    response = post_json(url(pipeline), {"name": "x"}, HTTP_AUTHORIZATION=f"Bearer {member_key}")
    assert response.status_code == 401
    assert_matches(ERROR, response.json())
