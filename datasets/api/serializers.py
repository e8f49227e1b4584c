"""Datasets over the native API: what requests take and responses hold. No writes here."""

from __future__ import annotations

from rest_framework import serializers

from datasets.importers import FORMATS
from datasets.models import Dataset, DatasetMetric, DatasetVersion, LoggedRequest, Record
from evalhub.api.serializers import (
    JSONObjectField,
    MetricRefField,
    SafeJSONField,
    ShareableSerializer,
    SharingInputSerializer,
    UsernameField,
    id_field,
)

MAX_RECORDS_PER_BODY = 10_000


class SelectedMetricSerializer(serializers.ModelSerializer):
    metric_id = serializers.IntegerField(read_only=True)
    slug = serializers.CharField(source="metric.slug", read_only=True)

    class Meta:
        model = DatasetMetric
        fields = ["metric_id", "slug", "args", "position"]
        read_only_fields = fields


class SelectedMetricInputSerializer(serializers.Serializer):
    metric = MetricRefField(help_text="Metric id (seed 004: `1` = json_equal) or slug.")
    args = JSONObjectField(required=False, help_text="Default arguments; runs may override them.")


class DatasetSerializer(ShareableSerializer):
    latest_version_id = serializers.IntegerField(read_only=True, allow_null=True)
    latest_version_number = serializers.IntegerField(read_only=True, allow_null=True)
    record_count = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Records in the latest version."
    )
    selected_metrics = SelectedMetricSerializer(many=True, read_only=True)

    class Meta(ShareableSerializer.Meta):
        model = Dataset
        fields = [
            *ShareableSerializer.Meta.fields,
            "name",
            "description",
            "kind",
            "filter",
            "baseline_run",
            "latest_version_id",
            "latest_version_number",
            "record_count",
            "selected_metrics",
        ]
        read_only_fields = fields


class DatasetCreateSerializer(SharingInputSerializer):
    name = serializers.CharField(max_length=255)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=Dataset.Kind.choices, default=Dataset.Kind.STATIC)
    filter = JSONObjectField(
        required=False,
        allow_null=True,
        help_text="Dynamic datasets: which logged requests a refresh snapshots "
        "(model, tags, metadata, search, since, until, limit).",
    )
    selected_metrics = SelectedMetricInputSerializer(many=True, required=False)


class DatasetUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    selected_metrics = SelectedMetricInputSerializer(
        many=True, required=False, help_text="Replaces the whole selection."
    )


class SelectedMetricsSerializer(serializers.Serializer):
    selected_metrics = SelectedMetricInputSerializer(many=True)


class BaselineSerializer(serializers.Serializer):
    run_id = id_field(allow_null=True, help_text="A finished run of this dataset; null unpins.")


class DatasetVersionSerializer(serializers.ModelSerializer):
    created_by = UsernameField(allow_null=True)

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "uuid",
            "dataset",
            "number",
            "source",
            "note",
            "record_count",
            "columns",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class RecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = Record
        fields = [
            "id",
            "uuid",
            "index",
            "input",
            "expected_output",
            "actual_output",
            "context",
            "metadata",
        ]
        read_only_fields = fields


class RecordsUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV, JSON (an array) or JSONL; streamed, any size.")
    format = serializers.ChoiceField(
        choices=FORMATS, required=False, help_text="Default: from the file name, else sniffed."
    )
    note = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    mapping = JSONObjectField(
        binary=True,  # a multipart field is text: the JSON arrives encoded
        required=False,
        allow_null=True,
        help_text='Which column is which: {"input": "question", "expected_output": "answer"}.',
    )


class RecordsCreateSerializer(serializers.Serializer):
    records = serializers.ListField(
        child=JSONObjectField(),
        min_length=1,
        max_length=MAX_RECORDS_PER_BODY,
        help_text="Record objects read like JSONL lines: input, expected_output, "
        "actual_output, context, metadata.",
    )
    note = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class LoggedRequestSerializer(ShareableSerializer):
    class Meta(ShareableSerializer.Meta):
        model = LoggedRequest
        fields = [
            *ShareableSerializer.Meta.fields,
            "model",
            "prompt",
            "response",
            "tags",
            "metadata",
            "requested_at",
            "latency_ms",
            "prompt_tokens",
            "completion_tokens",
        ]
        read_only_fields = fields


class LoggedRequestInputSerializer(serializers.Serializer):
    """One logged request. Documentation only: the ingest service checks every field."""

    prompt = SafeJSONField(help_text="The request input: text, messages or variables.")
    response = serializers.CharField(required=False, allow_blank=True)
    model = serializers.CharField(required=False, max_length=200)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    metadata = JSONObjectField(required=False)
    requested_at = serializers.DateTimeField(required=False)
    latency_ms = serializers.FloatField(required=False, min_value=0)
    prompt_tokens = serializers.IntegerField(required=False, min_value=0)
    completion_tokens = serializers.IntegerField(required=False, min_value=0)


class LoggedRequestBatchSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = LoggedRequestSerializer(many=True)
