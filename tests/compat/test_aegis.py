"""Seed 004 (Aegis): POST /runs/dataset and GET /runs/{run_id}, to the letter."""

import pytest

from runs.models import Run
from tests.compat.conftest import assert_matches

pytestmark = pytest.mark.django_db

URL = "/compat/aegis/runs/dataset"

RUN_SCHEMA = {
    "type": "object",
    "required": [
        "id",
        "user",
        "author_email",
        "run_type",
        "run_source",
        "dataset",
        "data_collection",
        "org_id",
        "number_of_metrics",
        "result",
        "threshold",
        "model_slug",
        "alias",
        "aggregate_results",
        "total_cost",
        "started_at",
        "finished_at",
        "is_gte_threshold",
        "evaluations",
    ],
    "properties": {
        "id": {"type": "integer"},
        "user": {"type": ["string", "null"]},
        "author_email": {"type": ["string", "null"]},
        "run_type": {"const": "Dataset"},
        "run_source": {"type": "string"},
        "dataset": {"type": "string"},
        "data_collection": {"type": ["string", "null"]},
        "org_id": {"type": ["integer", "null"]},
        "number_of_metrics": {"type": "integer"},
        "result": {"type": ["number", "null"]},
        "threshold": {"type": ["integer", "null"]},
        "model_slug": {"type": ["string", "null"]},
        "alias": {"type": ["string", "null"], "maxLength": 255},
        "aggregate_results": {"type": "object", "additionalProperties": {"type": "number"}},
        "total_cost": {"type": ["number", "null"]},
        "started_at": {"type": ["string", "null"], "format": "date-time"},
        "finished_at": {"type": ["string", "null"], "format": "date-time"},
        "is_gte_threshold": {"type": ["boolean", "null"]},
        "evaluations": {"type": "array"},
    },
}


@pytest.fixture
def gpt4o(judge_model):
    from runs.models import LanguageModel

    return LanguageModel.objects.create(slug="gpt-4o", base_url=judge_model.base_url)


