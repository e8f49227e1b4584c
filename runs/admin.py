"""Catalogues, definitions and runs in the admin.

Versions, items and scores are immutable records of what happened: read-only.
A run's definition and results are read-only too; only its name, alias and
sharing are an admin's to change.
"""

from django import forms
from django.contrib import admin, messages

from evalhub.admin import (
    HISTORY_FIELDS,
    SHARING_FIELDS,
    SHARING_FIELDSET,
    SHARING_FILTERS,
    EvalhubAdmin,
    ReadOnlyAdmin,
    ReadOnlyInline,
    SharingAdmin,
    changelist_link,
)
from runs.models import (
    Agent,
    EvalConfig,
    EvalConfigMetric,
    EvalConfigVersion,
    LanguageModel,
    Metric,
    Prompt,
    PromptVersion,
    RateLimitState,
    Report,
    ResponseCache,
    Run,
    RunItem,
    RunMetric,
    Score,
)

# --- Catalogues ---------------------------------------------------------------------


@admin.register(Metric)
class MetricAdmin(EvalhubAdmin):
    """Rows mirror the code registry (synced after migrate); only ``is_active`` is the admin's."""

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
    """The provider key is write-only: never rendered, kept when the field is left empty."""

    api_key = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to keep the stored key (or to use LLM_API_KEY when none is stored).",
    )
    clear_api_key = forms.BooleanField(
        label="Remove the stored key", required=False, help_text="Fall back to LLM_API_KEY."
    )

    class Meta:
        model = LanguageModel
        fields = ["api_key"]  # the admin's fieldsets name the rest

    def clean(self):
        data = super().clean()
        if data.get("clear_api_key"):
            data["api_key"] = ""
        elif not data.get("api_key"):
            data["api_key"] = self.instance.api_key
        return data


@admin.register(LanguageModel)
class LanguageModelAdmin(EvalhubAdmin):
    form = LanguageModelForm
    list_display = [
        "slug",
        "display_name",
        "provider_model",
        "base_url",
        "key_stored",
        "input_price_per_mtok",
        "output_price_per_mtok",
        "rpm_limit",
        "tpm_limit",
        "is_active",
    ]
    list_filter = ["is_active", "supports_json_mode"]
    search_fields = ["slug", "display_name", "provider_model"]
    fieldsets = [
        (None, {"fields": ["slug", "display_name", "provider_model", "is_active"]}),
        ("Provider", {"fields": ["base_url", "api_key", "clear_api_key", "supports_json_mode"]}),
        ("Prices", {"fields": ["input_price_per_mtok", "output_price_per_mtok"]}),
        ("Limits", {"fields": ["rpm_limit", "tpm_limit", "max_concurrency"]}),
    ]

    @admin.display(description="key stored", boolean=True)
    def key_stored(self, obj):
        return bool(obj.api_key)


# --- Prompts, agents, eval configs, reports -------------------------------------------


class PromptVersionInline(ReadOnlyInline):
    model = PromptVersion
    fields = ["number", "model", "note", "created_by", "created_at"]
    select_related = ["model", "created_by"]


@admin.register(Prompt)
class PromptAdmin(SharingAdmin):
    list_display = ["name", "visibility", "owner", "workspace", "created_at"]
    list_filter = SHARING_FILTERS
    search_fields = ["uuid", "name"]
    list_select_related = ["owner", "organization", "workspace"]
    inlines = [PromptVersionInline]


@admin.register(PromptVersion)
class PromptVersionAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "model", "note", "created_by", "created_at"]
    search_fields = ["uuid", "prompt__name"]
    list_select_related = ["prompt", "model", "created_by"]


@admin.register(Agent)
class AgentAdmin(SharingAdmin):
    list_display = ["name", "kind", "model", "endpoint_url", "visibility", "created_at"]
    list_filter = ["kind", *SHARING_FILTERS]
    search_fields = ["uuid", "name", "endpoint_url"]
    list_select_related = ["model", "owner", "organization"]


class EvalConfigVersionInline(ReadOnlyInline):
    model = EvalConfigVersion
    fields = ["number", "threshold", "judge_model", "repetitions", "note", "created_at"]
    select_related = ["judge_model"]


@admin.register(EvalConfig)
class EvalConfigAdmin(SharingAdmin):
    list_display = ["name", "dataset", "visibility", "owner", "created_at"]
    list_filter = SHARING_FILTERS
    search_fields = ["uuid", "name"]
    list_select_related = ["dataset", "owner", "organization"]
    autocomplete_fields = [*SHARING_FIELDS, "dataset"]
    inlines = [EvalConfigVersionInline]


class EvalConfigMetricInline(ReadOnlyInline):
    model = EvalConfigMetric
    fields = ["metric", "args", "informational", "position"]
    show_change_link = False


