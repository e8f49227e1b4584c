"""Provider runs: a chunk task keeps its call slots full across chunk edges."""

import asyncio
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from runs import tasks
from runs.engine import execute
from runs.engine.dbproxy import DatabaseProxy
from runs.engine.pipeline import CacheLookup, Pipeline
from runs.models import ItemStatus, Run, RunItem, Score
from tests.runs.test_engine import create_only, judged_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_chunks(settings):
    settings.EVALHUB_ENGINE = {**settings.EVALHUB_ENGINE, "CHUNK_SIZE": 2}
    return settings


def judge_run(member, judge_model, django_capture_on_commit_callbacks, n=6):
    dataset = judged_dataset(member, n=n)
    return create_only(
        django_capture_on_commit_callbacks,
        actor=member,
        dataset=dataset,
        model_slug=judge_model.slug,
    )


def test_a_provider_chunk_task_goes_on_to_the_runs_next_free_chunks(
    member, judge_model, fake_llm, small_chunks, django_capture_on_commit_callbacks
):
    run = judge_run(member, judge_model, django_capture_on_commit_callbacks)
    first = tasks.run_chunk(run.pk, 0)
    later = tasks.run_chunk(run.pk, 1)
    run.refresh_from_db()
    assert first["chunks"] == [0, 1, 2]
    assert first["claimed"] == first["written"] == 6
    assert later.get("claimed", 0) == 0  # its chunk was taken by the first task
    assert run.status == "completed" and run.completed_count == 6
    assert fake_llm.request_count == 6
    assert Score.objects.filter(item__run=run).count() == 6


def test_a_chunk_another_worker_holds_is_left_to_it(
    member, judge_model, fake_llm, small_chunks, django_capture_on_commit_callbacks
):
    run = judge_run(member, judge_model, django_capture_on_commit_callbacks)
    held = execute.claim(run.pk, 1)  # another worker's live lease
    summary = tasks.run_chunk(run.pk, 0)
    run.refresh_from_db()
    assert summary["chunks"] == [0, 2]
    assert run.status == "running" and run.completed_count == 4
    untouched = RunItem.objects.filter(run=run, chunk=1)
    assert all(i.status == ItemStatus.PENDING and i.lease_token == held for i in untouched)


def test_after_its_time_budget_a_task_takes_no_more_chunks(
    member, judge_model, fake_llm, small_chunks, django_capture_on_commit_callbacks
):
    small_chunks.EVALHUB_ENGINE = {**small_chunks.EVALHUB_ENGINE, "TASK_SECONDS": 1e-6}
    run = judge_run(member, judge_model, django_capture_on_commit_callbacks)
    assert tasks.run_chunk(run.pk, 0)["chunks"] == [0]
    assert tasks.run_chunk(run.pk, 1)["chunks"] == [1]
    assert tasks.run_chunk(run.pk, 2)["chunks"] == [2]
    run.refresh_from_db()
    assert run.status == "completed" and run.completed_count == 6


def test_calls_stay_at_the_concurrency_across_chunk_edges(
    member, judge_model, fake_llm, small_chunks, django_capture_on_commit_callbacks
):
    # Chunks of 2 items and 3 call slots: a task bounded by its chunk could
    # never have more than 2 calls in flight; never more than 3 either.
    small_chunks.EVALHUB_ENGINE = {**small_chunks.EVALHUB_ENGINE, "CONCURRENCY": 3}
    fake_llm.set(latency=0.05)
    run = judge_run(member, judge_model, django_capture_on_commit_callbacks, n=12)
    tasks.run_chunk(run.pk, 0)
    run.refresh_from_db()
    assert run.status == "completed" and run.completed_count == 12
    assert fake_llm.stats()["max_in_flight"] == 3


