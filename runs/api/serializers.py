"""Catalogues, definitions and runs over the native API: requests parsed, responses rendered."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from evalhub.api.serializers import (
    JSONObjectField,
    MetricRefField,
    ShareableSerializer,
    SharingInputSerializer,
    UsernameField,
    id_field,
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
    Report,
    Run,
    RunItem,
    RunMetric,
    Score,
)

# --- catalogues ------------------------------------------------------------------------


class MetricArgSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField(help_text="string, number, integer, boolean, object or array.")
    default = serializers.JSONField(required=False, help_text="Absent when there is none.")
    required = serializers.BooleanField()
    choices = serializers.ListField(child=serializers.JSONField(), allow_null=True)
    minimum = serializers.FloatField(allow_null=True)
    maximum = serializers.FloatField(allow_null=True)
    help = serializers.CharField(allow_blank=True)


class MetricSerializer(serializers.ModelSerializer):
    args = MetricArgSerializer(source="arg_schema", many=True, read_only=True)
    value_range = serializers.ListField(child=serializers.FloatField(), read_only=True)
    requires = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Metric
        fields = [
            "id",
            "slug",
            "name",
            "kind",
            "description",
            "args",
            "higher_is_better",
            "value_range",
            "requires",
            "is_active",
        ]
        read_only_fields = fields


class LanguageModelSerializer(serializers.ModelSerializer):
    """A catalogue model. Where it is served from and its key stay in the admin."""

    class Meta:
        model = LanguageModel
        fields = [
            "id",
            "slug",
            "display_name",
            "provider_model",
            "input_price_per_mtok",
            "output_price_per_mtok",
            "rpm_limit",
            "tpm_limit",
            "max_concurrency",
            "supports_json_mode",
            "is_active",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "input_price_per_mtok": {"coerce_to_string": False},
            "output_price_per_mtok": {"coerce_to_string": False},
        }


class ModelSlugField(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        super().__init__(slug_field="slug", read_only=True, allow_null=True, **kwargs)


# --- prompts ------------------------------------------------------------------------------


class PromptVersionSerializer(serializers.ModelSerializer):
    model = ModelSlugField()
    created_by = UsernameField(allow_null=True)
    variables = serializers.SerializerMethodField()

    class Meta:
        model = PromptVersion
        fields = [
            "id",
            "uuid",
            "prompt",
            "number",
            "system_prompt",
            "template",
            "variables",
            "model",
            "params",
            "note",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_variables(self, version) -> list[str]:
        from runs.definitions import prompt_variables

        return prompt_variables(version)


class PromptSerializer(ShareableSerializer):
    latest_version = serializers.SerializerMethodField()
    version_count = serializers.IntegerField(read_only=True)

    class Meta(ShareableSerializer.Meta):
        model = Prompt
        fields = [
            *ShareableSerializer.Meta.fields,
            "name",
            "description",
            "version_count",
            "latest_version",
        ]
        read_only_fields = fields

    @extend_schema_field(PromptVersionSerializer(allow_null=True))
    def get_latest_version(self, prompt):
        versions = getattr(prompt, "newest_versions", None)
        version = versions[0] if versions else None
        return PromptVersionSerializer(version).data if version else None


class PromptVersionCreateSerializer(serializers.Serializer):
    template = serializers.CharField(
        max_length=100_000,
        help_text="`{{ variable }}` placeholders are filled from the record input.",
    )
    system_prompt = serializers.CharField(required=False, allow_blank=True, default="")
    model = serializers.CharField(
        required=False, allow_null=True, max_length=100, help_text="Model catalogue slug."
    )
    params = JSONObjectField(
        required=False, help_text="temperature, max_tokens, top_p, seed, stop, …"
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")


class PromptCreateSerializer(SharingInputSerializer, PromptVersionCreateSerializer):
    name = serializers.CharField(max_length=255)
    description = serializers.CharField(required=False, allow_blank=True, default="")


# --- agents -------------------------------------------------------------------------------


class AgentSerializer(ShareableSerializer):
    model = ModelSlugField()
    header_names = serializers.SerializerMethodField(
        help_text="Names of the headers sent to an HTTP agent; values are secrets and not shown."
    )

    class Meta(ShareableSerializer.Meta):
        model = Agent
        fields = [
            *ShareableSerializer.Meta.fields,
            "name",
            "description",
            "kind",
            "model",
            "system_prompt",
            "params",
            "endpoint_url",
            "header_names",
            "output_field",
            "timeout_seconds",
        ]
        read_only_fields = fields

    def get_header_names(self, agent) -> list[str]:
        return sorted(agent.headers or {})


class AgentUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=Agent.Kind.choices, required=False)
    model = serializers.CharField(required=False, allow_null=True, max_length=100)
    system_prompt = serializers.CharField(required=False, allow_blank=True)
    params = JSONObjectField(required=False)
    endpoint_url = serializers.URLField(required=False, allow_blank=True)
    headers = serializers.DictField(child=serializers.CharField(max_length=2000), required=False)
    output_field = serializers.CharField(required=False, max_length=200)
    timeout_seconds = serializers.FloatField(required=False, min_value=0.001, max_value=600)


class AgentCreateSerializer(SharingInputSerializer, AgentUpdateSerializer):
    name = serializers.CharField(max_length=255)
    kind = serializers.ChoiceField(choices=Agent.Kind.choices, default=Agent.Kind.MODEL)


# --- eval configs ---------------------------------------------------------------------------


class ConfigMetricSerializer(serializers.ModelSerializer):
    metric_id = serializers.IntegerField(read_only=True)
    slug = serializers.CharField(source="metric.slug", read_only=True)

    class Meta:
        model = EvalConfigMetric
        fields = ["metric_id", "slug", "args", "informational", "position"]
        read_only_fields = fields


class EvalConfigVersionSerializer(serializers.ModelSerializer):
    judge_model = ModelSlugField()
    created_by = UsernameField(allow_null=True)
    metrics = ConfigMetricSerializer(many=True, read_only=True)

    class Meta:
        model = EvalConfigVersion
        fields = [
            "id",
            "uuid",
            "config",
            "number",
            "threshold",
            "judge_model",
            "prompt_version",
            "agent",
            "repetitions",
            "note",
            "metrics",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class EvalConfigSerializer(ShareableSerializer):
    latest_version = serializers.SerializerMethodField()
    version_count = serializers.IntegerField(read_only=True)

    class Meta(ShareableSerializer.Meta):
        model = EvalConfig
        fields = [
            *ShareableSerializer.Meta.fields,
            "name",
            "description",
            "dataset",
            "version_count",
            "latest_version",
        ]
        read_only_fields = fields

    @extend_schema_field(EvalConfigVersionSerializer(allow_null=True))
    def get_latest_version(self, config):
        versions = getattr(config, "newest_versions", None)
        version = versions[0] if versions else None
        return EvalConfigVersionSerializer(version).data if version else None


class ConfigMetricInputSerializer(serializers.Serializer):
    metric = MetricRefField(help_text="Metric id or slug.")
    args = JSONObjectField(required=False, help_text="Checked against the metric's arg schema.")
    informational = serializers.BooleanField(
        required=False, default=False, help_text="Scored and shown, never decides pass/fail."
    )


class EvalConfigVersionCreateSerializer(serializers.Serializer):
    metrics = ConfigMetricInputSerializer(many=True, allow_empty=False)
    threshold = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=100)
    judge_model = serializers.CharField(required=False, allow_null=True, max_length=100)
    prompt_version_id = id_field(required=False, allow_null=True)
    agent_id = id_field(required=False, allow_null=True)
    repetitions = serializers.IntegerField(required=False, default=1, min_value=1, max_value=20)
    note = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")


class EvalConfigCreateSerializer(SharingInputSerializer, EvalConfigVersionCreateSerializer):
    name = serializers.CharField(max_length=255)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    dataset_id = id_field(
        required=False, allow_null=True, help_text="The records the config applies to."
    )


# --- reports ------------------------------------------------------------------------------------


class ReportSerializer(ShareableSerializer):
    status = serializers.SerializerMethodField(
        help_text="PIPELINE for a pipeline; a final report's run status."
    )

    class Meta(ShareableSerializer.Meta):
        model = Report
        fields = [
            *ShareableSerializer.Meta.fields,
            "name",
            "description",
            "kind",
            "dataset",
            "eval_config",
            "pipeline",
            "run",
            "status",
        ]
        read_only_fields = fields

    def get_status(self, report) -> str:
        if report.is_pipeline:
            return "pipeline"
        return report.run.status if report.run_id else "pending"


class ReportCreateSerializer(SharingInputSerializer):
    name = serializers.CharField(max_length=255)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    dataset_id = id_field(help_text="The pipeline's default dataset.")
    eval_config_id = id_field(help_text="The eval config whose latest version scores it.")


class ReportRunSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, help_text="Name of the final report.")
    dataset_id = id_field(
        required=False, allow_null=True, help_text="Replaces the default dataset."
    )
    refresh_dataset = serializers.BooleanField(required=False, default=False)


# --- runs ---------------------------------------------------------------------------------------


class RunMetricSerializer(serializers.ModelSerializer):
    slug = serializers.CharField(source="metric.slug", read_only=True)

    class Meta:
        model = RunMetric
        fields = [
            "label",
            "metric_id",
            "slug",
            "args",
            "informational",
            "mean_value",
            "passed_count",
            "failed_count",
            "error_count",
        ]
        read_only_fields = fields


class RunSerializer(ShareableSerializer):
    judge_model = ModelSlugField()
    progress_percent = serializers.IntegerField(read_only=True)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta(ShareableSerializer.Meta):
        model = Run
        fields = [
            *ShareableSerializer.Meta.fields,
            "name",
            "alias",
            "status",
            "source",
            "run_type",
            "dataset",
            "dataset_version",
            "config_version",
            "prompt_version",
            "agent",
            "judge_model",
            "threshold",
            "item_count",
            "completed_count",
            "passed_count",
            "failed_count",
            "error_count",
            "cached_count",
            "progress_percent",
            "pass_rate",
            "result",
            "is_gte_threshold",
            "total_cost",
            "started_at",
            "finished_at",
            "duration_seconds",
            "error_message",
        ]
        read_only_fields = fields
        extra_kwargs = {"total_cost": {"coerce_to_string": False}}


class RunDetailSerializer(RunSerializer):
    metrics = RunMetricSerializer(source="run_metrics", many=True, read_only=True)

    class Meta(RunSerializer.Meta):
        fields = [
            *RunSerializer.Meta.fields,
            "metric_args",
            "aggregate_results",
            "repetitions",
            "is_sandbox",
            "prompt_tokens",
            "completion_tokens",
            "estimated_cost",
            "metrics",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "total_cost": {"coerce_to_string": False},
            "estimated_cost": {"coerce_to_string": False},
        }


class RunCreateSerializer(serializers.Serializer):
    """Either ``dataset_id`` (the dataset's selected metrics, seed 004's way) or
    ``config_version_id`` (an eval config version over a dataset version)."""

    dataset_id = id_field(required=False, help_text="Run this dataset's latest version.")
    config_version_id = id_field(required=False, help_text="Run this eval config version.")
    dataset_version_id = id_field(
        required=False, allow_null=True, help_text="Default: the config's dataset, latest version."
    )
    prompt_version_id = id_field(required=False, allow_null=True)
    agent_id = id_field(required=False, allow_null=True)
    record_ids = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        allow_null=True,
        max_length=100_000,
        help_text="Only these records (their uuids).",
    )
    name = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")
    alias = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=255,
        help_text="Unique per user.",
    )
    threshold = serializers.FloatField(
        required=False, allow_null=True, min_value=0, max_value=100, help_text="Pass rate, 0–100."
    )
    model_slug = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=100, help_text="Judge model."
    )
    metric_args = JSONObjectField(
        required=False,
        allow_null=True,
        help_text='Per-run argument overrides by metric id: {"1": {"ignore_order": true}}.',
    )
    block = serializers.BooleanField(
        required=False, default=False, help_text="Answer only when the run has finished."
    )

    def validate(self, attrs):
        # Which of the two shapes: parsing, not a business rule.
        if ("dataset_id" in attrs) == ("config_version_id" in attrs):
            raise serializers.ValidationError(
                {"dataset_id": "Give either dataset_id or config_version_id (not both)."},
                code="one_of",
            )
        if "dataset_id" in attrs:
            extra = [
                f
                for f in ("dataset_version_id", "prompt_version_id", "agent_id", "record_ids")
                if attrs.get(f) is not None
            ]
            if extra:
                raise serializers.ValidationError(
                    {extra[0]: "Only runs of a config version take this; use config_version_id."},
                    code="not_allowed",
                )
        return attrs


class ItemScoreSerializer(serializers.ModelSerializer):
    label = serializers.CharField(source="run_metric.label", read_only=True)
    metric_id = serializers.IntegerField(source="run_metric.metric_id", read_only=True)

    class Meta:
        model = Score
        fields = ["label", "metric_id", "value", "passed", "reason", "error", "flipped", "cached"]
        read_only_fields = fields


class RunItemSerializer(serializers.ModelSerializer):
    record_uuid = serializers.UUIDField(source="record.uuid", read_only=True)
    input = serializers.JSONField(source="record.input", read_only=True)
    expected_output = serializers.CharField(
        source="record.expected_output", read_only=True, allow_null=True
    )
    scores = ItemScoreSerializer(many=True, read_only=True)

    class Meta:
        model = RunItem
        fields = [
            "id",
            "uuid",
            "index",
            "record",
            "record_uuid",
            "input",
            "expected_output",
            "output",
            "output_source",
            "status",
            "passed",
            "score",
            "error",
            "attempts",
            "cached",
            "flipped",
            "latency_ms",
            "prompt_tokens",
            "completion_tokens",
            "cost",
            "finished_at",
            "scores",
        ]
        read_only_fields = fields
        extra_kwargs = {"cost": {"coerce_to_string": False}}


class RerunSerializer(serializers.Serializer):
    queued = serializers.IntegerField(help_text="Errored items queued again.")
    run = RunDetailSerializer()


# --- comparison and gate (rendering the dicts of runs.compare) -------------------------------------


class PassRateDeltaSerializer(serializers.Serializer):
    pairs = serializers.IntegerField()
    base = serializers.FloatField(allow_null=True)
    run = serializers.FloatField(allow_null=True)
    delta = serializers.FloatField(allow_null=True, help_text="Percentage points, run − base.")
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    method = serializers.ChoiceField(choices=["bootstrap", "normal"])


class McNemarSerializer(serializers.Serializer):
    pairs = serializers.IntegerField()
    both_passed = serializers.IntegerField()
    both_failed = serializers.IntegerField()
    improved = serializers.IntegerField(help_text="Failed in the base, passed in the run.")
    regressed = serializers.IntegerField(help_text="Passed in the base, failed in the run.")
    p_value = serializers.FloatField()
    significant = serializers.BooleanField()


class MetricDeltaSerializer(serializers.Serializer):
    label = serializers.CharField()
    metric_id = serializers.IntegerField()
    slug = serializers.CharField()
    higher_is_better = serializers.BooleanField()
    pairs = serializers.IntegerField()
    base_mean = serializers.FloatField(allow_null=True)
    run_mean = serializers.FloatField(allow_null=True)
    delta = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    method = serializers.ChoiceField(choices=["bootstrap", "normal"])
    significant = serializers.BooleanField()


class ItemChangeSerializer(serializers.Serializer):
    record_id = serializers.UUIDField()
    index = serializers.IntegerField()
    base_item_id = serializers.IntegerField()
    run_item_id = serializers.IntegerField()
    base_passed = serializers.BooleanField(allow_null=True)
    run_passed = serializers.BooleanField(allow_null=True)
    base_score = serializers.FloatField(allow_null=True)
    run_score = serializers.FloatField(allow_null=True)


class ComparisonSerializer(serializers.Serializer):
    base_run_id = serializers.IntegerField()
    run_id = serializers.IntegerField()
    matched_by = serializers.ChoiceField(choices=["record", "content"])
    shared_items = serializers.IntegerField()
    only_in_base = serializers.IntegerField()
    only_in_run = serializers.IntegerField()
    confidence = serializers.FloatField()
    seed = serializers.IntegerField()
    resamples = serializers.IntegerField()
    pass_rate = PassRateDeltaSerializer()
    mcnemar = McNemarSerializer()
    metrics = MetricDeltaSerializer(many=True)
    regressed_count = serializers.IntegerField()
    improved_count = serializers.IntegerField()
    regressed = ItemChangeSerializer(many=True)
    improved = ItemChangeSerializer(many=True)


class GateCheckSerializer(serializers.Serializer):
    name = serializers.ChoiceField(choices=["finished", "threshold", "regression"])
    passed = serializers.BooleanField(allow_null=True, help_text="null: not checked.")
    detail = serializers.CharField()


class GateSerializer(serializers.Serializer):
    run_id = serializers.IntegerField()
    baseline_run_id = serializers.IntegerField(allow_null=True)
    verdict = serializers.ChoiceField(choices=["pass", "fail", "pending"])
    passed = serializers.BooleanField()
    pass_rate = serializers.FloatField(allow_null=True)
    threshold = serializers.FloatField(allow_null=True)
    reasons = serializers.ListField(child=serializers.CharField())
    checks = GateCheckSerializer(many=True)
    mcnemar = McNemarSerializer(allow_null=True)
