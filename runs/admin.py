"""Catalogues, definitions and runs in the admin."""

from django import forms
from django.contrib import admin, messages

from evalhub import audit
from evalhub.admin import SharingAdminMixin
from runs.models import (
    Agent,
    EvalConfig,
    EvalConfigMetric,
    EvalConfigVersion,
    LanguageModel,
    Metric,
    Prompt,
    PromptVersion,
    Report,
    ResponseCache,
    Run,
    RunItem,
    RunMetric,
    Score,
)


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Metric)
class MetricAdmin(admin.ModelAdmin):
    """Rows mirror the code registry; only ``is_active`` is an admin's decision."""

    list_display = ["id", "slug", "name", "kind", "higher_is_better", "is_active"]
    list_filter = ["kind", "is_active"]
    list_editable = ["is_active"]
    search_fields = ["slug", "name"]
    readonly_fields = [
        "id",
        "slug",
        "name",
        "kind",
        "description",
        "arg_schema",
        "higher_is_better",
        "value_range",
        "requires",
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LanguageModelForm(forms.ModelForm):
    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the stored key (or to use LLM_API_KEY).",
    )

    class Meta:
        model = LanguageModel
        fields = [
            "slug",
            "display_name",
            "provider_model",
            "base_url",
            "api_key",
            "input_price_per_mtok",
            "output_price_per_mtok",
            "rpm_limit",
            "tpm_limit",
            "max_concurrency",
            "supports_json_mode",
            "is_active",
        ]

    def clean_api_key(self):
        return self.cleaned_data["api_key"] or (self.instance.api_key if self.instance.pk else "")


@admin.register(LanguageModel)
class LanguageModelAdmin(admin.ModelAdmin):
    form = LanguageModelForm
    list_display = [
        "slug",
        "display_name",
        "provider_model",
        "base_url",
        "input_price_per_mtok",
        "output_price_per_mtok",
        "rpm_limit",
        "tpm_limit",
        "is_active",
    ]
    list_filter = ["is_active"]
    search_fields = ["slug", "display_name", "provider_model"]


class PromptVersionInline(admin.TabularInline):
    model = PromptVersion
    extra = 0
    fields = ["number", "model", "note", "created_by", "created_at"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Prompt)
class PromptAdmin(SharingAdminMixin, admin.ModelAdmin):
    list_display = ["name", "visibility", "owner", "organization", "created_at"]
    list_filter = ["organization"]
    search_fields = ["name", "uuid"]
    list_select_related = ["owner", "organization"]
    autocomplete_fields = ["owner", "organization", "workspace"]
    inlines = [PromptVersionInline]


@admin.register(PromptVersion)
class PromptVersionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["prompt", "number", "model", "created_at"]
    search_fields = ["prompt__name", "uuid"]
    list_select_related = ["prompt", "model"]


@admin.register(Agent)
class AgentAdmin(SharingAdminMixin, admin.ModelAdmin):
    list_display = ["name", "kind", "model", "endpoint_url", "visibility"]
    list_filter = ["kind", "organization"]
    search_fields = ["name", "uuid", "endpoint_url"]
    list_select_related = ["model", "organization"]
    autocomplete_fields = ["owner", "organization", "workspace"]


