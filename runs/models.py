"""Evaluation definitions and runs.

Definitions (prompts, agents, eval configs) are versioned and their versions
immutable, so a run names exactly what it evaluated. A :class:`Run` holds its
counters and aggregates; :class:`RunItem` and :class:`Score` hold the
per-record results, with uniqueness enforced by the database so a task that
runs twice can never count twice.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from evalhub.models import Shareable, ShareableQuerySet

# ---------------------------------------------------------------------------
# Catalogues
# ---------------------------------------------------------------------------


class Metric(models.Model):
    """The metric catalogue, mirrored from the code registry (``runs.metrics``).

    The primary key *is* the registry's stable id: seed 004 addresses metrics
    as ``"1"``, ``"2"``. Rows are upserted after every migrate.
    """

    class Kind(models.TextChoices):
        DETERMINISTIC = "deterministic", "Deterministic"
        STATISTICAL = "statistical", "Statistical"
        EMBEDDING = "embedding", "Embedding"
        JUDGE = "judge", "LLM judge"

    id = models.PositiveIntegerField(primary_key=True)
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    description = models.TextField(blank=True)
    arg_schema = models.JSONField(default=list, blank=True)
    higher_is_better = models.BooleanField(default=True)
    value_range = models.JSONField(default=list, blank=True)
    requires = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(
        default=True, help_text="Inactive metrics cannot be used in new runs."
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.slug

    @property
    def is_judge(self) -> bool:
        return self.kind == self.Kind.JUDGE


class LanguageModel(models.Model):
    """The model catalogue: a ``model_slug`` and how to reach and price it.

    Base URL and key fall back to ``LLM_BASE_URL`` / ``LLM_API_KEY``.
    """

    slug = models.SlugField(max_length=100, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    provider_model = models.CharField(
        max_length=200, blank=True, help_text="Model name sent to the provider (default: slug)."
    )
    base_url = models.URLField(
        blank=True, help_text="OpenAI-compatible base URL, e.g. https://api.openai.com/v1"
    )
    api_key = models.CharField(max_length=500, blank=True)
    input_price_per_mtok = models.DecimalField(
        "input price per 1M tokens (USD)", max_digits=12, decimal_places=6, default=Decimal("0")
    )
    output_price_per_mtok = models.DecimalField(
        "output price per 1M tokens (USD)", max_digits=12, decimal_places=6, default=Decimal("0")
    )
    rpm_limit = models.PositiveIntegerField(
        "requests per minute", null=True, blank=True, help_text="Shared by all workers."
    )
    tpm_limit = models.PositiveIntegerField("tokens per minute", null=True, blank=True)
    max_concurrency = models.PositiveIntegerField(null=True, blank=True)
    supports_json_mode = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = "model"

    def __str__(self) -> str:
        return self.display_name or self.slug

    @property
    def api_model_name(self) -> str:
        return self.provider_model or self.slug

    @property
    def resolved_base_url(self) -> str:
        return (self.base_url or settings.LLM_BASE_URL).rstrip("/")

    @property
    def resolved_api_key(self) -> str:
        return self.api_key or settings.LLM_API_KEY

    def cost_of(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        return (
            Decimal(prompt_tokens) * self.input_price_per_mtok
            + Decimal(completion_tokens) * self.output_price_per_mtok
        ) / Decimal(1_000_000)


# ---------------------------------------------------------------------------
# What is evaluated: prompts and agents
# ---------------------------------------------------------------------------


class Prompt(Shareable):
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def latest_version(self) -> PromptVersion | None:
        return self.versions.order_by("-number").first()


class PromptVersion(models.Model):
    """An immutable prompt template (Vogent's ``versionedPromptId``).

    ``template`` uses ``{{ variable }}`` placeholders filled from the record's
    input; the engine refuses a run whose records lack a variable.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    system_prompt = models.TextField(blank=True)
    template = models.TextField()
    model = models.ForeignKey(
        LanguageModel, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    params = models.JSONField(default=dict, blank=True)
    note = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["prompt", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "number"], name="prompt_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.prompt} v{self.number}"

    @property
    def owner_id(self):
        return self.prompt.owner_id

    @property
    def organization_id(self):
        return self.prompt.organization_id


class Agent(Shareable):
    """The system under test (Vogent's ``callAgentId``).

    Either an OpenAI-compatible model with a system prompt, or an HTTP endpoint
    that receives the record input as JSON and returns the answer.
    """

    class Kind(models.TextChoices):
        MODEL = "model", "Model with a system prompt"
        HTTP = "http", "HTTP endpoint"

    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.MODEL)
    model = models.ForeignKey(
        LanguageModel, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    system_prompt = models.TextField(blank=True)
    params = models.JSONField(default=dict, blank=True)
    endpoint_url = models.URLField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    output_field = models.CharField(max_length=200, default="output")
    timeout_seconds = models.FloatField(default=60.0)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["model", "http"]), name="agent_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name


# ---------------------------------------------------------------------------
# How it is judged: eval configs and reports
# ---------------------------------------------------------------------------


class EvalConfig(Shareable):
    """A named, versioned way of judging answers (TruLayer eval, Vogent eval config, Aymara eval).

    ``dataset`` holds the records the config applies to (Vogent's eval records,
    Aymara's eval prompts).
    """

    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    dataset = models.ForeignKey(
        "datasets.Dataset", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def latest_version(self) -> EvalConfigVersion | None:
        return self.versions.order_by("-number").first()


class EvalConfigVersion(models.Model):
    """An immutable set of metrics with arguments, a threshold and a judge model."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    config = models.ForeignKey(EvalConfig, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    threshold = models.FloatField(
        null=True, blank=True, help_text="Pass rate (0–100) a run must reach to pass."
    )
    judge_model = models.ForeignKey(
        LanguageModel, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    prompt_version = models.ForeignKey(
        PromptVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    agent = models.ForeignKey(
        Agent, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    repetitions = models.PositiveSmallIntegerField(default=1)
    note = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["config", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["config", "number"], name="config_version_unique"),
            models.CheckConstraint(
                condition=Q(repetitions__gte=1) & Q(repetitions__lte=20),
                name="config_version_repetitions_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.config} v{self.number}"

    @property
    def owner_id(self):
        return self.config.owner_id

    @property
    def organization_id(self):
        return self.config.organization_id


class EvalConfigMetric(models.Model):
    version = models.ForeignKey(EvalConfigVersion, on_delete=models.CASCADE, related_name="metrics")
    metric = models.ForeignKey(Metric, on_delete=models.PROTECT, related_name="+")
    args = models.JSONField(default=dict, blank=True)
    informational = models.BooleanField(
        default=False, help_text="Scored and shown, but never decides pass or fail."
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.version}: {self.metric_id}"


class Report(Shareable):
    """PromptLayer's report: an evaluation *pipeline* (a template) or a *final* report (a result).

    Running a pipeline creates a final report bound to the run it started.
    The pipeline's steps come from its eval config: generate with the
    config's prompt version or agent, then one score column per metric.
    """

    class Kind(models.TextChoices):
        PIPELINE = "pipeline", "Evaluation pipeline"
        FINAL = "final", "Final report"

    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PIPELINE)
    dataset = models.ForeignKey(
        "datasets.Dataset",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reports",
        help_text="Default dataset of a pipeline.",
    )
    eval_config = models.ForeignKey(
        EvalConfig, on_delete=models.PROTECT, null=True, blank=True, related_name="reports"
    )
    pipeline = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="final_reports"
    )
    run = models.OneToOneField(
        "Run", on_delete=models.SET_NULL, null=True, blank=True, related_name="report"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["pipeline", "final"]), name="report_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_pipeline(self) -> bool:
        return self.kind == self.Kind.PIPELINE


# ---------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (RunStatus.PENDING, RunStatus.RUNNING)
TERMINAL_STATUSES = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


class RunQuerySet(ShareableQuerySet):
    def active(self):
        return self.filter(status__in=ACTIVE_STATUSES)

    def finished(self):
        return self.filter(status__in=TERMINAL_STATUSES)

    def stale(self, *, older_than_seconds: int):
        """Active runs whose heartbeat stopped: their worker probably died."""
        cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
        return self.active().filter(
            Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
        )


class Run(Shareable):
    """One evaluation of one dataset version (or caller-given responses) under one config."""

    class Source(models.TextChoices):
        UI = "ui", "Web UI"
        API = "api", "API"
        CLI = "cli", "Command line"
        DEMO = "demo", "Demo data"
        PROMPTLAYER = "promptlayer", "PromptLayer-compatible API"
        TRULAYER = "trulayer", "TruLayer-compatible API"
        VOGENT = "vogent", "Vogent-compatible API"
        AYMARA = "aymara", "Aymara-compatible API"
        AEGIS = "aegis", "Aegis-compatible API"

    class RunType(models.TextChoices):
        DATASET = "dataset", "Dataset"
        CONFIG = "config", "Eval config"
        REPORT = "report", "Report pipeline"
        RESPONSES = "responses", "Scored responses"

    name = models.CharField(max_length=255, blank=True)
    alias = models.CharField(max_length=255, null=True, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.API)
    run_type = models.CharField(max_length=16, choices=RunType.choices, default=RunType.DATASET)
    status = models.CharField(
        max_length=10, choices=RunStatus.choices, default=RunStatus.PENDING, db_index=True
    )

    dataset = models.ForeignKey(
        "datasets.Dataset", on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    dataset_version = models.ForeignKey(
        "datasets.DatasetVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="runs",
    )
    config_version = models.ForeignKey(
        EvalConfigVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="runs"
    )
    prompt_version = models.ForeignKey(
        PromptVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    agent = models.ForeignKey(
        Agent, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    judge_model = models.ForeignKey(
        LanguageModel, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    threshold = models.FloatField(null=True, blank=True)
    metric_args = models.JSONField(default=dict, blank=True)
    repetitions = models.PositiveSmallIntegerField(default=1)
    ai_description = models.TextField(blank=True)
    examples = models.JSONField(default=list, blank=True)
    is_sandbox = models.BooleanField(default=False)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)

    item_count = models.PositiveIntegerField(default=0)
    completed_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    passed_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    cached_count = models.PositiveIntegerField(default=0)
    pass_rate = models.FloatField(
        null=True, blank=True, help_text="Percent of scored items that passed."
    )
    result = models.FloatField(null=True, blank=True, help_text="Mean score over metrics, 0–100.")
    aggregate_results = models.JSONField(default=dict, blank=True)
    is_gte_threshold = models.BooleanField(null=True, blank=True)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    total_cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    estimated_cost = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)

    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "alias"],
                condition=Q(alias__isnull=False),
                name="run_alias_unique_per_owner",
            ),
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="run_idempotency_key_unique_per_owner",
            ),
            models.CheckConstraint(
                condition=Q(status__in=RunStatus.values), name="run_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(completed_count__lte=models.F("item_count")),
                name="run_completed_within_items",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status", "-created_at"]),
            models.Index(fields=["owner", "-created_at"]),
            models.Index(fields=["dataset", "-created_at"]),
            models.Index(fields=["config_version", "-created_at"]),
            models.Index(fields=["status", "heartbeat_at"]),
        ]

    def __str__(self) -> str:
        return self.alias or self.name or f"run {self.pk}"

    @property
    def display_name(self) -> str:
        return str(self)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def generates(self) -> bool:
        """A prompt or an agent produces the answers (else the records hold them)."""
        return self.prompt_version_id is not None or self.agent_id is not None

    @property
    def progress_percent(self) -> int:
        if not self.item_count:
            return 100 if self.is_finished else 0
        return int(100 * self.completed_count / self.item_count)

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()

    def mark_cancelled(self) -> bool:
        """Cancel if still active; returns whether this call cancelled it.

        Conditional UPDATE, so a worker finishing the run at the same moment
        and a user cancelling it cannot both win.
        """
        now = timezone.now()
        changed = Run.objects.filter(pk=self.pk, status__in=ACTIVE_STATUSES).update(
            status=RunStatus.CANCELLED, finished_at=now, updated_at=now
        )
        if changed:
            self.status, self.finished_at = RunStatus.CANCELLED, now
        return bool(changed)


class RunMetric(models.Model):
    """A metric as resolved for one run: the dataset/config defaults plus per-run overrides."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="run_metrics")
    metric = models.ForeignKey(Metric, on_delete=models.PROTECT, related_name="+")
    label = models.CharField(max_length=64, help_text="Key in aggregate results.")
    args = models.JSONField(default=dict, blank=True)
    informational = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=0)
    mean_value = models.FloatField(null=True, blank=True)
    passed_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "label"], name="run_metric_label_unique")
        ]

    def __str__(self) -> str:
        return f"{self.run}: {self.label}"


class ItemStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    ERROR = "error", "Error"
    SKIPPED = "skipped", "Skipped (cancelled)"


class RunItem(models.Model):
    """One record in one run: the answer (given or generated) and how it went."""

    class OutputSource(models.TextChoices):
        RECORD = "record", "Record's actual output"
        GENERATED = "generated", "Generated by the prompt or agent"
        GIVEN = "given", "Given by the caller"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # No index of its own: the composite indexes below all lead with run, and
    # every index is one more write per item planned and per result stored.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="items", db_index=False)
    record = models.ForeignKey("datasets.Record", on_delete=models.PROTECT, related_name="+")
    index = models.PositiveIntegerField()
    chunk = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=8, choices=ItemStatus.choices, default=ItemStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    output = models.TextField(null=True, blank=True)
    output_source = models.CharField(
        max_length=10, choices=OutputSource.choices, default=OutputSource.RECORD
    )
    error = models.TextField(blank=True)
    passed = models.BooleanField(null=True, blank=True)
    score = models.FloatField(null=True, blank=True, help_text="Mean of deciding metric values.")
    flipped = models.BooleanField(
        default=False, help_text="The verdict changed between repetitions."
    )
    cached = models.BooleanField(default=False)
    latency_ms = models.FloatField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    finished_at = models.DateTimeField(null=True, blank=True)
    # A worker claims pending items by writing its token and a lease expiry in
    # one conditional UPDATE; a redelivered task skips leased items, and the
    # items of a worker that died become claimable when the lease runs out.
    lease_token = models.UUIDField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "record"], name="run_item_record_unique"),
            models.CheckConstraint(
                condition=Q(status__in=ItemStatus.values), name="run_item_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["run", "chunk", "status"]),
            models.Index(fields=["run", "status"]),
            models.Index(fields=["run", "index"]),
        ]

    def __str__(self) -> str:
        return f"item {self.index} of {self.run}"