@admin.register(EvalConfigVersion)
class EvalConfigVersionAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "threshold", "judge_model", "repetitions", "created_at"]
    search_fields = ["uuid", "config__name"]
    list_select_related = ["config", "judge_model"]
    inlines = [EvalConfigMetricInline]


@admin.register(Report)
class ReportAdmin(SharingAdmin):
    list_display = ["name", "kind", "dataset", "eval_config", "run", "visibility", "created_at"]
    list_filter = ["kind", *SHARING_FILTERS]
    search_fields = ["uuid", "name"]
    list_select_related = ["dataset", "eval_config", "run", "organization"]
    autocomplete_fields = [*SHARING_FIELDS, "dataset", "eval_config"]
    raw_id_fields = ["pipeline", "run"]


# --- Runs -----------------------------------------------------------------------------


class RunMetricInline(ReadOnlyInline):
    model = RunMetric
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
    show_change_link = False


RUN_FIELDSETS = [
    (None, {"fields": ["name", "alias", "status", "source", "run_type", "is_sandbox"]}),
    (
        "What was evaluated",
        {
            "fields": [
                "dataset",
                "dataset_version",
                "config_version",
                "prompt_version",
                "agent",
                "judge_model",
                "threshold",
                "metric_args",
                "repetitions",
                "ai_description",
                "examples",
                "idempotency_key",
            ]
        },
    ),
    (
        "Progress and results",
        {
            "fields": [
                "items",
                "completed_count",
                "error_count",
                "passed_count",
                "failed_count",
                "cached_count",
                "pass_rate",
                "result",
                "is_gte_threshold",
                "aggregate_results",
                "prompt_tokens",
                "completion_tokens",
                "total_cost",
                "estimated_cost",
                "started_at",
                "finished_at",
                "heartbeat_at",
                "error_message",
            ]
        },
    ),
    SHARING_FIELDSET,
    ("History", {"fields": HISTORY_FIELDS}),
]


@admin.register(Run)
class RunAdmin(SharingAdmin):
    """Runs are created by ``run_create`` (pages, API, compat endpoints), never here."""

    list_display = [
        "__str__",
        "status",
        "source",
        "dataset",
        "progress",
        "pass_rate",
        "total_cost",
        "visibility",
        "created_at",
    ]
    list_filter = [
        "status",
        "source",
        "run_type",
        ("dataset", admin.RelatedOnlyFieldListFilter),
        *SHARING_FILTERS,
    ]
    search_fields = ["uuid", "alias", "name", "dataset__name", "owner__username"]
    list_select_related = ["dataset", "owner", "organization"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    fieldsets = RUN_FIELDSETS
    readonly_fields = [
        field
        for _, options in RUN_FIELDSETS[:3]
        for field in options["fields"]
        if field not in ("name", "alias")
    ]
    inlines = [RunMetricInline]
    actions = ["cancel_runs"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="progress")
    def progress(self, obj):
        return f"{obj.completed_count}/{obj.item_count}"

    @admin.display(description="items")
    def items(self, obj):
        return changelist_link(RunItem, f"{obj.item_count:,} items", run__id__exact=obj.pk)

    @admin.action(description="Cancel selected active runs", permissions=["change"])
    def cancel_runs(self, request, queryset):
        from runs.services import run_cancel

        cancelled = sum(
            run_cancel(actor=request.user, run=run, source="admin") for run in queryset.active()
        )
        self.message_user(
            request,
            f"Cancelled {cancelled} run(s); finished runs were left as they were.",
            messages.SUCCESS,
        )


@admin.register(RunItem)
class RunItemAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "status", "passed", "score", "cached", "latency_ms", "cost"]
    list_filter = ["status", "passed", "cached", "output_source"]
    search_fields = ["uuid"]
    list_select_related = ["run"]
    show_full_result_count = False

    def has_delete_permission(self, request, obj=None):
        return False  # a run's counters are computed from its items


@admin.register(Score)
class ScoreAdmin(ReadOnlyAdmin):
    list_display = ["item", "metric", "value", "passed", "cached", "error"]
    list_filter = ["passed", "cached", "flipped"]
    list_select_related = ["item__run", "run_metric"]
    show_full_result_count = False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="metric", ordering="run_metric__label")
    def metric(self, obj):
        return obj.run_metric.label


@admin.register(ResponseCache)
class ResponseCacheAdmin(ReadOnlyAdmin):
    """Deleting an entry makes the next identical judge or agent call go to the provider."""

    list_display = ["key", "model", "prompt_tokens", "completion_tokens", "created_at"]
    list_filter = ["model"]
    search_fields = ["=key", "model"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(RateLimitState)
class RateLimitStateAdmin(ReadOnlyAdmin):
    """The shared rate limiter's pacing per model (without Redis); deleting a row resets it."""

    list_display = ["key", "request_tat", "token_tat"]
    search_fields = ["key"]
