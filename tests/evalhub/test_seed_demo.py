import pytest
from django.core.management import call_command

from datasets.models import Dataset, Record
from evalhub.models import Membership, Organization
from runs.models import EvalConfig, Report, Run

pytestmark = pytest.mark.django_db(transaction=True)


def counts():
    return (
        Organization.objects.count(),
        Membership.objects.count(),
        Dataset.objects.count(),
        Record.objects.count(),
        EvalConfig.objects.count(),
        Report.objects.count(),
        Run.objects.count(),
    )


def test_the_demo_loads_once_and_a_second_load_changes_nothing(client):
    call_command("seed_demo")
    first = counts()
    call_command("seed_demo")
    assert counts() == first
    assert Record.objects.count() == 50
    run = Run.objects.get(alias="demo-baseline")
    assert run.status == "completed" and run.completed_count == 50
    assert 0 < run.pass_rate < 100  # a believable mix of right and wrong answers
    for username in ("demo", "analyst", "viewer"):
        assert client.login(username=username, password=username)


def test_a_run_started_from_the_shell_completes(capsys):
    call_command("seed_demo")
    call_command(
        "start_run", user="analyst", config="Support QA — deterministic", wait=True, timeout=60
    )
    out = capsys.readouterr().out
    assert "completed: 50/50 items" in out
