"""Real processes: qcluster workers that die, race, and get cancelled mid-run.

Each test starts `manage.py qcluster` subprocesses on the test database (the
ORM broker on SQLite, the Redis broker when REDIS_URL is set), a fake LLM in
another process, and checks the database afterwards: every item done exactly
once, one Score per (item, metric).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from unittest import mock

import pytest
from django.db import connection

from runs.models import ItemStatus, LanguageModel, Run, RunItem, Score
from runs.services import run_cancel, run_create_from_dataset
from tests.fakellm import spawn_fake_llm
from tests.runs.conftest import make_dataset

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def worker_env(*, cluster: str, broker: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(db["NAME"])
    else:
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    env.update(
        DJANGO_SETTINGS_MODULE="evalhub.settings",
        DEBUG="true",
        Q_BROKER=broker,
        Q_CLUSTER_NAME=cluster,
        Q_WORKERS="2",
        Q_TIMEOUT="60",
        Q_RETRY="90",
        Q_POLL="0.1",
        ENGINE_CONCURRENCY="10",
        ENGINE_HEARTBEAT_STALE_AFTER="3",
        ENGINE_BACKOFF_BASE="0.05",
        ENGINE_REQUEST_TIMEOUT="10",
        **extra,
    )
    return env


def manage(env, *args, timeout=60):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )


def start_cluster(env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so SIGKILL reaches every worker
    )


def kill(process: subprocess.Popen, sig=signal.SIGKILL) -> None:
    """Signal the cluster's whole process group; a graceful stop gets 10 s, then SIGKILL."""
    for signal_, grace in ((sig, 10), (signal.SIGKILL, 30)):
        try:
            os.killpg(process.pid, signal_)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_until(predicate, *, timeout: float, what: str, tick=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if tick:
            tick()
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def broker():
    return "redis" if os.environ.get("REDIS_URL") else "orm"


@pytest.fixture
def fake_llm_process():
    process, url = spawn_fake_llm(latency=0.03)
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def judge(fake_llm_process):
    return LanguageModel.objects.create(slug="proc-judge", base_url=fake_llm_process, api_key="k")


def judged_run(owner, judge, n: int, settings, chunk_size=50) -> Run:
    settings.EVALHUB_ENGINE = {**settings.EVALHUB_ENGINE, "CHUNK_SIZE": chunk_size}
    records = [
        {"input": {"question": f"q{i}"}, "expected_output": f"a{i}", "actual_output": f"a{i}"}
        for i in range(n)
    ]
    dataset = make_dataset(
        owner=owner, records=records, metrics=[("answer_correctness", {}), ("exact_match", {})]
    )
    # Create the run here, but leave its tasks to the real broker: the test
    # process runs django-q2 in sync mode and would execute them itself.
    with mock.patch("runs.services.enqueue_run"):
        return run_create_from_dataset(actor=owner, dataset=dataset, model_slug=judge.slug)


def progress(run: Run) -> int:
    return RunItem.objects.filter(run=run, status__in=[ItemStatus.DONE, ItemStatus.ERROR]).count()


def assert_exactly_once(run: Run, metrics: int = 2) -> None:
    run.refresh_from_db()
    assert run.status == "completed", run.error_message
    assert run.completed_count == run.item_count
    assert RunItem.objects.filter(run=run, status=ItemStatus.DONE).count() == run.item_count
    assert Score.objects.filter(item__run=run).count() == run.item_count * metrics


def test_a_worker_killed_mid_run_is_replaced_and_the_run_completes_exactly_once(
    member, judge, settings, broker
):
    run = judged_run(member, judge, 1000, settings)
    env = worker_env(cluster=f"kill-{uuid.uuid4().hex[:6]}", broker=broker)
    cluster = start_cluster(env)
    try:
        manage(env, "enqueue_run", str(run.pk))
        wait_until(lambda: progress(run) >= 150, timeout=120, what="some progress")
    finally:
        kill(cluster)
    killed_at = progress(run)
    assert killed_at < run.item_count, "the run finished before the kill; make it longer"

    cluster = start_cluster(env)
    try:
        # The sweeper notices the stale heartbeat and re-enqueues what was lost.
        wait_until(
            lambda: Run.objects.get(pk=run.pk).is_finished,
            timeout=240,
            what="the run to finish after the restart",
            tick=lambda: manage(env, "sweep_runs", "--stale-after", "3"),
        )
    finally:
        kill(cluster, signal.SIGTERM)
    assert_exactly_once(run)


def test_two_clusters_on_one_broker_never_score_an_item_twice(member, judge, settings, broker):
    run = judged_run(member, judge, 400, settings, chunk_size=20)
    env = worker_env(cluster=f"pair-{uuid.uuid4().hex[:6]}", broker=broker)
    clusters = [start_cluster(env), start_cluster(env)]
    try:
        manage(env, "enqueue_run", str(run.pk))
        # A duplicate delivery of every chunk, as a redelivering broker would make.
        manage(env, "enqueue_run", str(run.pk))
        wait_until(lambda: Run.objects.get(pk=run.pk).is_finished, timeout=180, what="the run")
    finally:
        for c in clusters:
            kill(c, signal.SIGTERM)
    assert_exactly_once(run)


def test_cancelling_mid_run_stops_new_items_and_ends_cancelled(
    member, judge, settings, broker, fake_llm_process
):
    from tests.fakellm import stats

    run = judged_run(member, judge, 1000, settings)
    env = worker_env(cluster=f"cancel-{uuid.uuid4().hex[:6]}", broker=broker)
    cluster = start_cluster(env)
    try:
        manage(env, "enqueue_run", str(run.pk))
        wait_until(lambda: progress(run) >= 100, timeout=120, what="some progress")
        assert run_cancel(actor=member, run=run) is True
        time.sleep(1.5)  # in-flight calls finish; the workers notice within half a second
        settled = stats(fake_llm_process)["requests"]
        done_after_cancel = progress(run)
        time.sleep(2.0)
        assert stats(fake_llm_process)["requests"] == settled, "calls started after the cancel"
        assert progress(run) == done_after_cancel
    finally:
        kill(cluster, signal.SIGTERM)
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert RunItem.objects.filter(run=run, status=ItemStatus.SKIPPED).count() > 0
    assert progress(run) < run.item_count
