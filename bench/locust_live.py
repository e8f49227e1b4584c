"""Locust users for scenario 4: analysts' browsers and scripts polling live runs.

Each user holds a logged-in session cookie (made by scenario 4, as a login
would make it), then alternates every
second between the runs status table fragment (what htmx polls on /runs/)
and the run detail API (what a script polls), so each user asks for each
every 2 seconds, the status page's own polling interval.
Environment: BENCH_SESSIONS (session keys), BENCH_KEY, BENCH_RUNS (run ids), comma-separated.
"""

import itertools
import os

from locust import FastHttpUser, constant_pacing, task

RUNS = [int(x) for x in os.environ["BENCH_RUNS"].split(",")]
HTMX = {"HX-Request": "true", "HX-Target": "run-table"}
SESSIONS = itertools.cycle(os.environ["BENCH_SESSIONS"].split(","))
NUMBERS = itertools.count()


class Poller(FastHttpUser):
    # geventhttpclient: a fraction of requests' CPU per call, which matters when
    # the load tool shares two cores with the server it measures.
    wait_time = constant_pacing(1.0)

    def on_start(self):
        self.browser = {**HTMX, "Cookie": f"sessionid={next(SESSIONS)}"}
        self.run_id = RUNS[next(NUMBERS) % len(RUNS)]
        self.key = {"Authorization": f"Bearer {os.environ['BENCH_KEY']}"}
        self.turn = 0

    @task
    def poll(self):
        self.turn += 1
        if self.turn % 2:
            with self.client.get(
                "/runs/", headers=self.browser, name="status table fragment", catch_response=True
            ) as r:
                if r.status_code != 200 or "run-row-" not in r.text:
                    r.failure(f"{r.status_code}: no run rows")
        else:
            with self.client.get(
                f"/api/v1/runs/{self.run_id}/",
                headers=self.key,
                name="run detail API",
                catch_response=True,
            ) as r:
                if r.status_code != 200 or '"completed_count"' not in r.text:
                    r.failure(f"{r.status_code}: no counters")
