"""Query-string filters of the dataset and logged-request lists (django-filter)."""

from __future__ import annotations

import django_filters

from datasets.models import Dataset, LoggedRequest
from evalhub.api.filters import IdFilter


class DatasetFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(
        field_name="name", lookup_expr="icontains", max_length=200, help_text="Part of the name."
    )
    workspace = IdFilter(field_name="workspace_id")
    organization = IdFilter(field_name="organization_id")

    class Meta:
        model = Dataset
        fields = ["kind", "workspace", "organization", "search"]


class LoggedRequestFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(max_length=200)
    tag = django_filters.CharFilter(method="filter_tag", max_length=200, help_text="Has this tag.")
    since = django_filters.IsoDateTimeFilter(field_name="requested_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="requested_at", lookup_expr="lt")

    class Meta:
        model = LoggedRequest
        fields = ["model", "tag", "since", "until"]

    def filter_tag(self, queryset, name, value):
        # Tags are stored as ",a,b," so that one LIKE finds a whole tag (see LoggedRequest).
        return queryset.filter(tags_text__contains=f",{value},")
