"""The engine on one process: chunks, idempotency, aggregates, judges, faults, cache."""

from decimal import Decimal

import pytest

from evalhub.errors import BudgetExceeded, InvalidInput, NotFound
from runs import tasks
from runs.engine import execute
from runs.models import ItemStatus, Run, RunItem, Score
from runs.services import run_cancel, run_create, run_create_from_dataset, run_rerun_failed
from tests.runs.conftest import make_config, make_dataset

pytestmark = pytest.mark.django_db


def start(django_capture_on_commit_callbacks, **kw):
    """Create a run and execute its queued chunk tasks (django-q2 runs them inline in tests)."""
    with django_capture_on_commit_callbacks(execute=True):
        run = run_create_from_dataset(**kw)
    run.refresh_from_db()
    return run


def create_only(django_capture_on_commit_callbacks, **kw):
    """Create a run without executing anything: the test drives the chunks itself."""
    with django_capture_on_commit_callbacks(execute=False):
        run = run_create_from_dataset(**kw)
    return run


# --- deterministic runs -----------------------------------------------------------


def test_a_deterministic_run_completes_with_one_score_per_item_and_metric(
    member, qa_records, django_capture_on_commit_callbacks
):
    dataset = make_dataset(
        owner=member, records=qa_records, metrics=[("exact_match", {}), ("levenshtein", {})]
    )
    run = start(django_capture_on_commit_callbacks, actor=member, dataset=dataset, threshold=70)
    assert run.status == "completed"
    assert run.completed_count == run.item_count == 10
    assert Score.objects.filter(item__run=run).count() == 20
    assert run.passed_count == 7 and run.failed_count == 3
    assert run.pass_rate == 70.0
    assert run.is_gte_threshold is True
    assert run.aggregate_results["exact_match"] == 70.0
    assert set(run.aggregate_results) == {"exact_match", "levenshtein"}
    assert run.started_at and run.finished_at


def test_threshold_above_the_pass_rate_is_reported_as_not_reached(
    member, qa_records, django_capture_on_commit_callbacks
):
    dataset = make_dataset(owner=member, records=qa_records)
    run = start(django_capture_on_commit_callbacks, actor=member, dataset=dataset, threshold=71)
    assert run.is_gte_threshold is False


def test_runs_are_split_into_chunks_of_the_configured_size(
    member, settings, django_capture_on_commit_callbacks
):
    settings.EVALHUB_ENGINE = {**settings.EVALHUB_ENGINE, "CHUNK_SIZE": 4}
    records = [{"expected_output": "a", "actual_output": "a"} for _ in range(10)]
    dataset = make_dataset(owner=member, records=records)
    run = create_only(django_capture_on_commit_callbacks, actor=member, dataset=dataset)
    chunks = sorted(set(RunItem.objects.filter(run=run).values_list("chunk", flat=True)))
    assert chunks == [0, 1, 2]


def test_a_chunk_task_run_twice_counts_nothing_twice(
    member, qa_records, django_capture_on_commit_callbacks
):
    dataset = make_dataset(owner=member, records=qa_records)
    run = create_only(django_capture_on_commit_callbacks, actor=member, dataset=dataset)
    first = tasks.run_chunk(run.pk, 0)
    second = tasks.run_chunk(run.pk, 0)
    run.refresh_from_db()
    assert first["claimed"] == 10
    assert second.get("claimed", 0) == 0
    assert run.completed_count == 10
    assert Score.objects.filter(item__run=run).count() == 10


def test_a_duplicate_delivery_while_the_first_still_holds_the_lease_claims_nothing(
    member, qa_records, django_capture_on_commit_callbacks
):
    dataset = make_dataset(owner=member, records=qa_records)
    run = create_only(django_capture_on_commit_callbacks, actor=member, dataset=dataset)
    token = execute.claim(run.pk, 0)
    assert token is not None
    assert execute.claim(run.pk, 0) is None


