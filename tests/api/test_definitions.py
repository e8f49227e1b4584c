"""Catalogues and definitions over the native API: metrics, models, prompts, agents,
eval configs, reports."""

import pytest

from runs.models import PromptVersion, Report
from tests.factories import LanguageModelFactory

pytestmark = pytest.mark.django_db


def test_the_metric_catalogue_lists_argument_schemas(member_api):
    body = member_api.get("/metrics/", {"page_size": 100}).json()
    by_slug = {m["slug"]: m for m in body["results"]}
    assert by_slug["json_equal"]["id"] == 1 and by_slug["exact_match"]["id"] == 2
    args = {a["name"]: a for a in by_slug["json_equal"]["args"]}
    assert args["ignore_order"]["type"] == "boolean" and "default" in args["ignore_order"]


@pytest.mark.parametrize("ref", ["2", "exact_match"])
def test_a_metric_is_found_by_id_or_slug(member_api, ref):
    assert member_api.get(f"/metrics/{ref}/").json()["slug"] == "exact_match"


def test_the_model_catalogue_never_shows_keys_or_endpoints(member_api):
    LanguageModelFactory(slug="gpt-4o", api_key="sk-secret", base_url="http://internal:8000/v1")
    body = member_api.get("/models/gpt-4o/").json()
    assert body["slug"] == "gpt-4o"
    assert "api_key" not in body and "base_url" not in body
    assert member_api.post("/models/", {"slug": "x"}).status_code == 405


def test_a_prompt_is_created_with_its_first_version(member_api, org):
    response = member_api.post(
        "/prompts/",
        {"name": "Answerer", "template": "Answer: {{ question }}", "organization": org.pk},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["version_count"] == 1
    assert body["latest_version"]["number"] == 1
    assert body["latest_version"]["variables"] == ["question"]


def test_a_new_prompt_version_is_a_new_immutable_row(world, member_api):
    first = world.prompt_version
    response = member_api.post(
        f"/prompts/{world.prompt.pk}/versions/",
        {"template": "Briefly: {{ question }}", "note": "v2"},
    )
    assert response.status_code == 201, response.content
    assert response.json()["number"] == 2
    first.refresh_from_db()
    assert first.template == "Answer: {{ question }}"
    assert PromptVersion.objects.filter(prompt=world.prompt).count() == 2
    assert member_api.get(f"/prompts/{world.prompt.pk}/").json()["latest_version"]["number"] == 2


def test_an_unknown_model_parameter_is_refused_by_name(world, member_api):
    response = member_api.post(
        f"/prompts/{world.prompt.pk}/versions/", {"template": "x", "params": {"temprature": 1}}
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "params.temprature"


def test_an_http_agent_hides_its_header_values(member_api):
    response = member_api.post(
        "/agents/",
        {
            "name": "Bot",
            "kind": "http",
            "endpoint_url": "https://bot.example.com/answer",
            "headers": {"Authorization": "Bearer secret"},
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["header_names"] == ["Authorization"]
    assert "secret" not in response.content.decode()


def test_an_agent_is_changed_with_patch(world, member_api):
    response = member_api.patch(f"/agents/{world.agent.pk}/", {"timeout_seconds": 5})
    assert response.status_code == 200, response.content
    assert response.json()["timeout_seconds"] == 5


def test_an_eval_config_and_its_versions(world, member_api, org):
    response = member_api.post(
        "/eval-configs/",
        {
            "name": "Strict",
            "dataset_id": world.dataset.pk,
            "organization": org.pk,
            "metrics": [{"metric": "exact_match", "args": {"case_sensitive": False}}],
            "threshold": 80,
        },
    )
    assert response.status_code == 201, response.content
    config = response.json()
    assert config["latest_version"]["metrics"][0]["args"]["case_sensitive"] is False
    version = member_api.post(
        f"/eval-configs/{config['id']}/versions/",
        {"metrics": [{"metric": 2}, {"metric": "levenshtein", "informational": True}]},
    )
    assert version.status_code == 201, version.content
    assert version.json()["number"] == 2
    listed = member_api.get(f"/eval-configs/{config['id']}/versions/").json()["results"]
    assert [v["number"] for v in listed] == [2, 1]


@pytest.mark.parametrize(
    ("metrics", "field"),
    [
        ([{"metric": "no_such_metric"}], "metrics[0].metric"),
        ([{"metric": "exact_match", "args": {"bogus": 1}}], "metrics[0].args.bogus"),
        (
            [{"metric": "exact_match", "args": {"case_sensitive": "yes"}}],
            "metrics[0].args.case_sensitive",
        ),
    ],
)
def test_config_versions_validate_metrics_and_args_through_the_registry(
    world, member_api, metrics, field
):
    response = member_api.post(f"/eval-configs/{world.config.pk}/versions/", {"metrics": metrics})
    assert response.status_code in (400, 404), response.content
    assert response.json()["error"]["field"] == field


def test_a_report_pipeline_runs_into_a_final_report(
    world, member_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = member_api.post(f"/reports/{world.report.pk}/run/", {"name": "Tonight"})
    assert response.status_code == 201, response.content
    final = response.json()
    assert final["kind"] == "final" and final["pipeline"] == world.report.pk
    assert member_api.get(f"/reports/{final['id']}/").json()["status"] == "completed"


def test_only_pipelines_can_be_run(world, member_api):
    final = Report.objects.create(
        name="Done", kind="final", owner=world.report.owner, organization=world.org
    )
    response = member_api.post(f"/reports/{final.pk}/run/", {"name": "again"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_a_pipeline"


def test_a_report_is_created_from_a_dataset_and_a_config(world, member_api):
    response = member_api.post(
        "/reports/",
        {"name": "Nightly", "dataset_id": world.dataset.pk, "eval_config_id": world.config.pk},
    )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "pipeline"
