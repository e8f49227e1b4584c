"""Re-enqueues the unfinished work of runs whose worker died.

The engine does not trust the broker for this: django-q2's Redis broker has
no delivery receipts and drops a task whose worker dies, and the ORM broker
redelivers only after ``retry`` seconds. A run whose heartbeat is older than
ENGINE_HEARTBEAT_STALE_AFTER gets its pending chunks queued again; the chunk
tasks skip leased and finished items, so a false alarm costs nothing.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from runs.engine.finalize import finalize_run
from runs.models import ItemStatus, Run, RunItem

log = logging.getLogger(__name__)

SCHEDULE_NAME = "evalhub-sweeper"


def sweep(*, stale_after: int | None = None) -> dict:
    stale_after = stale_after or settings.EVALHUB_ENGINE["HEARTBEAT_STALE_AFTER"]
    from runs.services import enqueue_run

    requeued, finalized = 0, 0
    for run_id in Run.objects.stale(older_than_seconds=stale_after).values_list("pk", flat=True):
        now = timezone.now()
        chunks = list(
            RunItem.objects.filter(run_id=run_id, status=ItemStatus.PENDING)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .values_list("chunk", flat=True)
            .distinct()
            .order_by("chunk")
        )
        if chunks:
            # Touch the heartbeat first, so the next sweep does not queue them again.
            Run.objects.filter(pk=run_id).update(heartbeat_at=now)
            enqueue_run(run_id, chunks)
            requeued += len(chunks)
            log.warning("run %s: re-enqueued %d stale chunks", run_id, len(chunks))
        elif finalize_run(run_id):
            finalized += 1
    return {"requeued_chunks": requeued, "finalized_runs": finalized}


def ensure_schedule() -> None:
    """Register the sweeper with django-q2, by upsert on its name."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": "runs.tasks.sweep",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