def test_results_of_a_worker_that_lost_its_items_are_not_written(
    member, qa_records, django_capture_on_commit_callbacks
):
    """A slow worker whose lease expired and whose items were finished by another writes nothing."""
    dataset = make_dataset(owner=member, records=qa_records)
    run = create_only(django_capture_on_commit_callbacks, actor=member, dataset=dataset)
    stale_token = execute.claim(run.pk, 0)
    RunItem.objects.filter(run=run).update(lease_until=None)  # lease ran out
    tasks.run_chunk(run.pk, 0)  # another worker finishes the chunk
    late = [execute.ItemResult(item_id=i.pk, output="x") for i in RunItem.objects.filter(run=run)]
    assert execute.write_results(run, 0, stale_token, late) == 0
    run.refresh_from_db()
    assert run.completed_count == 10


def test_informational_metrics_are_scored_but_never_decide(
    member, qa_records, django_capture_on_commit_callbacks
):
    dataset = make_dataset(owner=member, records=qa_records)
    version = make_config(
        owner=member,
        dataset=dataset,
        metrics=[("exact_match", {}), ("length_between", {"max_length": 0})],
    )
    version.metrics.filter(metric__slug="length_between").update(informational=True)
    with django_capture_on_commit_callbacks(execute=True):
        run = run_create(actor=member, config_version=version)
    run.refresh_from_db()
    assert run.passed_count == 7
    assert "length_between" in run.aggregate_results


def test_metric_args_override_the_datasets_defaults_for_one_run(
    member, django_capture_on_commit_callbacks
):
    records = [{"expected_output": "Paris", "actual_output": "paris"}]
    dataset = make_dataset(owner=member, records=records, metrics=[("exact_match", {})])
    strict = start(django_capture_on_commit_callbacks, actor=member, dataset=dataset)
    assert strict.passed_count == 0
    exact_id = str(dataset.selected_metrics.get().metric_id)
    lenient = start(
        django_capture_on_commit_callbacks,
        actor=member,
        dataset=dataset,
        metric_args={exact_id: {"case_sensitive": False}},
    )
    assert lenient.passed_count == 1
    assert lenient.metric_args == {exact_id: {"case_sensitive": False}}


# --- refusals: nothing written --------------------------------------------------------


@pytest.mark.parametrize(
    "metric_args, field, code",
    [
        ({"abc": {}}, "metric_args.abc", "invalid_metric_id"),
        ({"{id}": {"no_such_arg": 1}}, "metric_args.{id}.no_such_arg", "unknown_argument"),
        (
            {"{id}": {"case_sensitive": "yes"}},
            "metric_args.{id}.case_sensitive",
            "invalid_argument_type",
        ),
    ],
)
def test_bad_metric_args_are_refused_naming_the_argument(member, metric_args, field, code):
    dataset = make_dataset(owner=member, records=[{"expected_output": "a", "actual_output": "a"}])
    metric_id = str(dataset.selected_metrics.get().metric_id)
    metric_args = {k.replace("{id}", metric_id): v for k, v in metric_args.items()}
    with pytest.raises(InvalidInput) as err:
        run_create_from_dataset(actor=member, dataset=dataset, metric_args=metric_args)
    assert err.value.field == field.replace("{id}", metric_id)
    assert err.value.code == code
    assert not Run.objects.exists()


def test_metric_args_for_metrics_not_selected_are_ignored(
    member, django_capture_on_commit_callbacks
):
    dataset = make_dataset(owner=member, records=[{"expected_output": "a", "actual_output": "a"}])
    run = start(
        django_capture_on_commit_callbacks,
        actor=member,
        dataset=dataset,
        metric_args={"999": {"anything": True}},
    )
    assert run.status == "completed"


def test_a_duplicate_alias_is_refused_before_anything_is_written(member):
    dataset = make_dataset(owner=member, records=[{"expected_output": "a", "actual_output": "a"}])
    run_create_from_dataset(actor=member, dataset=dataset, alias="nightly")
    with pytest.raises(InvalidInput) as err:
        run_create_from_dataset(actor=member, dataset=dataset, alias="nightly")
    assert err.value.code == "duplicate_alias"
    assert Run.objects.count() == 1


def test_an_unknown_model_slug_is_not_found(member):
    dataset = make_dataset(owner=member, records=[{"expected_output": "a", "actual_output": "a"}])
    with pytest.raises(NotFound) as err:
        run_create_from_dataset(actor=member, dataset=dataset, model_slug="gpt-99")
    assert err.value.field == "model_slug"
    assert not Run.objects.exists()


