"""Scenario 4: live pages under load on PostgreSQL and gunicorn.

A finished 100,000-item run and a running one (40 % done) in one org; 50
locust users log in and poll the runs status table fragment and the run
detail API for 30 s (see bench/locust_live.py). Reported: p50/p95/p99 per
endpoint and errors. A poll reads the run row's counters and stored
aggregates; it never aggregates the items table (tests/pages and tests/api
check the SQL of these polls).
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

from bench.common import OUTPUT_DIR, ROOT, setup_django, tenant, vacuum_analyze, web
from bench.report import Row

N, N_QUICK = 100_000, 10_000
USERS = 50
SECONDS, SECONDS_QUICK = 30, 10
P95_TARGET_MS = 100

DETAILS: dict = {}


def prepare(n: int) -> dict:
    setup_django()
    from django.db import connection
    from django.utils import timezone

    from datasets.services import dataset_create, dataset_import
    from runs.engine.finalize import finalize_run
    from runs.models import Run, RunStatus
    from runs.services import run_create_from_dataset

    user, org, raw = tenant("s4")
    dataset = dataset_create(
        actor=user,
        name=f"Live {n}",
        organization=org,
        selected_metrics=[{"metric": "exact_match"}, {"metric": "levenshtein"}],
    )
    body = "\n".join(
        json.dumps(
            {
                "input": f"q{i}",
                "expected_output": f"a{i}",
                "actual_output": f"a{i if i % 5 else -i}",
            }
        )
        for i in range(n)
    ).encode()
    dataset_import(actor=user, dataset=dataset, fileobj=io.BytesIO(body), filename="live.jsonl")
    finished = run_create_from_dataset(actor=user, dataset=dataset, alias="finished")
    running = run_create_from_dataset(actor=user, dataset=dataset, alias="running")
    done_running = int(n * 0.4)
    # Results written in SQL (what the engine would have written), then the
    # finished run finalized by the engine's own code, aggregates and all.
    with connection.cursor() as cursor:
        for run_id, limit in ((finished.pk, n), (running.pk, done_running)):
            cursor.execute(
                """
                UPDATE runs_runitem SET status = 'done', passed = (index %% 5 <> 0),
                       score = CASE WHEN index %% 5 = 0 THEN 0.5 ELSE 1.0 END,
                       finished_at = now(), attempts = 1
                WHERE run_id = %s AND index < %s
                """,
                [run_id, limit],
            )
            cursor.execute(
                """
                INSERT INTO runs_score (item_id, run_metric_id, value, passed, reason, error,
                    flipped, cached, prompt_tokens, completion_tokens, cost)
                SELECT i.id, m.id, i.score, i.passed, '', '', false, false, 0, 0, 0
                FROM runs_runitem i JOIN runs_runmetric m ON m.run_id = i.run_id
                WHERE i.run_id = %s AND i.index < %s
                """,
                [run_id, limit],
            )
    finalize_run(finished.pk)
    now = timezone.now()
    Run.objects.filter(pk=running.pk).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, completed_count=done_running
    )
    import redis

    from bench.common import REDIS_URL

    redis.Redis.from_url(REDIS_URL).flushdb()  # no worker will run these chunks
    # Sessions made here, as a login would make them: fifty logins at once
    # would measure password hashing, not polling.
    from django.test import Client

    sessions = []
    for _ in range(USERS):
        client = Client()
        client.force_login(user)
        sessions.append(client.cookies["sessionid"].value)
    return {
        "sessions": sessions,
        "key": raw,
        "runs": [finished.pk, running.pk],
    }


def stats_rows(prefix) -> dict[str, dict]:
    with open(f"{prefix}_stats.csv", newline="") as handle:
        return {row["Name"]: row for row in csv.DictReader(handle)}


def run(quick: bool) -> list[Row]:
    n = N_QUICK if quick else N
    seconds = SECONDS_QUICK if quick else SECONDS
    setup = prepare(n)
    vacuum_analyze()
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    prefix = OUTPUT_DIR / "locust-live"
    with web(
        workers=3,
        threads=2,
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
        API_THROTTLE_RATE="1000000/min",
    ) as base:
        env = {
            **os.environ,
            "BENCH_SESSIONS": ",".join(setup["sessions"]),
            "BENCH_KEY": setup["key"],
            "BENCH_RUNS": ",".join(map(str, setup["runs"])),
            "NO_PROXY": "*",
        }
        subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(ROOT / "bench" / "locust_live.py"),
                "--headless",
                "-u",
                str(USERS),
                # Users start 0.1 s apart, so their polls are spread over the
                # second like real browsers' (all fifty started at once would
                # poll in lock-step bursts); figures count from the last start.
                "-r",
                "10",
                "--reset-stats",
                "-t",
                f"{seconds + USERS // 10}s",
                "--host",
                base,
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            env=env,
            check=False,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
    stats = stats_rows(prefix)
    rows = []
    for name in ("status table fragment", "run detail API"):
        s = stats[name]
        count, failures = int(s["Request Count"]), int(s["Failure Count"])
        p50, p95, p99 = (float(s[k]) for k in ("50%", "95%", "99%"))
        rows.append(
            Row(
                scenario="4",
                what=f"{name}: p50 / p95 / p99, {USERS} users, {seconds} s",
                measured=f"{p50:.0f} / {p95:.0f} / {p99:.0f} ms",
                reference=f"{P95_TARGET_MS} ms (p95 target)",
                ratio=f"p95 {p95 / P95_TARGET_MS:.2f}× target",
                target=f"p95 < {P95_TARGET_MS} ms, no errors",
                met=p95 < P95_TARGET_MS and failures == 0 and count > 0,
                notes=f"{name}: {count} requests ({float(s['Requests/s']):.0f}/s), {failures} errors.",
            )
        )
    DETAILS.update(
        items_per_run=n,
        users=USERS,
        seconds=seconds,
        gunicorn="3 workers × 2 threads",
        poll_interval="2 s per endpoint per user",
    )
    return rows
