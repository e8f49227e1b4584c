"""The judge-run setting shared by scenarios 1, 1b, 5 and 6.

A dataset of N support questions with answers, scored by one judge metric
(`rubric`, the same rubric the peers get in scenario 5), judged by a model in
the catalogue whose base URL is the fake OpenAI-compatible judge. The run is
started the way a script starts it: `POST /api/v1/runs/` with an API key, on
gunicorn; the clock runs from just before that POST until the run's
`finished_at`.
"""

from __future__ import annotations

import io
import json
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime

from bench.common import setup_django, tenant, vacuum_analyze

RUBRIC = (
    "The answer addresses the customer's question directly, is factually consistent "
    "with the expected answer, and is polite."
)

# No proxies: a developer's HTTP_PROXY must never capture calls to 127.0.0.1.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def records(n: int) -> list[dict]:
    """N deterministic support questions (the same list for evalhub and the peers)."""
    topics = ["refunds", "shipping", "billing", "passwords", "plans", "invoices", "returns"]
    rows = []
    for i in range(n):
        topic = topics[i % len(topics)]
        rows.append(
            {
                "input": f"Question {i}: how do {topic} work for order {1000 + i}?",
                "expected_output": f"{topic.capitalize()} for order {1000 + i} take 3 days.",
                "actual_output": f"For order {1000 + i}, {topic} take three days.",
            }
        )
    return rows


@dataclass
class Setup:
    key: str  # raw API key
    dataset_id: int
    model_slug: str
    n: int


def prepare(n: int, *, judge_url: str, rpm_limit: int | None = None, tag: str = "") -> Setup:
    """Owner, org, API key, judge model and an N-record dataset selecting the rubric."""
    setup_django()

    from datasets.services import dataset_create, dataset_import
    from runs.models import LanguageModel

    user, org, raw = tenant(tag)
    model = LanguageModel.objects.create(
        slug=f"bench-judge-{org.slug.removeprefix('bench-')}",
        display_name="Bench judge (fake)",
        provider_model="judge-1",
        base_url=judge_url,
        rpm_limit=rpm_limit,
    )
    dataset = dataset_create(
        actor=user,
        name=f"Support answers {n}",
        organization=org,
        selected_metrics=[{"metric": "rubric", "args": {"criteria": RUBRIC}}],
    )
    body = "\n".join(json.dumps(r) for r in records(n)).encode()
    dataset_import(actor=user, dataset=dataset, fileobj=io.BytesIO(body), filename="bench.jsonl")
    return Setup(key=raw, dataset_id=dataset.pk, model_slug=model.slug, n=n)


def api(base: str, path: str, key: str, body: dict | None = None, method: str | None = None):
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method or ("POST" if body is not None else "GET"),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with OPENER.open(request, timeout=60) as response:
        return response.status, json.load(response)


@dataclass
class Timed:
    run_id: int
    wall: float  # seconds from just before the POST to finished_at
    status: str
    done: int
    errors: int
    passed: int


def warm_up(base: str, setup: Setup, requests: int = 8) -> None:
    """A few reads through the API, so every gunicorn worker has imported and
    connected before the clock starts: a server that has just booted is not
    what a script talks to."""
    for _ in range(requests):
        api(base, f"/api/v1/datasets/{setup.dataset_id}/", setup.key)
        api(base, "/api/v1/runs/", setup.key)


def timed_run(base: str, setup: Setup, *, timeout: float = 900.0, **extra) -> Timed:
    """POST the run, wait for it to finish, return the wall time to `finished_at`."""
    from runs.models import ItemStatus, Run

    vacuum_analyze()
    warm_up(base, setup)
    payload = {"dataset_id": setup.dataset_id}
    if setup.model_slug:
        payload["model_slug"] = setup.model_slug
    payload.update({k: v for k, v in extra.items() if v is not None})
    started = time.time()
    status, body = api(base, "/api/v1/runs/", setup.key, payload)
    if status != 201:
        raise RuntimeError(f"run create answered {status}: {body}")
    run_id = body["id"]
    deadline = time.monotonic() + timeout
    while True:
        run = Run.objects.filter(pk=run_id).values("status", "finished_at").get()
        if run["finished_at"] is not None:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run_id} not finished after {timeout} s: {run['status']}")
        time.sleep(0.02)
    finished: datetime = run["finished_at"]
    items = Run.objects.get(pk=run_id).items
    return Timed(
        run_id=run_id,
        wall=finished.timestamp() - started,
        status=run["status"],
        done=items.filter(status=ItemStatus.DONE).count(),
        errors=items.filter(status=ItemStatus.ERROR).count(),
        passed=items.filter(passed=True).count(),
    )


def judged_run(base: str, judge_url: str, setup: Setup, **extra) -> tuple[Timed, dict]:
    """``timed_run`` on a freshly reset fake judge; also returns the judge's counters."""
    from tests.fakellm import control, stats

    control(judge_url, reset=True)
    result = timed_run(base, setup, **extra)
    return result, stats(judge_url)