def test_a_dataset_without_metrics_or_records_is_not_found(member):
    no_metrics = make_dataset(owner=member, records=[{"actual_output": "a"}], metrics=[])
    with pytest.raises(NotFound) as err:
        run_create_from_dataset(actor=member, dataset=no_metrics)
    assert err.value.code == "no_metrics"
    no_records = make_dataset(owner=member, records=[])
    with pytest.raises(NotFound) as err:
        run_create_from_dataset(actor=member, dataset=no_records)
    assert err.value.code == "no_records"
    assert not Run.objects.exists()


def test_a_record_without_an_answer_is_named_before_the_run_starts(member):
    records = [{"expected_output": "a", "actual_output": "a"}, {"expected_output": "b"}]
    dataset = make_dataset(owner=member, records=records)
    with pytest.raises(InvalidInput) as err:
        run_create_from_dataset(actor=member, dataset=dataset)
    assert err.value.field == "records[1]"
    assert not Run.objects.exists()


def test_a_run_over_the_org_budget_is_refused_with_nothing_written(
    org, member, judge_model, qa_records
):
    org.monthly_budget_usd = Decimal("0.0001")
    org.save()
    dataset = make_dataset(
        owner=member, organization=org, records=qa_records, metrics=[("answer_correctness", {})]
    )
    with pytest.raises(BudgetExceeded):
        run_create_from_dataset(actor=member, dataset=dataset, model_slug=judge_model.slug)
    assert not Run.objects.exists()


def test_an_outsider_cannot_run_a_dataset_they_cannot_see(member, outsider, qa_records):
    dataset = make_dataset(owner=member, records=qa_records)
    with pytest.raises(NotFound):
        run_create_from_dataset(actor=outsider, dataset=dataset)


def test_the_same_idempotency_key_returns_the_same_run(member, qa_records):
    dataset = make_dataset(owner=member, records=qa_records)
    first = run_create_from_dataset(actor=member, dataset=dataset, idempotency_key="k-1")
    again = run_create_from_dataset(actor=member, dataset=dataset, idempotency_key="k-1")
    assert first.pk == again.pk
    assert Run.objects.count() == 1


# --- judges over HTTP -------------------------------------------------------------


def judged_dataset(member, n=6, wrong=(), metric="answer_correctness"):
    records = []
    for i in range(n):
        question = f"What is the capital of country {i}?"
        if i in wrong:
            question += "\nFAKE_SCORE: 1"
        records.append(
            {
                "input": {"question": question},
                "expected_output": f"City {i}",
                "actual_output": f"City {i}",
            }
        )
    return make_dataset(owner=member, records=records, metrics=[(metric, {})])


def test_a_judge_run_scores_every_item_through_the_llm_and_accounts_tokens_and_cost(
    member, judge_model, fake_llm, django_capture_on_commit_callbacks
):
    dataset = judged_dataset(member, n=6, wrong={4, 5})
    run = start(
        django_capture_on_commit_callbacks,
        actor=member,
        dataset=dataset,
        model_slug=judge_model.slug,
    )
    assert run.status == "completed"
    assert fake_llm.request_count == 6
    assert run.passed_count == 4 and run.failed_count == 2
    assert run.prompt_tokens > 0 and run.completion_tokens > 0
    assert run.total_cost == judge_model.cost_of(run.prompt_tokens, run.completion_tokens)
    failing = Score.objects.filter(item__run=run, passed=False).first()
    assert failing.reason  # the judge's explanation is kept


def test_judge_429s_with_retry_after_are_retried_until_they_succeed(
    member, judge_model, fake_llm, settings, django_capture_on_commit_callbacks
):
    settings.EVALHUB_ENGINE = {**settings.EVALHUB_ENGINE, "BACKOFF_BASE": 0.01}
    from tests.fakellm import Fault

    fake_llm.queue_faults(
        Fault("429", retry_after=0.05), Fault("500"), Fault("429", retry_after=0.05)
    )
    dataset = judged_dataset(member, n=3)
    run = start(
        django_capture_on_commit_callbacks,
        actor=member,
        dataset=dataset,
        model_slug=judge_model.slug,
    )
    assert run.status == "completed"
    assert run.error_count == 0
    assert fake_llm.request_count == 6


