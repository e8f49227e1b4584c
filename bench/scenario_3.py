"""Scenario 3: a 1,000,000-record JSONL upload through the API, against raw COPY.

The file goes up with curl as multipart (`POST /api/v1/datasets/{id}/upload/`)
to one gunicorn worker; evalhub parses, validates and streams it into a new
dataset version with COPY. The bound is psycopg's COPY of the same rows,
already in memory as tuples, into the same table (timed, then rolled back):
the database work any import must do, with no parsing or checking. Peak memory is the
gunicorn worker's peak resident set (VmHWM) over the upload.
"""

from __future__ import annotations

import json
import subprocess
import time

from bench.common import (
    OUTPUT_DIR,
    fmt_s,
    peak_rss_mb,
    setup_django,
    tenant,
    vacuum_analyze,
    web,
)
from bench.report import Row

N, N_QUICK = 1_000_000, 100_000
RSS_LIMIT_MB = 300

DETAILS: dict = {}


def write_file(n: int):
    path = OUTPUT_DIR / f"import-{n}.jsonl"
    if path.exists():
        return path
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as out:
        for i in range(n):
            out.write(
                json.dumps(
                    {
                        "input": {"question": f"How do I reset the password of account {i}?"},
                        "expected_output": f"Use the reset link sent to the address of account {i}.",
                        "actual_output": f"Click 'Forgot password' for account {i}.",
                        "metadata": {"source": "bench", "n": i},
                    }
                )
                + "\n"
            )
    tmp.rename(path)
    return path


def copy_bound(path, version_id: int) -> float:
    """Seconds for psycopg's COPY of the file's rows into datasets_record.

    The rows are ready in memory as tuples (JSON columns already serialised),
    so only psycopg's row formatting (C) and the server's work are timed.
    """
    import uuid as uuid_mod

    from django.db import connection, transaction

    rows = []
    with path.open() as source:
        for index, line in enumerate(source):
            row = json.loads(line)
            rows.append(
                (
                    uuid_mod.uuid4(),
                    version_id,
                    index,
                    json.dumps(row["input"]),
                    row["expected_output"],
                    row["actual_output"],
                    None,
                    json.dumps(row["metadata"]),
                )
            )
    sql = (
        "COPY datasets_record (uuid, version_id, index, input, expected_output, "
        "actual_output, context, metadata) FROM STDIN"
    )
    with transaction.atomic():
        with connection.cursor() as cursor:
            started = time.perf_counter()
            with cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
            elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return elapsed


def gunicorn_worker_pid(master_pid: int) -> int:
    children = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(master_pid)], capture_output=True, text=True, check=True
    ).stdout.split()
    if len(children) != 1:
        raise RuntimeError(f"expected one gunicorn worker, found {children}")
    return int(children[0])


def run(quick: bool) -> list[Row]:
    n = N_QUICK if quick else N
    setup_django()

    from datasets.models import DatasetVersion
    from datasets.services import dataset_create

    path = write_file(n)
    size_mb = path.stat().st_size / 1e6
    user, org, raw = tenant("s3")
    dataset = dataset_create(actor=user, name=f"Import {n}", organization=org)
    scratch = DatasetVersion.objects.create(dataset=dataset, number=999_999, created_by=user)
    bound = copy_bound(path, scratch.pk)
    scratch.delete()
    vacuum_analyze()  # the bound's rolled-back million rows

    with web(workers=1, threads=1, with_process=True, timeout=900) as (base, master):
        worker = gunicorn_worker_pid(master.pid)
        before = peak_rss_mb(worker)
        started = time.perf_counter()
        answer = subprocess.run(
            [
                "curl",
                "-sS",
                "--noproxy",
                "*",
                "-X",
                "POST",
                f"{base}/api/v1/datasets/{dataset.pk}/upload/",
                "-H",
                f"Authorization: Bearer {raw}",
                "-F",
                f"file=@{path};type=application/x-ndjson",
                "-w",
                "\n%{http_code}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        elapsed = time.perf_counter() - started
        peak = peak_rss_mb(worker)
    body, _, code = answer.rpartition("\n")
    if code != "201":
        raise RuntimeError(f"upload answered {code}: {body[:500]}")
    count = json.loads(body)["record_count"]
    if count != n:
        raise RuntimeError(f"upload stored {count} records, expected {n}")
    ours, theirs = n / elapsed, n / bound
    DETAILS.update(N=n, file_mb=f"{size_mb:.0f}", worker_rss_before_mb=f"{before:.0f}")
    return [
        Row(
            scenario="3",
            what=f"rows/s, {n:,}-record JSONL ({size_mb:.0f} MB) upload via API",
            measured=f"{ours:,.0f} rows/s ({fmt_s(elapsed)})",
            reference=f"{theirs:,.0f} rows/s ({fmt_s(bound)}, psycopg COPY)",
            ratio=f"{ours / theirs:.0%} of bound",
            target="≥ 50 %",
            met=ours / theirs >= 0.5,
        ),
        Row(
            scenario="3",
            what="gunicorn worker peak RSS during the upload",
            measured=f"{peak:.0f} MB",
            reference=f"{RSS_LIMIT_MB} MB limit",
            ratio=f"{peak / RSS_LIMIT_MB:.2f}× limit",
            target=f"< {RSS_LIMIT_MB} MB",
            met=peak < RSS_LIMIT_MB,
            notes=f"worker RSS before the upload: {before:.0f} MB.",
        ),
    ]
