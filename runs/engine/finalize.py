"""Ending a run: aggregates computed by the database, then one conditional UPDATE.

Two chunk tasks may both see "no pending items" at once; both compute the
same aggregates and only the first UPDATE from an active status wins.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Avg, Count, Q, Sum
from django.utils import timezone

from runs.models import ACTIVE_STATUSES, ItemStatus, Run, RunItem, RunMetric, RunStatus, Score


def aggregates(run: Run) -> dict:
    """Per-metric means and counts, item verdicts, tokens and cost, from the database."""
    per_metric = {
        row["run_metric"]: row
        for row in Score.objects.filter(run_metric__run=run)
        .values("run_metric")
        .annotate(
            n_mean=Avg("value"),
            n_passed=Count("pk", filter=Q(passed=True)),
            n_failed=Count("pk", filter=Q(passed=False)),
            n_errors=Count("pk", filter=~Q(error="")),
        )
    }
    items = RunItem.objects.filter(run=run).aggregate(
        n_passed=Count("pk", filter=Q(status=ItemStatus.DONE, passed=True)),
        n_failed=Count("pk", filter=Q(status=ItemStatus.DONE, passed=False)),
        n_errors=Count("pk", filter=Q(status=ItemStatus.ERROR)),
        n_cached=Count("pk", filter=Q(cached=True)),
        n_done=Count("pk", filter=Q(status__in=[ItemStatus.DONE, ItemStatus.ERROR])),
        n_prompt_tokens=Sum("prompt_tokens"),
        n_completion_tokens=Sum("completion_tokens"),
        n_cost=Sum("cost"),
    )
    items = {k.removeprefix("n_"): v for k, v in items.items()}
    metrics = list(RunMetric.objects.filter(run=run).order_by("position"))
    aggregate_results, means = {}, []
    for rm in metrics:
        row = per_metric.get(rm.pk, {})
        rm.mean_value = row.get("n_mean")
        rm.passed_count = row.get("n_passed", 0)
        rm.failed_count = row.get("n_failed", 0)
        rm.error_count = row.get("n_errors", 0)
        if rm.mean_value is not None:
            aggregate_results[rm.label] = round(rm.mean_value * 100, 2)
            if not rm.informational:
                means.append(rm.mean_value)
    decided = items["passed"] + items["failed"]
    pass_rate = round(100 * items["passed"] / decided, 2) if decided else None
    result = round(100 * sum(means) / len(means), 2) if means else None
    is_gte = None
    if run.threshold is not None and pass_rate is not None:
        is_gte = pass_rate >= run.threshold
    return {
        "metrics": metrics,
        "fields": {
            "passed_count": items["passed"],
            "failed_count": items["failed"],
            "error_count": items["errors"],
            "cached_count": items["cached"],
            "completed_count": items["done"],
            "pass_rate": pass_rate,
            "result": result,
            "aggregate_results": aggregate_results,
            "is_gte_threshold": is_gte,
            "prompt_tokens": items["prompt_tokens"] or 0,
            "completion_tokens": items["completion_tokens"] or 0,
            "total_cost": items["cost"] or 0,
        },
    }


def finalize_run(run_id: int) -> bool:
    """Finish the run if nothing is pending; returns whether this call finished it."""
    run = Run.objects.filter(pk=run_id).first()
    if run is None or run.is_finished:
        return False
    if RunItem.objects.filter(run_id=run_id, status=ItemStatus.PENDING).exists():
        return False
    agg = aggregates(run)
    fields = agg["fields"]
    all_errored = fields["error_count"] > 0 and fields["error_count"] == fields["completed_count"]
    status = RunStatus.FAILED if all_errored else RunStatus.COMPLETED
    error_message = ""
    if all_errored:
        first = (
            RunItem.objects.filter(run_id=run_id, status=ItemStatus.ERROR)
            .order_by("index")
            .values_list("error", flat=True)
            .first()
        )
        error_message = f"Every item failed. First error: {first}"
    now = timezone.now()
    with transaction.atomic():
        won = Run.objects.filter(pk=run_id, status__in=ACTIVE_STATUSES).update(
            status=status,
            finished_at=now,
            updated_at=now,
            error_message=error_message,
            started_at=run.started_at or now,
            **fields,
        )
        if won:
            RunMetric.objects.bulk_update(
                agg["metrics"], ["mean_value", "passed_count", "failed_count", "error_count"]
            )
    return bool(won)


def fail_run(run_id: int, message: str) -> bool:
    """End an active run as failed (an exhausted quota): pending items are skipped."""
    now = timezone.now()
    with transaction.atomic():
        won = Run.objects.filter(pk=run_id, status__in=ACTIVE_STATUSES).update(
            status=RunStatus.FAILED, finished_at=now, updated_at=now, error_message=message[:4000]
        )
        if won:
            RunItem.objects.filter(run_id=run_id, status=ItemStatus.PENDING).update(
                status=ItemStatus.SKIPPED, lease_token=None, lease_until=None
            )
    if won:
        run = Run.objects.get(pk=run_id)
        fields = aggregates(run)["fields"]
        Run.objects.filter(pk=run_id).update(**fields, updated_at=timezone.now())
    return bool(won)