def test_a_judge_that_always_fails_errors_every_item_and_fails_the_run(
    member, judge_model, fake_llm, settings, django_capture_on_commit_callbacks
):
    settings.EVALHUB_ENGINE = {**settings.EVALHUB_ENGINE, "BACKOFF_BASE": 0.01, "MAX_ATTEMPTS": 3}
    fake_llm.set(always="500")
    dataset = judged_dataset(member, n=4)
    run = start(
        django_capture_on_commit_callbacks,
        actor=member,
        dataset=dataset,
        model_slug=judge_model.slug,
    )
    assert run.status == "failed"
    assert run.error_count == 4 and run.completed_count == 4
    assert "Every item failed" in run.error_message
    assert fake_llm.request_count == 4 * 3
    assert all(i.error for i in RunItem.objects.filter(run=run))


def test_an_untrusted_judge_answer_becomes_an_item_error_and_is_not_retried_forever(
    member, judge_model, fake_llm, django_capture_on_commit_callbacks
):
    fake_llm.set(responder=lambda body: "I think it's fine, score: high")
    dataset = judged_dataset(member, n=2)
    run = start(
        django_capture_on_commit_callbacks,
        actor=member,
        dataset=dataset,
        model_slug=judge_model.slug,
    )
    assert run.status == "failed"
    assert fake_llm.request_count == 2
    assert "Judge answer rejected" in RunItem.objects.filter(run=run).first().error


def test_a_truncated_judge_answer_is_an_item_error_with_a_clear_reason(
    member, judge_model, fake_llm, django_capture_on_commit_callbacks
):
    fake_llm.queue_faults("length")
    dataset = judged_dataset(member, n=2)
    run = start(
        django_capture_on_commit_callbacks,
        actor=member,
        dataset=dataset,
        model_slug=judge_model.slug,
    )
    assert run.status == "completed"
    assert run.error_count == 1
    errored = RunItem.objects.get(run=run, status=ItemStatus.ERROR)
    assert "cut off at the token limit" in errored.error


def test_an_exhausted_quota_fails_the_run_fast_with_the_providers_message(
    member, judge_model, fake_llm, settings, django_capture_on_commit_callbacks
):
    settings.EVALHUB_ENGINE = {**settings.EVALHUB_ENGINE, "CONCURRENCY": 1}
    fake_llm.set(always="quota")
    dataset = judged_dataset(member, n=5)
    run = start(
        django_capture_on_commit_callbacks,
        actor=member,
        dataset=dataset,
        model_slug=judge_model.slug,
    )
    assert run.status == "failed"
    assert "quota" in run.error_message.lower()
    assert fake_llm.request_count == 1


def test_an_unchanged_rerun_is_served_from_the_cache_and_costs_no_tokens(
    member, judge_model, fake_llm, django_capture_on_commit_callbacks
):
    dataset = judged_dataset(member, n=3)
    first = start(
        django_capture_on_commit_callbacks,
        actor=member,
        dataset=dataset,
        model_slug=judge_model.slug,
    )
    second = start(
        django_capture_on_commit_callbacks,
        actor=member,
        dataset=dataset,
        model_slug=judge_model.slug,
    )
    assert fake_llm.request_count == 3
    assert second.cached_count == 3
    assert second.aggregate_results == first.aggregate_results
    assert Score.objects.filter(item__run=second, cached=True).count() == 3


