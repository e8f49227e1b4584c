"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server,
and a real django-q2 cluster (``manage.py qcluster``) executes the runs.

How the work reaches the cluster: the test settings run django-q2 synchronously
(``sync=True``, read once at import), which inside a live-server test would run
each run's chunks inline in the request thread. The ``worker`` fixture flips
``django_q.conf.Conf.SYNC`` off in this process, so ``async_task`` puts the
chunks on the ORM broker in the test database, and starts a qcluster subprocess
on that same database with the same cluster name and SECRET_KEY (django-q2
signs task payloads with it). That is the production path: web process
enqueues, a separate worker process claims and executes.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
import uuid
from pathlib import Path
from unittest import mock

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "output" / "screenshots"


# Package scope, not session: while Playwright's sync API is started, its event
# loop counts as running in this thread, so any later test calling
# ``asyncio.run`` (the provider and rate-limiter tests) would fail with "cannot
# be called from a running event loop". Stopping it when this package's tests
# end leaves the rest of the suite as it found it.
@pytest.fixture(scope="package")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    # The test itself still makes ordinary blocking ORM calls between browser
    # steps, which Django refuses inside a running loop unless told otherwise;
    # allowed only while the browser is up.
    with (
        mock.patch.dict(os.environ, {"DJANGO_ALLOW_ASYNC_UNSAFE": "true"}),
        sync_playwright() as playwright,
    ):
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.e2e_failed = report.failed


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    if getattr(request.node, "e2e_failed", False):
        # What the browser showed when the test failed, for the CI artefacts.
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"FAILED-{request.node.name}.png"), full_page=True)
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def shot():
    """``shot(page, name)`` saves a full-page screenshot to tests/output/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, *, full_page: bool = True, height: int | None = None):
        """``height``: just the top of the page at that window height (small files for docs)."""
        path = SCREENSHOTS / f"{name}.png"
        if height is None:
            page.screenshot(path=str(path), full_page=full_page)
            return path
        size = page.viewport_size
        page.set_viewport_size({"width": size["width"], "height": height})
        page.screenshot(path=str(path))
        page.set_viewport_size(size)
        return path

    return take


@pytest.fixture
def worker(transactional_db, settings):
    """A real qcluster on the test database; this process only enqueues."""
    from django_q.conf import Conf

    from tests.runs.test_fault_tolerance import kill, start_cluster, worker_env

    env = worker_env(cluster=Conf.PREFIX, broker="orm", SECRET_KEY=settings.SECRET_KEY)
    # Slow enough to watch a run move, and no sweeper re-enqueueing a busy run.
    env.update(ENGINE_CONCURRENCY="2", ENGINE_HEARTBEAT_STALE_AFTER="60")
    cluster = start_cluster(env)
    try:
        with mock.patch.object(Conf, "SYNC", False):
            yield cluster
    finally:
        kill(cluster, signal.SIGTERM)


def wait_for(predicate, *, timeout: float = 60, what: str = "a condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:4]}"
