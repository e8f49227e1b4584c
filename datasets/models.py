"""Datasets of test cases, their immutable versions, and logged LLM requests.

A :class:`Dataset` is a name with a history: every upload or refresh makes a
new :class:`DatasetVersion`, and a version's :class:`Record` rows never change
after it is written, so a run always points at exactly what it evaluated.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from evalhub.models import Shareable, ShareableQuerySet


class Dataset(Shareable):
    class Kind(models.TextChoices):
        STATIC = "static", "Static"
        DYNAMIC = "dynamic", "Dynamic (from logged requests)"

    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.STATIC)
    # Dynamic datasets: which logged requests a refresh snapshots. Keys:
    # model, tags (all of), metadata (key → value), search (in prompt/response),
    # since / until (ISO times), limit.
    filter = models.JSONField(default=dict, blank=True)
    # Column mapping used by uploads: which source column is input/expected/…
    column_mapping = models.JSONField(default=dict, blank=True)
    baseline_run = models.ForeignKey(
        "runs.Run",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="New runs of this dataset are compared with this run by default.",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["static", "dynamic"]), name="dataset_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(owner__isnull=False) | Q(organization__isnull=False),
                name="dataset_has_owner_or_org",
            ),
        ]
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self) -> str:
        return self.name

    @property
    def is_dynamic(self) -> bool:
        return self.kind == self.Kind.DYNAMIC

    def latest_version(self) -> DatasetVersion | None:
        return self.versions.order_by("-number").first()

    def sharing_for_run_by(self, user, *, acting_organization=None) -> dict:
        """Owner, workspace and organization of a run ``user`` creates from this dataset.

        Seed 004's rules: the run is always owned by the caller and copies the
        dataset's data collection (workspace); its org is, in order, the
        dataset's org, the collection's org, the caller's own org when the
        dataset belongs to someone else, or none (private). The caller's org
        is the API key's org when the key is scoped, else their first membership.
        """
        from evalhub.models import Membership

        organization = self.organization
        if organization is None and self.workspace is not None:
            organization = self.workspace.organization
        if organization is None and self.owner_id != user.pk:
            if acting_organization is not None:
                organization = acting_organization
            else:
                membership = (
                    Membership.objects.filter(user=user)
                    .select_related("organization")
                    .order_by("created_at", "pk")
                    .first()
                )
                organization = membership.organization if membership else None
        return {"owner": user, "workspace": self.workspace, "organization": organization}


class DatasetMetric(models.Model):
    """A metric selected on a dataset with its default arguments (seed 004's selected_metrics)."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="selected_metrics")
    metric = models.ForeignKey("runs.Metric", on_delete=models.PROTECT, related_name="+")
    args = models.JSONField(default=dict, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "metric"], name="dataset_metric_unique")
        ]

    def __str__(self) -> str:
        return f"{self.dataset}: {self.metric_id}"


class DatasetVersion(models.Model):
    """An immutable snapshot of a dataset's records."""

    class Source(models.TextChoices):
        UPLOAD = "upload", "Upload"
        API = "api", "API"
        REFRESH = "refresh", "Refresh from logged requests"
        DEMO = "demo", "Demo data"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.UPLOAD)
    note = models.CharField(max_length=255, blank=True)
    record_count = models.PositiveIntegerField(default=0)
    columns = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="dataset_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.dataset} v{self.number}"

    # Visibility follows the dataset.
    @property
    def owner_id(self):
        return self.dataset.owner_id

    @property
    def organization_id(self):
        return self.dataset.organization_id


class Record(models.Model):
    """One test case. ``uuid`` is its stable public id (Aymara's prompt_uuid, Vogent's record id)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="records")
    index = models.PositiveIntegerField()
    input = models.JSONField()
    expected_output = models.TextField(null=True, blank=True)
    actual_output = models.TextField(null=True, blank=True)
    context = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["version", "index"]
        constraints = [
            models.UniqueConstraint(fields=["version", "index"], name="record_position_unique")
        ]

    def __str__(self) -> str:
        return f"record {self.index} of {self.version}"

    @property
    def input_text(self) -> str:
        """The input as one string, for prompts that take the whole input."""
        value = self.input
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and len(value) == 1:
            (only,) = value.values()
            if isinstance(only, str):
                return only
        import json

        return json.dumps(value, ensure_ascii=False)


class LoggedRequestQuerySet(ShareableQuerySet):
    def matching(self, spec: dict):
        """Requests matching a dynamic dataset's filter (see ``Dataset.filter``)."""
        qs = self
        if spec.get("model"):
            qs = qs.filter(model=spec["model"])
        for tag in spec.get("tags") or []:
            # Tags are stored as ",a,b," so one LIKE finds a whole tag on any database.
            qs = qs.filter(tags_text__contains=f",{tag},")
        for key, value in (spec.get("metadata") or {}).items():
            qs = qs.filter(**{f"metadata__{key}": value})
        if spec.get("search"):
            qs = qs.filter(
                Q(prompt_text__icontains=spec["search"]) | Q(response__icontains=spec["search"])
            )
        if spec.get("since"):
            qs = qs.filter(requested_at__gte=spec["since"])
        if spec.get("until"):
            qs = qs.filter(requested_at__lt=spec["until"])
        return qs


class LoggedRequest(Shareable):
    """One LLM request/response pair logged by an application, raw material of dynamic datasets."""

    model = models.CharField(max_length=200, blank=True, db_index=True)
    prompt = models.JSONField(help_text="The request input: a string, messages, or variables.")
    prompt_text = models.TextField(blank=True, editable=False)
    response = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    tags_text = models.CharField(max_length=2000, blank=True, editable=False)
    metadata = models.JSONField(default=dict, blank=True)
    requested_at = models.DateTimeField(default=timezone.now, db_index=True)
    latency_ms = models.FloatField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)

    objects = LoggedRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at"]
        indexes = [models.Index(fields=["organization", "-requested_at"])]

    def __str__(self) -> str:
        return f"{self.model or 'request'} at {self.requested_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        self.fill_derived()
        super().save(*args, **kwargs)

    def fill_derived(self) -> None:
        """Derived search columns; also called before bulk_create, which skips save()."""
        import json

        self.tags_text = "," + ",".join(str(t) for t in self.tags) + "," if self.tags else ""
        self.prompt_text = (
            self.prompt
            if isinstance(self.prompt, str)
            else json.dumps(self.prompt, ensure_ascii=False)
        )
