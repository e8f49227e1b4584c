"""Query-string filters of the run list and of a run's items (django-filter)."""

from __future__ import annotations

import django_filters
from django.db.models import Q

from evalhub.api.filters import IdFilter
from runs.models import ItemStatus, Run, RunItem, RunStatus


class RunFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=RunStatus.choices)
    dataset = IdFilter(field_name="dataset_id")
    config = IdFilter(
        field_name="config_version__config_id", help_text="Eval config id (any version)."
    )
    config_version = IdFilter(field_name="config_version_id")
    source = django_filters.MultipleChoiceFilter(choices=Run.Source.choices)
    alias = django_filters.CharFilter(max_length=255)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    search = django_filters.CharFilter(
        method="filter_search", max_length=255, help_text="Part of the name or alias."
    )
    ordering = django_filters.OrderingFilter(
        fields=("created_at", "finished_at", "pass_rate", "result"),
        help_text="Default: -created_at.",
    )

    class Meta:
        model = Run
        fields = [
            "status",
            "dataset",
            "config",
            "config_version",
            "source",
            "alias",
            "created_after",
            "created_before",
            "search",
        ]

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(alias__icontains=value))


OUTCOMES = {
    "passed": {"status": ItemStatus.DONE, "passed": True},
    "failed": {"status": ItemStatus.DONE, "passed": False},
    "error": {"status": ItemStatus.ERROR},
    "pending": {"status": ItemStatus.PENDING},
    "skipped": {"status": ItemStatus.SKIPPED},
}


class RunItemFilter(django_filters.FilterSet):
    """``?outcome=failed``, or per metric: ``?metric=exact_match&passed=false``.

    Without ``metric``, ``passed`` is the item's verdict; with it, that
    metric's score on the item.
    """

    outcome = django_filters.ChoiceFilter(
        choices=[(k, k) for k in OUTCOMES], method="filter_outcome"
    )
    metric = django_filters.CharFilter(
        max_length=64, method="filter_noop", help_text="A metric label of this run."
    )
    passed = django_filters.BooleanFilter(method="filter_noop")

    class Meta:
        model = RunItem
        fields = ["outcome", "metric", "passed"]

    def filter_outcome(self, queryset, name, value):
        return queryset.filter(**OUTCOMES[value])

    def filter_noop(self, queryset, name, value):
        return queryset  # metric and passed are read together in filter_queryset

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        metric = self.form.cleaned_data.get("metric")
        passed = self.form.cleaned_data.get("passed")
        if metric:
            scores = {"scores__run_metric__label": metric}
            if passed is not None:
                scores["scores__passed"] = passed
            return queryset.filter(**scores)
        if passed is not None:
            return queryset.filter(passed=passed)
        return queryset
