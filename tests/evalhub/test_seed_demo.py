"""The demo loader: everything the README promises, once, however often it runs."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from datasets.models import Dataset, DatasetMetric, DatasetVersion, Record
from evalhub.models import AuditEvent, Membership, Organization, Workspace
from runs.models import (
    Agent,
    EvalConfig,
    EvalConfigMetric,
    LanguageModel,
    Prompt,
    PromptVersion,
    Report,
    Run,
)

pytestmark = pytest.mark.django_db(transaction=True)

MODELS = (
    Organization,
    Membership,
    Workspace,
    get_user_model(),
    LanguageModel,
    Dataset,
    DatasetMetric,
    DatasetVersion,
    Record,
    EvalConfig,
    EvalConfigMetric,
    Report,
    Prompt,
    PromptVersion,
    Agent,
    Run,
    AuditEvent,
)


def counts():
    return {model.__name__: model.objects.count() for model in MODELS}


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_demo_loads_once_and_a_second_load_changes_nothing(client):
    first_output = seed()
    first = counts()
    second_output = seed()
    assert counts() == first
    assert "Created: organization Acme Support" in first_output
    assert "nothing changed" in second_output and "Already present: organization" in second_output
    for username in ("demo", "analyst", "viewer"):
        assert client.login(username=username, password=username)


def test_the_demo_has_the_promised_cast_catalogue_and_definitions():
    seed()
    org = Organization.objects.get(slug="acme")
    assert (org.name, org.monthly_budget_usd) == ("Acme Support", 100)
    roles = dict(Membership.objects.filter(organization=org).values_list("user__username", "role"))
    assert roles == {"demo": "owner", "analyst": "member", "viewer": "viewer"}
    demo = get_user_model().objects.get(username="demo")
    assert demo.is_superuser and demo.is_staff
    mini = LanguageModel.objects.get(slug="gpt-4o-mini")
    assert (float(mini.input_price_per_mtok), float(mini.output_price_per_mtok)) == (0.15, 0.6)
    assert mini.base_url == ""
    assert set(LanguageModel.objects.values_list("slug", flat=True)) >= {"gpt-4o", "claude-sonnet"}

    dataset = Dataset.objects.get(name="Support QA", organization=org)
    assert dataset.workspace.name == "Customer Support"
    version = dataset.latest_version()
    assert (version.number, version.record_count, version.source) == (1, 50, "demo")
    record = version.records.get(index=0)
    assert set(record.input) == {"question"} and record.context and record.metadata["category"]
    selected = {m.metric.slug: m.args for m in dataset.selected_metrics.select_related("metric")}
    assert selected["exact_match"]["ignore_punctuation"] is True
    assert selected["levenshtein"]["threshold"] == 0.8

    config = EvalConfig.objects.get(name="Support QA — deterministic")
    config_version = config.latest_version()
    assert config_version.threshold == 70
    assert {"exact_match", "levenshtein"} <= set(
        config_version.metrics.values_list("metric__slug", flat=True)
    )
    report = Report.objects.get(name="Support QA nightly")
    assert (report.kind, report.dataset, report.eval_config) == ("pipeline", dataset, config)
    prompt_version = PromptVersion.objects.get(prompt__name="Support answerer")
    assert "{{ question }}" in prompt_version.template
    assert Agent.objects.get(name="Support bot").kind == "model"


def test_the_demo_answers_score_as_a_believable_mix():
    seed()
    run = Run.objects.get(alias="demo-baseline")
    assert run.status == "completed" and run.completed_count == 50
    assert 40 < run.pass_rate < 90


def test_a_run_started_from_the_shell_completes(capsys):
    seed()
    call_command(
        "start_run", user="analyst", config="Support QA — deterministic", wait=True, timeout=60
    )
    assert "completed: 50/50 items" in capsys.readouterr().out
