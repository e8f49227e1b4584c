"""What every scenario starts: the bench database, Django in this process,
qcluster workers, a gunicorn server and the fake OpenAI-compatible judge.

The bench process itself talks to the database through Django (to build
datasets and read results); servers and workers are real subprocesses on
`evalhub.settings` (production settings, DEBUG off) against the same database.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
BENCH_DB = os.environ.get("BENCH_DB", "evalhub_bench")
DATABASE_URL = f"postgres://postgres@{PG_HOST}:5432/{BENCH_DB}"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
OUTPUT_DIR = ROOT / "bench" / "output"
SECRET_KEY = "bench-only-secret-key-0123456789abcdef-not-for-production"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def base_env(**extra: str) -> dict[str, str]:
    """Environment for subprocesses (and this process) on the bench database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="evalhub.settings",
        DEBUG="false",
        SECRET_KEY=SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        Q_BROKER="redis",
        # Web and workers must share the cluster name: it names the Redis queue.
        Q_CLUSTER_NAME="bench",
        Q_POLL="0.05",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def ensure_database() -> None:
    """Create evalhub_bench if missing and migrate it (quietly)."""
    exists = subprocess.run(
        [
            "psql",
            "-h",
            PG_HOST,
            "-U",
            "postgres",
            "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname='{BENCH_DB}'",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if exists != "1":
        subprocess.run(
            ["psql", "-h", PG_HOST, "-U", "postgres", "-qc", f"CREATE DATABASE {BENCH_DB}"],
            check=True,
        )
    env = base_env()
    commands = [["migrate", "--noinput", "-v", "0"], ["createcachetable"]]
    if not (ROOT / "staticfiles" / "staticfiles.json").exists():  # production storage needs it
        commands.append(["collectstatic", "--noinput", "-v", "0"])
    for args in commands:
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


_django_ready = False


def vacuum_analyze() -> None:
    """VACUUM ANALYZE the bench database: what autovacuum would have done.

    This machine's PostgreSQL runs with autovacuum off, so without this the
    tables keep every dead row of earlier runs (the engine updates each item
    row twice, a bound's COPY is rolled back) and the planner's statistics
    stay those of an empty table: no production database looks like that.
    """
    subprocess.run(
        ["psql", "-h", PG_HOST, "-U", "postgres", "-qc", "VACUUM ANALYZE", BENCH_DB],
        check=True,
    )


def setup_django(**extra: str) -> None:
    """Point this process at the bench database and call django.setup() (once)."""
    global _django_ready
    if _django_ready:
        return
    ensure_database()
    os.environ.update(base_env(**extra))
    import django

    django.setup()
    _django_ready = True
    _leave_nothing_behind()


def _leave_nothing_behind() -> None:
    """An interrupted earlier bench must not steal this one's workers.

    Its queued chunk tasks are dropped with the broker's database, and its
    unfinished runs are cancelled, so the sweeper never re-enqueues them.
    """
    import redis
    from django.utils import timezone

    from runs.models import Run, RunStatus

    redis.Redis.from_url(REDIS_URL).flushdb()
    Run.objects.filter(finished_at__isnull=True).update(
        status=RunStatus.CANCELLED, finished_at=timezone.now()
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the process group, SIGKILL after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def workers(
    count: int = 2,
    *,
    concurrency: int = 50,
    log: Path | None = None,
    **extra: str,
) -> Iterator[list[subprocess.Popen]]:
    """`count` qcluster processes with one worker each (Redis broker), stopped on exit.

    Each process is one django-q2 worker running chunk tasks with
    `ENGINE_CONCURRENCY=concurrency` calls in flight.
    """
    env = base_env(
        Q_WORKERS="1",
        ENGINE_CONCURRENCY=str(concurrency),
        **extra,
    )
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
        for _ in range(count)
    ]
    try:
        _wait_for_clusters(count)
        yield processes
    finally:
        for process in processes:
            stop(process)
        if log:
            out.close()


def _wait_for_clusters(count: int, timeout: float = 60.0) -> None:
    """Until `count` clusters report Idle on the broker (work queued before a
    cluster is up would wait for it, and the bench would time the start-up)."""
    from django_q.brokers import get_broker
    from django_q.conf import Conf
    from django_q.status import Stat

    broker = get_broker()
    deadline = time.monotonic() + timeout
    while True:
        idle = [s for s in Stat.get_all(broker=broker) if s.status == Conf.IDLE]
        if len(idle) >= count:
            time.sleep(0.5)  # and their worker processes have forked
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(idle)} of {count} clusters ready after {timeout} s")
        time.sleep(0.2)


def wait_http(url: str, timeout: float = 30.0) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while True:
        try:
            with opener.open(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout} s") from None
            time.sleep(0.2)


@contextlib.contextmanager
def web(
    workers: int = 2,
    threads: int = 1,
    *,
    timeout: int = 120,
    with_process: bool = False,
    **extra: str,
) -> Iterator:
    """gunicorn on a free port; yields the base URL (no trailing slash),
    or ``(url, master process)`` with ``with_process``."""
    port = free_port()
    env = base_env(**extra)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "evalhub.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "--threads",
            str(threads),
            "--timeout",
            str(timeout),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/healthz")
        yield (base, process) if with_process else base
    finally:
        stop(process)


@contextlib.contextmanager
def fake_judge(
    *, latency: float, rpm_limit: int | None = None, with_process: bool = False
) -> Iterator:
    """The fake OpenAI-compatible server in its own process; yields its /v1 URL,
    or ``(url, process)`` with ``with_process``."""
    from tests.fakellm import spawn_fake_llm

    process, url = spawn_fake_llm(latency=latency, rpm_limit=rpm_limit)
    try:
        yield (url, process) if with_process else url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a live process (peak resident set), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def self_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f} s"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "—"


def _stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # fields from the 3rd (state) on


def process_tree(root: int) -> list[int]:
    """`root` and every live descendant (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int(_stat(int(entry.name))[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = _stat(pid)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def tenant(tag: str):
    """A fresh owner, their organization and an API key for it: ``(user, org, raw_key)``.

    Each scenario works in its own org, so runs, datasets and status tables of
    earlier scenarios never show up in its figures.
    """
    import uuid

    from django.contrib.auth import get_user_model

    from evalhub.models import Membership, Organization, Role
    from evalhub.services import apikey_create

    setup_django()
    suffix = uuid.uuid4().hex[:8]
    user = get_user_model().objects.create_user(f"bench-{suffix}", password=None)
    org = Organization.objects.create(name=f"Bench {tag} {suffix}", slug=f"bench-{suffix}")
    Membership.objects.create(user=user, organization=org, role=Role.OWNER)
    _key, raw = apikey_create(actor=user, user=user, name="bench", organization=org)
    return user, org, raw
