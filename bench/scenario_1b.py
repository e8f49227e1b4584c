"""Scenario 1b: a rate-limited judge. Zero 429s, wall time near N / (RPM / 60).

The fake judge accepts 600 requests in any sliding minute and answers 429
beyond that; the judge model in the catalogue carries the same limit. The
engine's shared limiter (GCRA in Redis, one budget for both workers) must
space calls so the provider never refuses one, and still finish close to the
fastest the limit allows.
"""

from __future__ import annotations

from bench.common import fake_judge, fmt_s, web, workers
from bench.judge_run import judged_run, prepare
from bench.report import Row

N, N_QUICK = 1000, 150
RPM = 600
LATENCY = 0.1
CONCURRENCY = 50
WORKERS = 2

DETAILS: dict = {}


def run(quick: bool) -> list[Row]:
    n = N_QUICK if quick else N
    bound = n / (RPM / 60)
    with fake_judge(latency=LATENCY, rpm_limit=RPM) as judge_url:
        setup = prepare(n, judge_url=judge_url, rpm_limit=RPM, tag="s1b")
        with (
            web(workers=2, threads=2) as base,
            workers(WORKERS, concurrency=CONCURRENCY // WORKERS),
        ):
            result, seen = judged_run(base, judge_url, setup)
    DETAILS.update(
        N=n,
        RPM=RPM,
        judge_requests=seen["requests"],
        judge_429=seen["rejected_429"],
        items_done=result.done,
        items_error=result.errors,
    )
    ratio = result.wall / bound
    ok = result.status == "completed" and result.done == n
    return [
        Row(
            scenario="1b",
            what=f"429s received, N={n}, limit {RPM}/min",
            measured=str(seen["rejected_429"]),
            reference="0",
            ratio="—",
            target="0",
            met=ok and seen["rejected_429"] == 0,
            notes=f"{seen['requests']} judge requests for {n} items; {result.errors} items in error.",
        ),
        Row(
            scenario="1b",
            what=f"POST → completed, N={n} at {RPM}/min",
            measured=fmt_s(result.wall),
            reference=f"{fmt_s(bound)} (N / (RPM/60))",
            ratio=f"{ratio:.2f}× bound",
            target="≤ 1.1×",
            met=ok and ratio <= 1.1,
        ),
    ]