def auth(key):
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def test_the_seeds_first_curl_call_creates_a_run_and_answers_201(
    post_json, member_key, qa_dataset, gpt4o, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(
            URL,
            {
                "dataset_id": qa_dataset.pk,
                "threshold": 70,
                "model_slug": "gpt-4o",
                "is_blocking": False,
            },
            **auth(member_key),
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert_matches(RUN_SCHEMA, body)
    assert body["run_source"] == "API Call"
    assert body["dataset"] == qa_dataset.name
    assert body["threshold"] == 70 and body["model_slug"] == "gpt-4o"
    assert body["number_of_metrics"] == 2
    assert body["alias"].startswith(qa_dataset.name)  # generated from name + timestamp


def test_the_seeds_metric_args_example_overrides_json_equal_for_this_run_only(
    post_json, member_key, qa_dataset, gpt4o
):
    response = post_json(
        URL,
        {
            "dataset_id": qa_dataset.pk,
            "threshold": 70,
            "model_slug": "gpt-4o",
            "is_blocking": False,
            "metric_args": {"1": {"ignore_extra_keys": True, "ignore_order": False}},
        },
        **auth(member_key),
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert_matches(RUN_SCHEMA, body)
    run = Run.objects.get(pk=body["id"])
    assert run.run_metrics.get(label="json_equal").args["ignore_extra_keys"] is True
    assert qa_dataset.selected_metrics.get(metric_id=1).args == {}  # stored defaults untouched


def test_a_blocking_run_returns_scores_aggregates_and_finish_time(
    post_json, member_key, qa_dataset, transactional_db
):
    response = post_json(
        URL,
        {
            "dataset_id": qa_dataset.pk,
            "threshold": 50,
            "is_blocking": True,
            "metric_args": {"1": {"ignore_extra_keys": True, "ignore_order": True}},
        },
        **auth(member_key),
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert_matches(RUN_SCHEMA, body)
    assert body["finished_at"] is not None
    assert body["aggregate_results"] == {"json_equal": 100, "exact_match": 50}
    assert body["is_gte_threshold"] is True
    assert len(body["evaluations"]) == 2
    assert body["total_cost"] == 0


def test_polling_shows_the_run_finish(post_json, client, member_key, qa_dataset, transactional_db):
    created = post_json(URL, {"dataset_id": qa_dataset.pk}, **auth(member_key)).json()
    polled = client.get(f"/compat/aegis/runs/{created['id']}", **auth(member_key))
    assert polled.status_code == 200
    assert_matches(RUN_SCHEMA, polled.json())
    assert polled.json()["finished_at"] is not None


def test_the_run_is_owned_by_the_caller_and_inherits_the_datasets_org(
    post_json, member_key, qa_dataset, member, org
):
    body = post_json(URL, {"dataset_id": qa_dataset.pk}, **auth(member_key)).json()
    run = Run.objects.get(pk=body["id"])
    assert run.owner == member
    assert body["org_id"] == org.pk


# --- every documented error ------------------------------------------------------


def test_no_key_is_401(post_json, qa_dataset):
    response = post_json(URL, {"dataset_id": qa_dataset.pk})
    assert response.status_code == 401
    assert "detail" in response.json()


def test_a_revoked_key_is_401(post_json, member, qa_dataset):
    from evalhub.models import ApiKey

    key, raw = ApiKey.generate(user=member, name="old")
    key.revoke()
    assert post_json(URL, {"dataset_id": qa_dataset.pk}, **auth(raw)).status_code == 401


def test_a_run_beyond_the_org_spending_limit_is_402(
    post_json, member_key, org, member, judge_model
):
    from decimal import Decimal

    from tests.runs.conftest import make_dataset

    org.monthly_budget_usd = Decimal("0")
    org.save()
    dataset = make_dataset(
        owner=member, organization=org, records=[{"expected_output": "a", "actual_output": "a"}]
    )
    response = post_json(URL, {"dataset_id": dataset.pk}, **auth(member_key))
    assert response.status_code == 402
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    "body, loc",
    [
        ({}, ["body", "dataset_id"]),
        ({"dataset_id": "one"}, ["body", "dataset_id"]),
        ({"dataset_id": 1, "threshold": 70.5}, ["body", "threshold"]),
        ({"dataset_id": 1, "is_blocking": "yes"}, ["body", "is_blocking"]),
        ({"dataset_id": 1, "metric_args": [1]}, ["body", "metric_args"]),
        ({"dataset_id": 1, "alias": "x" * 256}, ["body", "alias"]),
    ],
)
def test_body_validation_failures_are_422_with_the_field(post_json, member_key, body, loc):
    response = post_json(URL, body, **auth(member_key))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


def test_malformed_json_is_422(client, member_key):
    response = client.post(URL, data="{nope", content_type="application/json", **auth(member_key))
    assert response.status_code == 422


def test_an_unknown_model_slug_is_404(post_json, member_key, qa_dataset):
    response = post_json(
        URL, {"dataset_id": qa_dataset.pk, "model_slug": "gpt-99"}, **auth(member_key)
    )
    assert response.status_code == 404
    assert "gpt-99" in response.json()["detail"]


def test_an_unknown_dataset_is_400(post_json, member_key):
    response = post_json(URL, {"dataset_id": 987654}, **auth(member_key))
    assert response.status_code == 400


def test_another_orgs_dataset_is_as_unknown_as_a_missing_one(
    post_json, outsider, key_for, qa_dataset
):
    response = post_json(URL, {"dataset_id": qa_dataset.pk}, **auth(key_for(outsider)))
    assert response.status_code == 400
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    "metric_args",
    [
        {"json_equal": {"ignore_order": True}},  # non-integer key
        {"1": {"ignore_ordr": True}},  # unknown argument
        {"1": {"ignore_order": "yes"}},  # wrong type
    ],
)
def test_bad_metric_args_are_400(post_json, member_key, qa_dataset, metric_args):
    response = post_json(
        URL, {"dataset_id": qa_dataset.pk, "metric_args": metric_args}, **auth(member_key)
    )
    assert response.status_code == 400, response.content
    assert not Run.objects.exists()


def test_an_inactive_metric_is_400(post_json, member_key, qa_dataset):
    from runs.models import Metric

    Metric.objects.filter(pk=1).update(is_active=False)
    response = post_json(URL, {"dataset_id": qa_dataset.pk}, **auth(member_key))
    assert response.status_code == 400
    assert "inactive" in response.json()["detail"]


def test_a_duplicate_alias_is_400(post_json, member_key, qa_dataset):
    assert (
        post_json(URL, {"dataset_id": qa_dataset.pk, "alias": "a"}, **auth(member_key)).status_code
        == 201
    )
    response = post_json(URL, {"dataset_id": qa_dataset.pk, "alias": "a"}, **auth(member_key))
    assert response.status_code == 400
    assert Run.objects.count() == 1


def test_a_dataset_without_records_or_metrics_is_404(post_json, member_key, member, org):
    from tests.runs.conftest import make_dataset

    empty = make_dataset(owner=member, organization=org, records=[])
    assert post_json(URL, {"dataset_id": empty.pk}, **auth(member_key)).status_code == 404
    unjudged = make_dataset(
        owner=member, organization=org, records=[{"actual_output": "a"}], metrics=[]
    )
    assert post_json(URL, {"dataset_id": unjudged.pk}, **auth(member_key)).status_code == 404


def test_polling_a_run_you_cannot_see_is_404(
    client, outsider, key_for, post_json, member_key, qa_dataset
):
    created = post_json(URL, {"dataset_id": qa_dataset.pk}, **auth(member_key)).json()
    response = client.get(f"/compat/aegis/runs/{created['id']}", **auth(key_for(outsider)))
    assert response.status_code == 404
