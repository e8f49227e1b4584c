"""Keeps the Metric catalogue table in step with the code registry."""

from __future__ import annotations


def sync_metric_catalogue(sender=None, using="default", **kwargs) -> int:
    """Upsert one Metric row per registered metric; returns how many rows were written.

    Runs after every migrate. Metrics removed from the code are marked inactive,
    never deleted, because old runs still point at them.
    """
    from runs.metrics import all_metrics
    from runs.models import Metric

    seen = []
    for metric in all_metrics():
        entry = metric.as_catalogue_entry()
        Metric.objects.using(using).update_or_create(
            id=entry["id"],
            defaults={
                "slug": entry["slug"],
                "name": entry["name"],
                "kind": entry["kind"],
                "description": entry["description"],
                "arg_schema": entry["args"],
                "higher_is_better": entry["higher_is_better"],
                "value_range": list(entry["value_range"]),
                "requires": list(entry["requires"]),
                "is_active": True,
            },
        )
        seen.append(entry["id"])
    Metric.objects.using(using).exclude(id__in=seen).update(is_active=False)
    return len(seen)


def sync_schedules(sender=None, using="default", **kwargs) -> None:
    """Register the engine's periodic tasks with django-q2 (upsert on name)."""
    from runs.engine.sweeper import ensure_schedule

    ensure_schedule()
