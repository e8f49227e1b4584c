"""Scenario 6: scale-out. Scenario 1 with 1, 2 and 4 worker processes at C each.

Every worker process runs chunks with C calls in flight, so the bound
N·L/(C·workers) halves with each doubling; the speed-up is measured against
one worker. On this two-core machine the fake judge, PostgreSQL and the
workers share the cores, which caps what four workers can show.
"""

from __future__ import annotations

from bench.common import fake_judge, fmt_s, web, workers
from bench.judge_run import judged_run, prepare
from bench.report import Row

N, N_QUICK = 2000, 400
LATENCY = 0.1
CONCURRENCY = 50  # per worker process
COUNTS = (1, 2, 4)

DETAILS: dict = {}


def run(quick: bool) -> list[Row]:
    n = N_QUICK if quick else N
    walls: dict[int, float] = {}
    with fake_judge(latency=LATENCY) as judge_url, web(workers=2, threads=2) as base:
        for count in COUNTS:
            setup = prepare(n, judge_url=judge_url, tag=f"s6-{count}")
            with workers(count, concurrency=CONCURRENCY):
                result, seen = judged_run(base, judge_url, setup)
            if result.status != "completed" or result.done != n:
                raise RuntimeError(f"{count} workers: run ended {result.status}, {result.done}/{n}")
            walls[count] = result.wall
            DETAILS[f"max_in_flight_{count}w"] = seen["max_in_flight"]
    rows = []
    for count in COUNTS:
        bound = n * LATENCY / (CONCURRENCY * count)
        speedup = walls[1] / walls[count]
        rows.append(
            Row(
                scenario="6",
                what=f"{count} worker{'s' if count > 1 else ''} × C={CONCURRENCY}, N={n}",
                measured=fmt_s(walls[count]),
                reference=f"{fmt_s(bound)} (N·L/(C·workers))",
                ratio=f"{walls[count] / bound:.2f}× bound; speed-up {speedup:.2f}× vs 1 worker",
                target="speed-up grows with workers",
                met=None if count == 1 else speedup > 1.0,
            )
        )
    DETAILS.update(N=n, L=f"{LATENCY * 1000:.0f} ms")
    return rows
