"""Scenario 4: live pages under load on PostgreSQL and gunicorn.

A finished 100,000-item run and a running one (40 % done) in one org; 50
clients poll for 30 s, each about once a second: 25 browsers the runs status
table fragment (logged-in sessions, htmx headers), 25 scripts the run detail
API of the running or the finished run. The load comes from wrk (Debian's
package, installed on first use; bench/wrk_poll.lua), a C client that costs
the two shared cores little. Locust, used before, reported a p50 of 210–260 ms
where wrk and a plain aiohttp client each measured 11–21 ms against the same
server under the same load (locust's FastHttpUser and HttpUser alike; gunicorn
also spent more CPU per request under it); we did not find why, and report wrk.
Reported: p50/p95/p99 per endpoint and errors. A poll reads the run row's counters and stored
aggregates; it never aggregates the items table (tests/pages and tests/api
check the SQL of these polls).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess

from bench.common import ROOT, setup_django, tenant, vacuum_analyze, web
from bench.report import Row

N, N_QUICK = 100_000, 10_000
USERS = 50
SECONDS, SECONDS_QUICK = 30, 10
WARM_UP_SECONDS = 5
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


def ensure_wrk() -> str:
    """wrk from Debian, installed on first use like the CI installs chromium."""
    found = shutil.which("wrk")
    if found:
        return found
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, check=False)
        subprocess.run(install, capture_output=True, check=True)
    return shutil.which("wrk") or "wrk"


# (row name, path, clients, headers, text every good answer holds)
def pollers(setup: dict) -> list[tuple[str, str, int, dict, str]]:
    finished, running = setup["runs"]
    key = {"Authorization": f"Bearer {setup['key']}"}
    return [
        (
            "status table fragment",
            "/runs/",
            USERS // 2,
            {"HX-Request": "true", "HX-Target": "run-table"},
            "run-row-",
        ),
        (
            "run detail API, running run",
            f"/api/v1/runs/{running}/",
            USERS // 4 + 1,
            key,
            '"completed_count"',
        ),
        (
            "run detail API, finished run",
            f"/api/v1/runs/{finished}/",
            USERS // 4,
            key,
            '"completed_count"',
        ),
    ]


def poll(wrk: str, base: str, setup: dict, seconds: int) -> list[tuple[str, int, str]]:
    """Every poller at once for ``seconds``; (name, clients, wrk's output) for each."""
    loads = []
    for name, path, clients, headers, mark in pollers(setup):
        env = {
            **os.environ,
            "BENCH_PATH": path,
            "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in headers.items()),
            "BENCH_COOKIES": ",".join(setup["sessions"]) if "HX-Request" in headers else "",
            "BENCH_MARK": mark,
        }
        command = [wrk, "-t", "1", "-c", str(clients), "-d", f"{seconds}s", "--timeout", "10s"]
        command += ["-s", str(ROOT / "bench" / "wrk_poll.lua"), base + path]
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        loads.append((name, clients, process))
    return [(name, clients, process.communicate()[0]) for name, clients, process in loads]


def run(quick: bool) -> list[Row]:
    n = N_QUICK if quick else N
    seconds = SECONDS_QUICK if quick else SECONDS
    wrk = ensure_wrk()
    setup = prepare(n)
    vacuum_analyze()
    with web(
        workers=3,
        threads=2,
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
        API_THROTTLE_RATE="1000000/min",
    ) as base:
        # A first, unmeasured pass: every gunicorn thread has connected, compiled
        # its templates and filled the caches before the clock starts.
        poll(wrk, base, setup, WARM_UP_SECONDS)
        results = poll(wrk, base, setup, seconds)
    rows = []
    for name, clients, output in results:
        found = re.search(
            r"RESULT p50=(\d+) p95=(\d+) p99=(\d+) requests=(\d+) failures=(\d+)", output
        )
        if not found:
            raise RuntimeError(f"wrk printed no result for {name}: {output[-2000:]}")
        p50, p95, p99 = (int(found[i]) / 1000 for i in (1, 2, 3))
        count, failures = int(found[4]), int(found[5])
        rows.append(
            Row(
                scenario="4",
                what=f"{name}: p50 / p95 / p99, {clients} clients, {seconds} s",
                measured=f"{p50:.0f} / {p95:.0f} / {p99:.0f} ms",
                reference=f"{P95_TARGET_MS} ms (p95 target)",
                ratio=f"p95 {p95 / P95_TARGET_MS:.2f}× target",
                target=f"p95 < {P95_TARGET_MS} ms, no errors",
                met=p95 < P95_TARGET_MS and failures == 0 and count > 0,
                notes=f"{name}: {count} requests ({count / seconds:.0f}/s), {failures} errors.",
            )
        )
    DETAILS.update(
        items_per_run=n,
        clients=USERS,
        seconds=seconds,
        gunicorn="3 workers × 2 threads",
        poll_interval="each client about once a second (0.5 to 1.5 s apart)",
        load_tool="wrk (Debian), bench/wrk_poll.lua",
    )
    return rows