def test_repetitions_average_trials_and_flag_items_whose_verdict_flips(
    member, judge_model, fake_llm, django_capture_on_commit_callbacks
):
    answers = iter(
        [
            '{"score": 5, "reason": "good"}',
            '{"score": 1, "reason": "bad"}',
            '{"score": 5, "reason": "good"}',
        ]
    )
    fake_llm.set(responder=lambda body: next(answers))
    dataset = judged_dataset(member, n=1)
    version = make_config(
        owner=member,
        dataset=dataset,
        metrics=[("answer_correctness", {})],
        judge_model=judge_model,
        repetitions=3,
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = run_create(actor=member, config_version=version)
    score = Score.objects.get(item__run=run)
    assert len(score.trials) == 3
    assert score.flipped is True
    assert score.passed is True  # two of three trials passed
    assert RunItem.objects.get(run=run).flipped is True


# --- generation -------------------------------------------------------------------


def test_a_prompt_version_generates_answers_that_are_then_scored(
    member, judge_model, fake_llm, django_capture_on_commit_callbacks
):
    from tests.factories import PromptVersionFactory

    fake_llm.set(responder=lambda body: "Paris")
    dataset = make_dataset(
        owner=member,
        records=[{"input": {"question": "Capital of France?"}, "expected_output": "Paris"}],
    )
    pv = PromptVersionFactory(prompt__owner=member, template="Q: {{ question }}", model=judge_model)
    version = make_config(
        owner=member, dataset=dataset, metrics=[("exact_match", {})], prompt_version=pv
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = run_create(actor=member, config_version=version)
    run.refresh_from_db()
    item = RunItem.objects.get(run=run)
    assert item.output == "Paris" and item.output_source == "generated"
    assert run.passed_count == 1
    assert fake_llm.requests[0]["messages"][-1]["content"] == "Q: Capital of France?"


def test_a_template_variable_missing_from_a_record_is_refused_before_the_run(member, judge_model):
    from tests.factories import PromptVersionFactory

    dataset = make_dataset(
        owner=member, records=[{"input": {"topic": "x"}, "expected_output": "y"}]
    )
    pv = PromptVersionFactory(prompt__owner=member, template="Q: {{ question }}", model=judge_model)
    version = make_config(
        owner=member, dataset=dataset, metrics=[("exact_match", {})], prompt_version=pv
    )
    with pytest.raises(InvalidInput) as err:
        run_create(actor=member, config_version=version)
    assert err.value.code == "missing_variable"
    assert "question" in err.value.message
    assert not Run.objects.exists()


def test_an_http_agent_receives_the_input_and_its_answer_is_scored(
    member, fake_llm, django_capture_on_commit_callbacks
):
    from tests.factories import AgentFactory

    fake_llm.set(agent_responder=lambda body: {"output": "42"})
    agent = AgentFactory(owner=member, kind="http", endpoint_url=fake_llm.agent_url)
    dataset = make_dataset(
        owner=member, records=[{"input": {"question": "6*7?"}, "expected_output": "42"}]
    )
    version = make_config(owner=member, dataset=dataset, metrics=[("exact_match", {})], agent=agent)
    with django_capture_on_commit_callbacks(execute=True):
        run = run_create(actor=member, config_version=version)
    run.refresh_from_db()
    assert run.passed_count == 1
    assert RunItem.objects.get(run=run).output == "42"


# --- cancel, re-run, sweeper ------------------------------------------------------


def test_cancelling_stops_the_remaining_chunks(
    member, settings, django_capture_on_commit_callbacks
):
    settings.EVALHUB_ENGINE = {**settings.EVALHUB_ENGINE, "CHUNK_SIZE": 5}
    records = [{"expected_output": "a", "actual_output": "a"} for _ in range(10)]
    dataset = make_dataset(owner=member, records=records)
    run = create_only(django_capture_on_commit_callbacks, actor=member, dataset=dataset)
    tasks.run_chunk(run.pk, 0)
    assert run_cancel(actor=member, run=run) is True
    tasks.run_chunk(run.pk, 1)
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert run.completed_count == 5
    assert RunItem.objects.filter(run=run, status=ItemStatus.SKIPPED).count() == 5
    assert Score.objects.filter(item__run=run).count() == 5


def test_a_viewer_cannot_cancel_a_run(org, member, viewer, qa_records):
    from evalhub.errors import PermissionDenied

    dataset = make_dataset(owner=member, organization=org, records=qa_records)
    run = run_create_from_dataset(actor=member, dataset=dataset)
    with pytest.raises(PermissionDenied):
        run_cancel(actor=viewer, run=run)


def test_operators_with_the_run_change_permission_cancel_any_run(org, member, qa_records):
    """The admin console's authority (Django's change permission) is enough for
    the service, so the admin action and the API take the same steps."""
    from django.contrib.auth.models import Permission

    from evalhub.errors import PermissionDenied
    from tests.factories import UserFactory

    dataset = make_dataset(owner=member, organization=org, records=qa_records)
    run = run_create_from_dataset(actor=member, dataset=dataset)
    outsider = UserFactory(username="staff-no-perm", is_staff=True)
    with pytest.raises(PermissionDenied):
        run_cancel(actor=outsider, run=run)
    operator = UserFactory(username="operator", is_staff=True)
    operator.user_permissions.add(Permission.objects.get(codename="change_run"))
    assert run_cancel(actor=operator, run=run) is True
    assert RunItem.objects.filter(run=run, status=ItemStatus.PENDING).count() == 0


def test_rerunning_failed_items_rescored_only_the_errored_ones(
    member, judge_model, fake_llm, settings, django_capture_on_commit_callbacks
):
    settings.EVALHUB_ENGINE = {**settings.EVALHUB_ENGINE, "BACKOFF_BASE": 0.01, "MAX_ATTEMPTS": 1}
    fake_llm.queue_faults("500")
    dataset = judged_dataset(member, n=3)
    with django_capture_on_commit_callbacks(execute=True):
        run = run_create_from_dataset(actor=member, dataset=dataset, model_slug=judge_model.slug)
    run.refresh_from_db()
    assert run.error_count == 1 and run.status == "completed"
    requests_before = fake_llm.request_count
    with django_capture_on_commit_callbacks(execute=True):
        assert run_rerun_failed(actor=member, run=run) == 1
    run.refresh_from_db()
    assert fake_llm.request_count == requests_before + 1
    assert run.status == "completed" and run.error_count == 0
    assert run.passed_count == 3
    assert Score.objects.filter(item__run=run).count() == 3


def test_the_sweeper_requeues_the_chunks_of_a_run_whose_worker_died(
    member, qa_records, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from runs.engine.sweeper import sweep

    dataset = make_dataset(owner=member, records=qa_records)
    run = create_only(django_capture_on_commit_callbacks, actor=member, dataset=dataset)
    # A worker claimed the chunk, then died: lease and heartbeat are long gone.
    long_ago = timezone.now() - timedelta(hours=1)
    execute.claim(run.pk, 0)
    RunItem.objects.filter(run=run).update(lease_until=long_ago)
    Run.objects.filter(pk=run.pk).update(status="running", heartbeat_at=long_ago)
    result = sweep(stale_after=60)
    run.refresh_from_db()
    assert result["requeued_chunks"] == 1
    assert run.status == "completed" and run.completed_count == 10


def test_the_sweeper_leaves_healthy_runs_alone(
    member, qa_records, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    from runs.engine.sweeper import sweep

    dataset = make_dataset(owner=member, records=qa_records)
    run = create_only(django_capture_on_commit_callbacks, actor=member, dataset=dataset)
    Run.objects.filter(pk=run.pk).update(status="running", heartbeat_at=timezone.now())
    assert sweep(stale_after=60)["requeued_chunks"] == 0


@pytest.mark.django_db(transaction=True)
def test_a_local_chunk_skips_items_another_transaction_is_scoring(member, qa_records, monkeypatch):
    """PostgreSQL: a duplicate delivery neither waits for nor repeats a chunk in progress."""
    import threading

    from django.db import connection, connections, transaction

    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers instead")
    dataset = make_dataset(owner=member, records=qa_records)
    # Nothing to capture on_commit callbacks with here: keep the chunks unqueued.
    monkeypatch.setattr("runs.services.enqueue_run", lambda *args, **kwargs: 0)
    run = run_create_from_dataset(actor=member, dataset=dataset)
    seen = {}

    def duplicate():
        try:
            seen["summary"] = tasks.run_chunk(run.pk, 0)
        finally:
            connections.close_all()

    with transaction.atomic():  # the first delivery, mid-chunk
        locked = list(
            RunItem.objects.select_for_update(of=("self",)).filter(run=run, chunk=0).order_by()
        )
        worker = threading.Thread(target=duplicate)
        worker.start()
        worker.join(timeout=30)
        assert not worker.is_alive()  # it did not wait for the lock
    assert len(locked) == 10
    assert seen["summary"]["claimed"] == 0
    assert Score.objects.filter(item__run=run).count() == 0
    assert tasks.run_chunk(run.pk, 0)["claimed"] == 10


def test_starting_a_run_moves_its_updated_at(
    member, qa_records, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    dataset = make_dataset(owner=member, records=qa_records)
    run = create_only(django_capture_on_commit_callbacks, actor=member, dataset=dataset)
    long_ago = timezone.now() - timedelta(hours=1)
    Run.objects.filter(pk=run.pk).update(updated_at=long_ago)
    execute._mark_running(run.pk)
    run.refresh_from_db()
    assert run.status == "running" and run.updated_at > long_ago
