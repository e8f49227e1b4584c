"""Eval configs with the metric picker, prompts, agents and report pipelines."""

from __future__ import annotations

import pytest

from runs.definitions import agent_create, prompt_create, report_create
from runs.models import Agent, EvalConfig, EvalConfigVersion, Prompt, PromptVersion, Report
from tests.pages.conftest import HTMX

pytestmark = pytest.mark.django_db


# --- the metric picker's fragments ---------------------------------------------------------


def test_argument_form_follows_the_metrics_schema(client_for, member):
    response = client_for(member).get("/metrics/args/?prefix=m-3&m-3-metric=contains", **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="m-3-args"')
    assert '<textarea id="m-3-arg-substrings"' in html  # string_list
    assert '<select id="m-3-arg-mode"' in html and '<option value="all" selected>' in html
    assert (
        'type="checkbox" id="m-3-arg-case_sensitive" name="m-3-arg-case_sensitive" checked' in html
    )
    assert "(required)" in html


def test_argument_form_of_a_number_argument_carries_its_bounds(client_for, member):
    html = (
        client_for(member).get("/metrics/args/?prefix=m-0&m-0-metric=levenshtein").content.decode()
    )
    assert (
        'type="number" id="m-0-arg-threshold" name="m-0-arg-threshold" value="0.8" '
        'step="any" min="0" max="1"'
    ) in html


def test_argument_form_rejects_a_bad_prefix(client_for, member):
    assert client_for(member).get("/metrics/args/?prefix=x&x-metric=contains").status_code == 404


def test_add_row_answers_a_row_and_the_next_add_button(client_for, member):
    html = client_for(member).get("/metrics/row/?index=2", **HTMX).content.decode()
    assert '<fieldset class="metric-row" id="m-2">' in html
    assert 'hx-swap-oob="true"' in html and "index=3" in html


# --- eval configs ----------------------------------------------------------------------------


def config_post(**extra):
    data = {
        "name": "Support checks",
        "m-0-metric": "exact_match",
        "m-0-args-shown": "exact_match",
        "m-0-arg-case_sensitive": "",
        "m-0-arg-strip_whitespace": "on",
        "m-1-metric": "levenshtein",
        "m-1-args-shown": "levenshtein",
        "m-1-arg-threshold": "0.7",
        "m-1-informational": "on",
        "threshold": "75",
        "repetitions": "1",
    }
    data.update(extra)
    return {k: v for k, v in data.items() if v != ""}


def test_creating_a_config_with_two_metrics(client_for, member, org, dataset):
    response = client_for(member).post(
        "/configs/new/", config_post(organization=org.pk, dataset=dataset.pk)
    )
    config = EvalConfig.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/configs/{config.pk}/"
    version = config.versions.get()
    metrics = list(version.metrics.select_related("metric").order_by("position"))
    assert [m.metric.slug for m in metrics] == ["exact_match", "levenshtein"]
    assert metrics[0].args["case_sensitive"] is False
    assert metrics[1].args["threshold"] == 0.7 and metrics[1].informational
    assert version.threshold == 75 and config.organization == org and config.dataset == dataset


def test_a_bad_argument_is_shown_beside_it_and_nothing_is_written(client_for, member, org):
    response = client_for(member).post(
        "/configs/new/", config_post(organization=org.pk, **{"m-1-arg-threshold": "3"}), **HTMX
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="config-form"')
    assert 'id="m-1-arg-threshold-error"' in html
    assert "Argument &#x27;threshold&#x27; of metric levenshtein must be at most 1" in html
    assert 'aria-invalid="true"' in html
    assert not EvalConfig.objects.exists()


def test_a_config_needs_a_metric(client_for, member):
    response = client_for(member).post("/configs/new/", {"name": "Empty", "m-0-metric": ""}, **HTMX)
    assert response.status_code == 422
    assert "Choose at least one metric." in response.content.decode()
    assert not EvalConfig.objects.exists()


def test_without_javascript_add_metric_rerenders_with_another_row(client_for, member):
    response = client_for(member).post(
        "/configs/new/", {"name": "X", "m-0-metric": "exact_match", "add_metric": "1"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="m-0"' in html and 'id="m-1"' in html
    assert "This field is required" not in html
    assert not EvalConfig.objects.exists()


def test_new_version_starts_from_the_latest_and_saves_the_next_number(
    client_for, member, config_version
):
    client = client_for(member)
    url = f"/configs/{config_version.config_id}/versions/new/"
    html = client.get(url).content.decode()
    assert '<option value="levenshtein" selected>' in html
    assert 'name="m-1-arg-threshold" value="0.8"' in html
    response = client.post(url, config_post(name="ignored", note="looser"))
    assert response.status_code == 302
    latest = config_version.config.latest_version()
    assert latest.number == 2 and latest.note == "looser"


def test_viewer_cannot_version_a_config(client_for, viewer, config_version):
    client = client_for(viewer)
    detail = client.get(f"/configs/{config_version.config_id}/").content.decode()
    assert "New version" not in detail and "Run v1" not in detail
    response = client.post(f"/configs/{config_version.config_id}/versions/new/", config_post())
    assert response.status_code == 403
    assert EvalConfigVersion.objects.count() == 1


def test_outsider_cannot_see_a_config(client_for, outsider, config_version):
    client = client_for(outsider)
    assert client.get(f"/configs/{config_version.config_id}/").status_code == 404
    assert client.get(f"/configs/{config_version.config_id}/versions/new/").status_code == 404
    assert "cfg" not in client.get("/configs/").content.decode()


def test_config_list_searches_as_a_fragment(client_for, member, config_version):
    response = client_for(member).get("/configs/?q=cf", **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="config-table"') and "cfg" in html


# --- prompts ----------------------------------------------------------------------------------


def test_creating_a_prompt_and_a_second_version(client_for, member, org):
    client = client_for(member)
    response = client.post(
        "/prompts/new/",
        {
            "name": "Answerer",
            "organization": org.pk,
            "template": "Answer: {{ question }}",
            "params": '{"temperature": 0}',
        },
    )
    prompt = Prompt.objects.get()
    assert response.status_code == 302
    assert prompt.latest_version().params == {"temperature": 0}
    client.post(f"/prompts/{prompt.pk}/versions/new/", {"template": "Briefly: {{ question }}"})
    assert prompt.latest_version().number == 2
    html = client.get(f"/prompts/{prompt.pk}/").content.decode()
    assert "Briefly: {{ question }}" in html


def test_prompt_with_an_unknown_parameter_names_it(client_for, member):
    response = client_for(member).post(
        "/prompts/new/", {"name": "P", "template": "x", "params": '{"temprature": 1}'}, **HTMX
    )
    assert response.status_code == 422
    assert "Unknown model parameter &#x27;temprature&#x27;" in response.content.decode()
    assert not Prompt.objects.exists()


def test_viewer_cannot_version_a_prompt(client_for, viewer, owner, org):
    version = prompt_create(actor=owner, name="P", template="t", organization=org)
    client = client_for(viewer)
    assert "New version" not in client.get(f"/prompts/{version.prompt_id}/").content.decode()
    response = client.post(f"/prompts/{version.prompt_id}/versions/new/", {"template": "u"})
    assert response.status_code == 403
    assert PromptVersion.objects.count() == 1


# --- agents -------------------------------------------------------------------------------------


def test_creating_an_http_agent_and_editing_it(client_for, member, org):
    client = client_for(member)
    response = client.post(
        "/agents/new/",
        {
            "name": "Bot",
            "kind": "http",
            "organization": org.pk,
            "endpoint_url": "https://bot.example/answer",
            "headers": '{"Authorization": "Bearer x"}',
            "output_field": "answer",
            "timeout_seconds": "30",
        },
    )
    agent = Agent.objects.get()
    assert response.status_code == 302
    assert agent.headers == {"Authorization": "Bearer x"} and agent.output_field == "answer"
    detail = client.get(f"/agents/{agent.pk}/").content.decode()
    assert "Bearer x" not in detail  # header values are secrets
    client.post(
        f"/agents/{agent.pk}/edit/",
        {
            "name": "Bot 2",
            "kind": "http",
            "endpoint_url": "https://bot.example/v2",
            "output_field": "answer",
            "timeout_seconds": "30",
        },
    )
    agent.refresh_from_db()
    assert agent.name == "Bot 2" and agent.endpoint_url == "https://bot.example/v2"


def test_a_model_agent_needs_a_model(client_for, member):
    response = client_for(member).post(
        "/agents/new/",
        {"name": "Bot", "kind": "model", "output_field": "output", "timeout_seconds": "60"},
        **HTMX,
    )
    assert response.status_code == 422
    assert "A model agent needs a model." in response.content.decode()
    assert not Agent.objects.exists()


def test_viewer_cannot_edit_an_agent(client_for, viewer, owner, org):
    agent = agent_create(
        actor=owner, name="Bot", kind="http", endpoint_url="https://x.example", organization=org
    )
    client = client_for(viewer)
    assert "Edit" not in client.get(f"/agents/{agent.pk}/").content.decode()
    response = client.post(
        f"/agents/{agent.pk}/edit/",
        {
            "name": "Mine",
            "kind": "http",
            "endpoint_url": "https://y.example",
            "output_field": "o",
            "timeout_seconds": "5",
        },
    )
    assert response.status_code == 403


# --- report pipelines ---------------------------------------------------------------------------


def test_creating_a_pipeline(client_for, member, org, dataset, config_version):
    response = client_for(member).post(
        "/reports/new/",
        {
            "name": "Nightly",
            "dataset": dataset.pk,
            "eval_config": config_version.config_id,
            "organization": org.pk,
        },
    )
    report = Report.objects.get()
    assert response.status_code == 302 and report.is_pipeline
    html = client_for(member).get(f"/reports/{report.pk}/").content.decode()
    assert "Run this pipeline" in html


def test_viewer_sees_no_run_button_on_a_pipeline(
    client_for, viewer, owner, org, dataset, config_version
):
    report = report_create(
        actor=owner, name="N", dataset=dataset, eval_config=config_version.config, organization=org
    )
    html = client_for(viewer).get(f"/reports/{report.pk}/").content.decode()
    assert "Run this pipeline" not in html


def test_lists_of_definitions_render(client_for, member, config_version):
    client = client_for(member)
    for url in ("/configs/", "/prompts/", "/agents/", "/reports/"):
        assert client.get(url).status_code == 200, url


def test_write_pages_are_refused_to_a_viewer_before_any_input(
    client_for, viewer, owner, org, config_version
):
    prompt = prompt_create(actor=owner, name="P", template="t", organization=org).prompt
    agent = agent_create(
        actor=owner, name="Bot", kind="http", endpoint_url="https://x.example", organization=org
    )
    client = client_for(viewer)
    for url in (
        f"/configs/{config_version.config_id}/versions/new/",
        f"/prompts/{prompt.pk}/versions/new/",
        f"/agents/{agent.pk}/edit/",
        f"/datasets/{config_version.config.dataset_id}/upload/",
        f"/datasets/{config_version.config.dataset_id}/metrics/",
    ):
        assert client.get(url).status_code == 403, url