class Score(models.Model):
    """One metric on one item. ``(item, run_metric)`` is unique: a retried task cannot count twice."""

    # Served by score_item_metric_unique and the (run_metric, passed) index:
    # single-column indexes would only cost two more writes per score.
    item = models.ForeignKey(
        RunItem, on_delete=models.CASCADE, related_name="scores", db_index=False
    )
    run_metric = models.ForeignKey(
        RunMetric, on_delete=models.CASCADE, related_name="scores", db_index=False
    )
    value = models.FloatField(null=True, blank=True)
    passed = models.BooleanField(null=True, blank=True)
    reason = models.TextField(blank=True)
    error = models.TextField(blank=True)
    trials = models.JSONField(null=True, blank=True)
    flipped = models.BooleanField(default=False)
    cached = models.BooleanField(default=False)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "run_metric"], name="score_item_metric_unique")
        ]
        indexes = [models.Index(fields=["run_metric", "passed"])]

    def __str__(self) -> str:
        return f"{self.run_metric.label}={self.value}"


class RateLimitState(models.Model):
    """The pacing state of one model's shared rate limit, when no Redis is configured.

    ``request_tat`` / ``token_tat`` are GCRA "theoretical arrival times" (Unix
    seconds): the earliest moment the next request, or the next token, may go.
    """

    key = models.CharField(max_length=200, primary_key=True)
    request_tat = models.FloatField(default=0)
    token_tat = models.FloatField(default=0)

    def __str__(self) -> str:
        return self.key


class ResponseCache(models.Model):
    """Judge and agent answers keyed by (model, messages, params): an unchanged re-run costs nothing."""

    key = models.CharField(max_length=64, primary_key=True)
    model = models.CharField(max_length=200)
    content = models.TextField()
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.model} {self.key[:12]}"
