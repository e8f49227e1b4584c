"""Datasets in the admin. Versions and records are immutable: shown, never edited."""

from django.contrib import admin

from datasets.models import Dataset, DatasetMetric, DatasetVersion, LoggedRequest, Record
from evalhub.admin import SharingAdminMixin


class DatasetMetricInline(admin.TabularInline):
    model = DatasetMetric
    extra = 0
    fields = ["metric", "args", "position"]


class DatasetVersionInline(admin.TabularInline):
    model = DatasetVersion
    extra = 0
    fields = ["number", "source", "record_count", "note", "created_by", "created_at"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Dataset)
class DatasetAdmin(SharingAdminMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "visibility",
        "owner",
        "organization",
        "workspace",
        "created_at",
    ]
    list_filter = ["kind", "organization"]
    search_fields = ["name", "uuid", "description", "owner__username"]
    list_select_related = ["owner", "organization", "workspace"]
    autocomplete_fields = ["owner", "organization", "workspace"]
    raw_id_fields = ["baseline_run"]
    readonly_fields = ["uuid", "created_at", "updated_at"]
    inlines = [DatasetMetricInline, DatasetVersionInline]

    def get_fieldsets(self, request, obj=None):
        return [
            (
                None,
                {
                    "fields": [
                        "name",
                        "uuid",
                        "description",
                        "kind",
                        "filter",
                        "column_mapping",
                        "baseline_run",
                    ]
                },
            ),
            self.sharing_fieldset,
            ("Dates", {"fields": ["created_at", "updated_at"]}),
        ]


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["dataset", "number", "source", "record_count", "created_by", "created_at"]
    list_filter = ["source"]
    search_fields = ["dataset__name", "uuid", "note"]
    list_select_related = ["dataset", "created_by"]


@admin.register(Record)
class RecordAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["uuid", "version", "index", "short_input", "expected_output"]
    search_fields = ["uuid"]
    list_select_related = ["version__dataset"]
    raw_id_fields = ["version"]
    show_full_result_count = False

    @admin.display(description="input")
    def short_input(self, obj):
        text = obj.input_text
        return text if len(text) < 80 else text[:79] + "…"


@admin.register(LoggedRequest)
class LoggedRequestAdmin(SharingAdminMixin, admin.ModelAdmin):
    list_display = ["requested_at", "model", "visibility", "short_prompt", "tags"]
    list_filter = ["model", "organization"]
    search_fields = ["prompt_text", "response", "uuid"]
    list_select_related = ["organization", "owner"]
    autocomplete_fields = ["owner", "organization", "workspace"]
    readonly_fields = ["uuid", "prompt_text", "tags_text"]
    date_hierarchy = "requested_at"
    show_full_result_count = False

    @admin.display(description="prompt")
    def short_prompt(self, obj):
        return obj.prompt_text[:80]