class EvalConfigVersionInline(admin.TabularInline):
    model = EvalConfigVersion
    extra = 0
    fields = ["number", "threshold", "judge_model", "repetitions", "created_at"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(EvalConfig)
class EvalConfigAdmin(SharingAdminMixin, admin.ModelAdmin):
    list_display = ["name", "dataset", "visibility", "owner", "created_at"]
    list_filter = ["organization"]
    search_fields = ["name", "uuid"]
    list_select_related = ["dataset", "owner", "organization"]
    autocomplete_fields = ["owner", "organization", "workspace", "dataset"]
    inlines = [EvalConfigVersionInline]


class EvalConfigMetricInline(admin.TabularInline):
    model = EvalConfigMetric
    extra = 0
    fields = ["metric", "args", "informational", "position"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(EvalConfigVersion)
class EvalConfigVersionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["config", "number", "threshold", "judge_model", "repetitions", "created_at"]
    search_fields = ["config__name", "uuid"]
    list_select_related = ["config", "judge_model"]
    inlines = [EvalConfigMetricInline]


@admin.register(Report)
class ReportAdmin(SharingAdminMixin, admin.ModelAdmin):
    list_display = ["name", "kind", "dataset", "eval_config", "run", "visibility", "created_at"]
    list_filter = ["kind", "organization"]
    search_fields = ["name"]
    list_select_related = ["dataset", "eval_config", "run", "organization"]
    autocomplete_fields = ["owner", "organization", "workspace", "dataset", "eval_config"]
    raw_id_fields = ["pipeline", "run"]


class RunMetricInline(admin.TabularInline):
    model = RunMetric
    extra = 0
    fields = [
        "label",
        "metric",
        "args",
        "informational",
        "mean_value",
        "passed_count",
        "failed_count",
        "error_count",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


RUN_COUNTERS = [
    "status",
    "item_count",
    "completed_count",
    "error_count",
    "passed_count",
    "failed_count",
    "cached_count",
    "pass_rate",
    "result",
    "aggregate_results",
    "is_gte_threshold",
    "prompt_tokens",
    "completion_tokens",
    "total_cost",
    "estimated_cost",
    "started_at",
    "finished_at",
    "heartbeat_at",
    "error_message",
]


@admin.register(Run)
class RunAdmin(SharingAdminMixin, admin.ModelAdmin):
    list_display = [
        "__str__",
        "status",
        "source",
        "dataset",
        "progress",
        "pass_rate",
        "total_cost",
        "owner",
        "created_at",
    ]
    list_filter = ["status", "source", "run_type", "organization"]
    search_fields = ["alias", "name", "uuid", "dataset__name", "owner__username"]
    list_select_related = ["dataset", "owner", "organization"]
    date_hierarchy = "created_at"
    raw_id_fields = [
        "dataset",
        "dataset_version",
        "config_version",
        "prompt_version",
        "agent",
        "judge_model",
    ]
    readonly_fields = ["uuid", *RUN_COUNTERS]
    autocomplete_fields = ["owner", "organization", "workspace"]
    inlines = [RunMetricInline]
    actions = ["cancel_runs"]
    show_full_result_count = False

    @admin.display(description="progress")
    def progress(self, obj):
        return f"{obj.completed_count}/{obj.item_count}"

    @admin.action(description="Cancel selected active runs")
    def cancel_runs(self, request, queryset):
        from runs.models import ItemStatus

        cancelled = 0
        for run in queryset:
            if run.mark_cancelled():
                RunItem.objects.filter(run=run, status=ItemStatus.PENDING).update(
                    status=ItemStatus.SKIPPED
                )
                audit.record("run.cancel", actor=request.user, target=run, source="admin")
                cancelled += 1
        messages.success(
            request, f"Cancelled {cancelled} run(s); finished runs were left as they were."
        )


@admin.register(RunItem)
class RunItemAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["run", "index", "status", "passed", "score", "cached", "latency_ms", "cost"]
    list_filter = ["status", "passed", "cached"]
    search_fields = ["uuid", "run__alias"]
    raw_id_fields = ["run", "record"]
    list_select_related = ["run"]
    show_full_result_count = False


@admin.register(Score)
class ScoreAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["item", "run_metric", "value", "passed", "cached", "error"]
    list_filter = ["passed", "cached"]
    raw_id_fields = ["item", "run_metric"]
    list_select_related = ["item__run", "run_metric"]
    show_full_result_count = False


@admin.register(ResponseCache)
class ResponseCacheAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["key", "model", "prompt_tokens", "completion_tokens", "created_at"]
    search_fields = ["key", "model"]
    show_full_result_count = False