def test_held_leases_are_renewed_before_they_expire(
    member, judge_model, fake_llm, settings, django_capture_on_commit_callbacks
):
    settings.EVALHUB_ENGINE = {**settings.EVALHUB_ENGINE, "HEARTBEAT_STALE_AFTER": 120}
    run = judge_run(member, judge_model, django_capture_on_commit_callbacks)
    token = execute.claim(run.pk, 0)
    soon = timezone.now() + timedelta(seconds=5)
    RunItem.objects.filter(run=run).update(lease_until=soon)
    lease = execute.load_lease(run.pk, 0, token)
    pipeline = Pipeline(run, [], lease, DatabaseProxy())
    pipeline.tick()  # just claimed: nothing to renew yet
    assert {i.lease_until for i in RunItem.objects.filter(run=run)} == {soon}
    lease.renewed_at = time.monotonic() - 60  # a third of the lease has gone by
    pipeline.tick()
    renewed = {i.lease_until for i in RunItem.objects.filter(run=run)}
    assert len(renewed) == 1 and renewed.pop() > timezone.now() + timedelta(seconds=100)


def test_cache_lookups_of_a_wave_of_items_are_one_query():
    queries = []

    async def db(fetch, keys):
        queries.append(list(keys))
        await asyncio.sleep(0.01)
        return {k: {"content": k} for k in keys if k.startswith("hit")}

    async def wave():
        lookup = CacheLookup(db)
        first = await asyncio.gather(*(lookup.get([f"hit-{i}", f"miss-{i}"]) for i in range(10)))
        again = await lookup.get(["hit-x"])
        return first, again

    first, again = asyncio.run(wave())
    assert len(queries) == 2  # the wave, then the lone lookup after it
    assert len(queries[0]) == 20
    assert first[3] == {"hit-3": {"content": "hit-3"}}
    assert again == {"hit-x": {"content": "hit-x"}}


def test_a_rerun_of_generated_answers_reuses_the_cached_judgements_too(
    member, judge_model, fake_llm, django_capture_on_commit_callbacks
):
    from runs.services import run_create
    from tests.factories import PromptVersionFactory
    from tests.runs.conftest import make_config, make_dataset

    dataset = make_dataset(
        owner=member,
        records=[
            {"input": {"question": f"Capital {i}? FAKE_ANSWER: City {i}"}, "expected_output": "x"}
            for i in range(4)
        ],
    )
    pv = PromptVersionFactory(prompt__owner=member, template="{{ question }}", model=judge_model)
    version = make_config(
        owner=member,
        dataset=dataset,
        metrics=[("answer_correctness", {})],
        prompt_version=pv,
        judge_model=judge_model,
    )
    runs = []
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            runs.append(run_create(actor=member, config_version=version))
    first, second = (Run.objects.get(pk=r.pk) for r in runs)
    assert first.status == second.status == "completed"
    assert fake_llm.request_count == 8  # 4 answers + 4 judgements, all in the first run
    assert second.cached_count == 4
    assert Score.objects.filter(item__run=second, cached=True).count() == 4


def test_a_spawned_worker_imports_the_engine_before_its_first_chunk(monkeypatch):
    import sys

    from django_q.signals import post_spawn

    import runs.engine

    # Both restored afterwards, so later tests see the one module object.
    monkeypatch.delitem(sys.modules, "runs.engine.pipeline")
    monkeypatch.delattr(runs.engine, "pipeline")
    post_spawn.send(sender="django_q", proc_name="Process-1")
    assert "runs.engine.pipeline" in sys.modules


@pytest.mark.parametrize("concurrency, sizes", [(30, [30, 30, 10]), (3, [25, 25, 20])])
def test_a_provider_runs_chunks_hold_one_wave_of_calls(
    member, judge_model, settings, django_capture_on_commit_callbacks, concurrency, sizes
):
    from django.db.models import Count

    settings.EVALHUB_ENGINE = {
        **settings.EVALHUB_ENGINE,
        "CHUNK_SIZE": None,
        "CONCURRENCY": concurrency,
    }
    run = judge_run(member, judge_model, django_capture_on_commit_callbacks, n=70)
    counted = (
        RunItem.objects.filter(run=run).values("chunk").annotate(n=Count("pk")).order_by("chunk")
    )
    assert [row["n"] for row in counted] == sizes
