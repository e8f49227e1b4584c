"""Datasets in the admin. Versions and their records are immutable: shown, never edited."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from datasets.models import Dataset, DatasetMetric, DatasetVersion, LoggedRequest, Record
from datasets.services import validate_filter
from evalhub.admin import (
    SHARING_FILTERS,
    ReadOnlyAdmin,
    ReadOnlyInline,
    SharingAdmin,
    changelist_link,
)
from evalhub.errors import InvalidInput


def _clip(text: str, length: int = 80) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


class DatasetForm(forms.ModelForm):
    def clean_filter(self):
        try:
            return validate_filter(self.cleaned_data["filter"])
        except InvalidInput as err:
            raise ValidationError(err.message) from None


class DatasetMetricForm(forms.ModelForm):
    def clean(self):
        from runs.metrics import get_metric

        data = super().clean()
        if data.get("metric"):
            try:
                get_metric(data["metric"].pk).validate_args(data.get("args") or {})
            except InvalidInput as err:
                # A dataset may leave a required argument to each run (seed 004).
                if err.code != "missing_argument":
                    raise ValidationError({"args": err.message}) from None
        return data


class DatasetMetricInline(admin.TabularInline):
    model = DatasetMetric
    form = DatasetMetricForm
    extra = 0
    fields = ["metric", "args", "position"]


class DatasetVersionInline(ReadOnlyInline):
    model = DatasetVersion
    fields = ["number", "source", "record_count", "note", "created_by", "created_at"]
    select_related = ["created_by"]


@admin.register(Dataset)
class DatasetAdmin(SharingAdmin):
    form = DatasetForm
    list_display = ["name", "kind", "visibility", "owner", "workspace", "created_at"]
    list_filter = ["kind", *SHARING_FILTERS]
    search_fields = ["name", "uuid", "owner__username"]
    list_select_related = ["owner", "organization", "workspace"]
    raw_id_fields = ["baseline_run"]
    date_hierarchy = "created_at"
    inlines = [DatasetMetricInline, DatasetVersionInline]


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "source", "records", "created_by", "created_at"]
    list_filter = ["source"]
    search_fields = ["uuid", "dataset__name", "note"]
    list_select_related = ["dataset", "created_by"]
    readonly_fields = ["records"]

    @admin.display(description="records", ordering="record_count")
    def records(self, obj):
        return changelist_link(Record, f"{obj.record_count:,}", version__id__exact=obj.pk)


@admin.register(Record)
class RecordAdmin(ReadOnlyAdmin):
    list_display = ["uuid", "version", "index", "short_input", "expected_output"]
    search_fields = ["uuid"]
    list_select_related = ["version__dataset"]
    raw_id_fields = ["version"]
    show_full_result_count = False

    def has_delete_permission(self, request, obj=None):
        return False  # a version's records go with the version

    @admin.display(description="input")
    def short_input(self, obj):
        return _clip(obj.input_text)


@admin.register(LoggedRequest)
class LoggedRequestAdmin(SharingAdmin):
    list_display = ["requested_at", "model", "short_prompt", "tags", "visibility"]
    list_filter = ["model", *SHARING_FILTERS]
    search_fields = ["uuid", "prompt_text", "response"]
    list_select_related = ["owner", "organization"]
    date_hierarchy = "requested_at"
    show_full_result_count = False

    @admin.display(description="prompt")
    def short_prompt(self, obj):
        return _clip(obj.prompt_text)
