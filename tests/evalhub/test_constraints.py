"""The database itself refuses double counting and duplicate aliases."""

import pytest
from django.db import IntegrityError, transaction

from runs.models import Run, RunItem, Score
from tests.factories import (
    RecordFactory,
    RunFactory,
    RunItemFactory,
    RunMetricFactory,
    ScoreFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def test_database_refuses_a_second_run_with_the_same_alias_for_one_user():
    user = UserFactory()
    RunFactory(owner=user, alias="support-march")
    with pytest.raises(IntegrityError), transaction.atomic():
        Run.objects.create(owner=user, alias="support-march")


def test_two_users_may_use_the_same_alias():
    RunFactory(owner=UserFactory(), alias="nightly")
    RunFactory(owner=UserFactory(), alias="nightly")
    assert Run.objects.filter(alias="nightly").count() == 2


def test_runs_without_alias_do_not_collide():
    user = UserFactory()
    RunFactory(owner=user, alias=None)
    RunFactory(owner=user, alias=None)
    assert Run.objects.filter(owner=user).count() == 2


def test_database_refuses_a_second_item_for_the_same_record_in_a_run():
    item = RunItemFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        RunItem.objects.create(run=item.run, record=item.record, index=99)


def test_the_same_record_may_appear_in_two_runs():
    record = RecordFactory()
    RunItemFactory(record=record)
    RunItemFactory(record=record)
    assert RunItem.objects.filter(record=record).count() == 2


def test_database_refuses_a_second_score_for_the_same_metric_on_an_item():
    score = ScoreFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Score.objects.create(item=score.item, run_metric=score.run_metric, value=0.0)


def test_an_item_may_have_one_score_per_metric():
    item = RunItemFactory()
    ScoreFactory(item=item, run_metric=RunMetricFactory(run=item.run, label="a"))
    ScoreFactory(item=item, run_metric=RunMetricFactory(run=item.run, label="b"))
    assert item.scores.count() == 2


def test_database_refuses_an_unknown_run_status():
    run = RunFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Run.objects.filter(pk=run.pk).update(status="exploded")


def test_database_refuses_more_completed_items_than_items():
    run = RunFactory(item_count=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        Run.objects.filter(pk=run.pk).update(completed_count=4)


def test_bulk_insert_that_ignores_conflicts_keeps_one_score_per_metric():
    """The engine writes scores with ignore_conflicts: a retried chunk adds nothing."""
    score = ScoreFactory(value=1.0)
    Score.objects.bulk_create(
        [Score(item=score.item, run_metric=score.run_metric, value=0.0)], ignore_conflicts=True
    )
    assert Score.objects.filter(item=score.item).count() == 1
    assert Score.objects.get(item=score.item).value == 1.0


def test_cancelling_is_a_conditional_update_that_only_wins_once():
    run = RunFactory(status="running")
    assert run.mark_cancelled() is True
    assert Run.objects.get(pk=run.pk).status == "cancelled"
    assert run.mark_cancelled() is False


def test_a_finished_run_cannot_be_cancelled():
    run = RunFactory(status="completed")
    assert run.mark_cancelled() is False
    assert Run.objects.get(pk=run.pk).status == "completed"
