"""The five ways to start a run, each a form calling its service; dependent fields over htmx."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from runs.definitions import report_create
from runs.models import Report, Run
from tests.factories import LoggedRequestFactory
from tests.pages.conftest import HTMX
from tests.runs.conftest import make_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_count():
    return lambda: Run.objects.count()


@pytest.mark.parametrize("kind", ["config", "dataset", "agent", "responses", "report"])
def test_each_run_form_renders_with_the_recent_runs_table(client_for, member, kind):
    response = client_for(member).get(f"/runs/new/{kind}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="run-form"' in html and 'id="run-table"' in html
    assert f'action="/runs/new/{kind}/"' in html and f'hx-post="/runs/new/{kind}/"' in html


def test_chooser_lists_every_way_to_start_a_run(client_for, member):
    html = client_for(member).get("/runs/new/").content.decode()
    for kind in ("config", "dataset", "agent", "responses", "report"):
        assert f'href="/runs/new/{kind}/"' in html


# --- eval config on a dataset version -------------------------------------------------


def test_choosing_a_config_fills_in_its_dataset_version(
    client_for, member, config_version, dataset
):
    response = client_for(member).get(
        f"/runs/new/config/?config_version={config_version.pk}", **HTMX
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="run-form"')
    assert "<html" not in html
    latest = dataset.latest_version()
    assert f'<option value="{latest.pk}" selected>' in html
    assert 'hx-get="/runs/new/config/"' in html  # the select re-renders the form on change


def test_starting_a_config_run_over_htmx_answers_a_fresh_form_and_runs_changed(
    client_for, member, config_version, run_count
):
    response = client_for(member).post(
        "/runs/new/config/",
        {"config_version": config_version.pk, "alias": "from-ui", "threshold": "50"},
        **HTMX,
    )
    assert response.status_code == 200
    assert "runs-changed" in response["HX-Trigger"]
    run = Run.objects.get(alias="from-ui")
    assert run.source == "ui" and run.threshold == 50 and run.owner == member
    assert run.dataset_version == config_version.config.dataset.latest_version()
    html = response.content.decode()
    assert f'href="/runs/{run.pk}/"' in html and "started" in html


def test_starting_a_run_without_htmx_redirects_to_it(client_for, member, config_version):
    response = client_for(member).post("/runs/new/config/", {"config_version": config_version.pk})
    run = Run.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/runs/{run.pk}/"


def test_bad_threshold_rerenders_the_form_with_its_error_and_writes_nothing(
    client_for, member, config_version, run_count
):
    response = client_for(member).post(
        "/runs/new/config/", {"config_version": config_version.pk, "threshold": "150"}, **HTMX
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "threshold is a pass rate between 0 and 100." in html
    assert 'id="field-threshold"' in html and "has-error" in html
    assert run_count() == 0


def test_duplicate_alias_is_an_inline_error(client_for, member, config_version, run_count):
    client = client_for(member)
    client.post("/runs/new/config/", {"config_version": config_version.pk, "alias": "same"})
    response = client.post(
        "/runs/new/config/", {"config_version": config_version.pk, "alias": "same"}, **HTMX
    )
    assert response.status_code == 422
    assert "already have a run with alias" in response.content.decode()
    assert run_count() == 1


def test_viewer_cannot_start_a_run(client_for, viewer, config_version, run_count):
    response = client_for(viewer).post("/runs/new/config/", {"config_version": config_version.pk})
    assert response.status_code == 403
    assert run_count() == 0


def test_outsider_cannot_pick_the_orgs_config(client_for, outsider, config_version, run_count):
    response = client_for(outsider).post("/runs/new/config/", {"config_version": config_version.pk})
    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()
    assert run_count() == 0


# --- from a dataset, with overrides ----------------------------------------------------


def test_choosing_a_dataset_shows_its_metrics_argument_forms(
    client_for, member, org, owner, qa_rows
):
    dataset = make_dataset(
        owner=owner,
        organization=org,
        records=qa_rows,
        metrics=[("exact_match", {"case_sensitive": False}), ("levenshtein", {"threshold": 0.7})],
    )
    html = (
        client_for(member).get(f"/runs/new/dataset/?dataset={dataset.pk}", **HTMX).content.decode()
    )
    assert 'name="o-2-arg-case_sensitive"' in html
    assert 'name="o-11-arg-threshold" value="0.7"' in html


def test_dataset_run_sends_only_changed_arguments_as_overrides(
    client_for, member, dataset, run_count
):
    data = {
        "dataset": dataset.pk,
        "alias": "override",
        "threshold": "65",
        "o-2-args-shown": "exact_match",
        "o-2-arg-strip_whitespace": "on",
        "o-2-arg-case_sensitive": "on",
    }
    response = client_for(member).post("/runs/new/dataset/", data, **HTMX)
    assert response.status_code == 200, response.content.decode()
    run = Run.objects.get(alias="override")
    # Every box as the dataset's defaults have it (ignore_punctuation unticked): no override.
    assert run.metric_args == {}
    assert run.threshold == 65


def test_dataset_run_override_is_saved_on_the_run(client_for, member, org, owner, qa_rows):
    dataset = make_dataset(
        owner=owner, organization=org, records=qa_rows, metrics=[("levenshtein", {})]
    )
    data = {
        "dataset": dataset.pk,
        "alias": "lev",
        "o-11-args-shown": "levenshtein",
        "o-11-arg-threshold": "0.5",
        "o-11-arg-case_sensitive": "on",  # ticked, as its default: not an override
    }
    response = client_for(member).post("/runs/new/dataset/", data)
    assert response.status_code == 302
    assert Run.objects.get(alias="lev").metric_args == {"11": {"threshold": 0.5}}


def test_invalid_override_names_the_argument_and_writes_nothing(
    client_for, member, org, owner, qa_rows, run_count
):
    dataset = make_dataset(
        owner=owner, organization=org, records=qa_rows, metrics=[("levenshtein", {})]
    )
    data = {"dataset": dataset.pk, "o-11-args-shown": "levenshtein", "o-11-arg-threshold": "7"}
    response = client_for(member).post("/runs/new/dataset/", data, **HTMX)
    assert response.status_code == 422
    html = response.content.decode()
    assert "Argument &#x27;threshold&#x27; of metric levenshtein must be at most 1" in html
    assert 'id="o-11-arg-threshold-error"' in html
    assert run_count() == 0


def test_unknown_judge_model_is_an_inline_error(client_for, member, dataset, run_count):
    response = client_for(member).post(
        "/runs/new/dataset/", {"dataset": dataset.pk, "model_slug": "nope"}, **HTMX
    )
    assert response.status_code == 422
    assert 'id="field-model_slug"' in response.content.decode()
    assert run_count() == 0


# --- prompt and agent on chosen records -------------------------------------------------


def test_agent_form_lists_the_records_of_the_configs_dataset(
    client_for, member, config_version, dataset
):
    html = (
        client_for(member)
        .get(f"/runs/new/agent/?config_version={config_version.pk}", **HTMX)
        .content.decode()
    )
    assert html.count('name="records"') == 10
    assert "What is 3 + 3?" in html


def test_agent_run_on_chosen_records_generates_with_the_agent(
    client_for, member, owner, org, config_version, dataset, fake_llm
):
    from runs.definitions import agent_create
    from runs.models import LanguageModel

    LanguageModel.objects.create(slug="gen", base_url=fake_llm.url, api_key="k")
    agent = agent_create(actor=owner, name="Bot", kind="model", model="gen", organization=org)
    chosen = [str(r.uuid) for r in dataset.latest_version().records.order_by("index")[:3]]
    response = client_for(member).post(
        "/runs/new/agent/",
        {"config_version": config_version.pk, "agent": agent.pk, "records": chosen, "alias": "gen"},
        **HTMX,
    )
    assert response.status_code == 200, response.content.decode()
    run = Run.objects.get(alias="gen")
    assert run.item_count == 3 and run.agent == agent
    assert {str(u) for u in run.items.values_list("record__uuid", flat=True)} == set(chosen)


# --- score uploaded responses ----------------------------------------------------------


def _responses_file(rows):
    body = "\n".join(json.dumps(r) for r in rows).encode()
    return SimpleUploadedFile("responses.jsonl", body, content_type="application/x-ndjson")


def test_uploaded_responses_are_scored_as_given(client_for, member, config_version, dataset):
    records = list(dataset.latest_version().records.order_by("index")[:2])
    upload = _responses_file(
        [
            {"prompt_uuid": str(records[0].uuid), "content": "0"},
            {"index": 1, "content": "wrong"},
        ]
    )
    response = client_for(member).post(
        "/runs/new/responses/",
        {"config_version": config_version.pk, "file": upload, "name": "given"},
    )
    assert response.status_code == 302
    run = Run.objects.get(name="given")
    assert run.run_type == "responses" and run.item_count == 2
    outputs = dict(run.items.values_list("record__index", "output"))
    assert outputs == {0: "0", 1: "wrong"}


def test_a_response_for_an_unknown_prompt_names_its_line(
    client_for, member, config_version, run_count
):
    upload = _responses_file([{"index": 0, "content": "a"}, {"index": 99, "content": "b"}])
    response = client_for(member).post(
        "/runs/new/responses/", {"config_version": config_version.pk, "file": upload}, **HTMX
    )
    assert response.status_code == 422
    assert "Line 2: no prompt 99" in response.content.decode()
    assert run_count() == 0


def test_responses_hint_lists_the_evals_prompts(client_for, member, config_version):
    response = client_for(member).get(
        f"/runs/new/responses/?hint=1&config_version={config_version.pk}", **HTMX
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="responses-hint"')
    assert f"/runs/new/responses/template-{config_version.pk}.jsonl" in html


def test_responses_template_has_one_line_per_prompt(client_for, member, config_version):
    response = client_for(member).get(f"/runs/new/responses/template-{config_version.pk}.jsonl")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 10 and json.loads(lines[0])["content"] == ""


# --- report pipeline -------------------------------------------------------------------------


@pytest.fixture
def pipeline(owner, org, dataset, config_version):
    return report_create(
        actor=owner,
        name="Nightly",
        dataset=dataset,
        eval_config=config_version.config,
        organization=org,
    )


def test_report_run_creates_a_final_report_and_its_run(client_for, member, pipeline):
    response = client_for(member).post(
        "/runs/new/report/", {"report": pipeline.pk, "name": "Tuesday"}, **HTMX
    )
    assert response.status_code == 200, response.content.decode()
    final = Report.objects.get(kind="final", pipeline=pipeline)
    assert final.name == "Tuesday" and final.run.run_type == "report"
    assert "runs-changed" in response["HX-Trigger"]


def test_report_run_needs_a_name(client_for, member, pipeline, run_count):
    response = client_for(member).post("/runs/new/report/", {"report": pipeline.pk}, **HTMX)
    assert response.status_code == 422
    assert "This field is required." in response.content.decode()
    assert run_count() == 0


def test_refresh_is_offered_only_for_a_dynamic_dataset(
    client_for, member, owner, org, pipeline, config_version
):
    from datasets.services import dataset_create

    client = client_for(member)
    static = client.get(f"/runs/new/report/?report={pipeline.pk}", **HTMX).content.decode()
    assert "refresh_dataset" not in static
    dynamic = dataset_create(actor=owner, name="Live", organization=org, kind="dynamic")
    html = client.get(
        f"/runs/new/report/?report={pipeline.pk}&dataset={dynamic.pk}", **HTMX
    ).content.decode()
    assert 'name="refresh_dataset"' in html


def test_report_run_on_a_refreshed_dynamic_dataset(client_for, member, owner, org, pipeline):
    from datasets.services import dataset_create

    dynamic = dataset_create(actor=owner, name="Live", organization=org, kind="dynamic")
    for i in range(3):
        LoggedRequestFactory(owner=owner, organization=org, prompt=f"q{i}", response=str(2 * i))
    response = client_for(member).post(
        "/runs/new/report/",
        {"report": pipeline.pk, "name": "Fresh", "dataset": dynamic.pk, "refresh_dataset": "on"},
    )
    # The config's metrics need an expected output, which logged requests do not have.
    assert response.status_code == 422
    assert "has no expected_output" in response.content.decode()
    # The refresh rolled back with the refused run: no version, no run.
    assert not dynamic.versions.exists() and not Run.objects.exists()
