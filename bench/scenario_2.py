"""Scenario 2: a deterministic run on PostgreSQL, end to end, against a bare loop.

200,000 records × 3 metrics (exact_match, json_equal, levenshtein). The bound
is what no platform can beat with these metric functions: the same three
`score()` calls in a plain Python loop over the records (already in memory),
plus one COPY of the 600,000 scores into PostgreSQL. evalhub's figure runs
from the API POST that creates the run to `finished_at`: items planned,
chunks queued on Redis, claimed by two worker processes, scored, written
(scores, item results, counters) and the run finalized with its aggregates.
"""

from __future__ import annotations

import io
import json
import time

from bench.common import fmt_s, setup_django, tenant, web, workers
from bench.judge_run import Setup, timed_run
from bench.report import Row

N, N_QUICK = 200_000, 20_000
METRICS = ("exact_match", "json_equal", "levenshtein")
WORKERS = 2

DETAILS: dict = {}


def rows(n: int) -> list[dict]:
    """Structured answers: about a third differ in a value, some only in key order."""
    out = []
    for i in range(n):
        expected = {
            "order": 1000 + i,
            "status": ["open", "shipped", "late"][i % 3],
            "items": [i % 7, i % 11],
        }
        actual = dict(expected)
        if i % 3 == 1:
            actual["status"] = "lost"
        elif i % 3 == 2:
            actual = {"items": expected["items"], "status": expected["status"], "order": 1000 + i}
        out.append(
            {
                "input": f"Where is order {1000 + i}?",
                "expected_output": json.dumps(expected),
                "actual_output": json.dumps(actual),
            }
        )
    return out


def bare_bound(data: list[dict]) -> float:
    """Seconds for the three metric functions in a loop plus one COPY of the scores."""
    from django.db import connection

    from runs.metrics import Sample, get_metric

    impls = [(get_metric(slug), get_metric(slug).validate_args({})) for slug in METRICS]
    samples = [
        Sample(output=r["actual_output"], input=r["input"], expected_output=r["expected_output"])
        for r in data
    ]
    started = time.perf_counter()
    scores = []
    append = scores.append
    for index, sample in enumerate(samples):
        for position, (impl, args) in enumerate(impls):
            result = impl.score(sample, args)
            append((index, position, result.value, result.passed, result.reason or ""))
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS bench_scores "
            "(item_id bigint, run_metric_id int, value double precision, passed boolean, reason text)"
        )
        cursor.execute("TRUNCATE bench_scores")
        with cursor.copy(
            "COPY bench_scores (item_id, run_metric_id, value, passed, reason) FROM STDIN"
        ) as copy:
            for row in scores:
                copy.write_row(row)
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_scores")
    return elapsed


def prepare(n: int) -> tuple[Setup, list[dict]]:
    setup_django()

    from datasets.services import dataset_create, dataset_import

    user, org, raw = tenant("s2")
    dataset = dataset_create(
        actor=user,
        name=f"Order answers {n}",
        organization=org,
        selected_metrics=[{"metric": slug} for slug in METRICS],
    )
    data = rows(n)
    body = "\n".join(json.dumps(r) for r in data).encode()
    dataset_import(actor=user, dataset=dataset, fileobj=io.BytesIO(body), filename="orders.jsonl")
    return Setup(key=raw, dataset_id=dataset.pk, model_slug="", n=n), data


def run(quick: bool) -> list[Row]:
    n = N_QUICK if quick else N
    setup, data = prepare(n)
    bound = bare_bound(data)
    del data
    with web(workers=1, threads=2) as base, workers(WORKERS):
        result = timed_run(base, setup)
    if result.status != "completed" or result.done != n:
        raise RuntimeError(f"run ended {result.status} with {result.done}/{n} items done")
    ours, theirs = n / result.wall, n / bound
    DETAILS.update(N=n, metrics=", ".join(METRICS), workers=WORKERS, passed=result.passed)
    return [
        Row(
            scenario="2",
            what=f"items/s, POST → completed, {n:,} records × {len(METRICS)} metrics",
            measured=f"{ours:,.0f} items/s ({fmt_s(result.wall)})",
            reference=f"{theirs:,.0f} items/s ({fmt_s(bound)}, bare loop + COPY)",
            ratio=f"{ours / theirs:.0%} of bound",
            target="≥ 50 %",
            met=ours / theirs >= 0.5,
        )
    ]
