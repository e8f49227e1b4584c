"""Scenario 1: a judge-bound run, POST → completed, against the bound N·L/C.

N records, one judge metric, a judge answering after L seconds, C calls in
flight in all, split over two worker processes (C/2 each). No engine can
finish faster than N·L/C; the target is 1.25 × that. The fake judge's own
count of concurrent requests confirms the concurrency really was C (not
more, which would make the bound a lie; not less, which would be our loss).
"""

from __future__ import annotations

from bench.common import cpu_seconds, fake_judge, fmt_s, process_tree, web, workers
from bench.judge_run import prepare, timed_run
from bench.report import Row

N, N_QUICK = 2000, 400
REPEATS, REPEATS_QUICK = 3, 1  # the median is reported; runs vary by ±15 % here
LATENCY = 0.1
CONCURRENCY = 50
WORKERS = 2

DETAILS: dict = {}


def run(quick: bool) -> list[Row]:
    from tests.fakellm import control, stats

    n = N_QUICK if quick else N
    bound = n * LATENCY / CONCURRENCY
    repeats = REPEATS_QUICK if quick else REPEATS
    walls: list[float] = []
    with fake_judge(latency=LATENCY, with_process=True) as (judge_url, judge):
        # One dataset and judge model per repeat: a second run of the same
        # records and model would be answered from the response cache.
        setups = [prepare(n, judge_url=judge_url, tag=f"s1-{i}") for i in range(repeats)]
        with (
            web(workers=2, threads=2, with_process=True) as (base, server),
            workers(WORKERS, concurrency=CONCURRENCY // WORKERS) as clusters,
        ):
            # CPU of each party over a run (the fake judge shares the cores).
            parties = {
                "judge": process_tree(judge.pid),
                "workers": [p for c in clusters for p in process_tree(c.pid)],
                "web": process_tree(server.pid),
            }
            for setup in setups:
                control(judge_url, reset=True)
                before = {k: cpu_seconds(v) for k, v in parties.items()}
                result = timed_run(base, setup)
                used = {k: cpu_seconds(v) - before[k] for k, v in parties.items()}
                seen = stats(judge_url)
                if result.status != "completed" or result.done != n or seen["requests"] != n:
                    raise RuntimeError(f"run {result.run_id}: {result.status}, {seen}")
                walls.append(result.wall)
    median = sorted(walls)[len(walls) // 2]
    DETAILS.update(
        N=n,
        L=f"{LATENCY * 1000:.0f} ms",
        C=CONCURRENCY,
        workers=WORKERS,
        judge_requests=seen["requests"],
        judge_max_in_flight=seen["max_in_flight"],
        items_done=result.done,
        items_error=result.errors,
        runs=", ".join(fmt_s(w) for w in walls),
        **{f"cpu_{k}_s": f"{v:.1f}" for k, v in used.items()},
    )
    ratio = median / bound
    return [
        Row(
            scenario="1",
            what=f"POST → completed, N={n}, L={LATENCY * 1000:.0f} ms, C={CONCURRENCY}, {WORKERS} workers",
            measured=f"{fmt_s(median)} (median of {len(walls)})",
            reference=f"{fmt_s(bound)} (N·L/C)",
            ratio=f"{ratio:.2f}× bound",
            target="≤ 1.25×",
            met=ratio <= 1.25,
            notes=(
                f"runs: {', '.join(fmt_s(w) for w in walls)}. Last run: {seen['requests']} "
                f"judge calls, at most {seen['max_in_flight']} in flight; {result.done} items "
                f"done, {result.errors} errors; CPU: "
                f"fake judge {used['judge']:.1f} s, workers {used['workers']:.1f} s, "
                f"web {used['web']:.1f} s, of {2 * result.wall:.1f} core-seconds."
            ),
        )
    ]
