"""Forms of the run pages: the metric picker, definitions, the five ways to start a run, filters.

Forms turn posted text into the values the services take and check their
shape; every rule about what may run is the service's (its InvalidInput is
shown beside the field it names).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from itertools import islice

from django import forms

from datasets.models import Dataset, DatasetVersion
from evalhub.errors import InvalidInput
from evalhub.forms import OwnershipForm, ServiceForm
from evalhub.http import Scope
from runs.models import (
    Agent,
    EvalConfig,
    EvalConfigVersion,
    LanguageModel,
    PromptVersion,
    Report,
    RunStatus,
)
from runs.services import GivenResponse

# ---------------------------------------------------------------------------
# The metric picker: one row per metric, each with an argument form built from
# the metric's arg schema.
# ---------------------------------------------------------------------------

LONG_TEXT_ARGS = {"policy", "criteria", "instructions", "rubric"}
TYPE_LABELS = {
    "string": "text",
    "integer": "whole number",
    "number": "number",
    "boolean": "yes / no",
    "string_list": "list of texts",
    "object": "JSON object",
}


def _metrics():
    from runs.metrics import all_metrics

    return all_metrics()


def _metric(slug_or_id):
    from runs.metrics import get_metric

    try:
        return get_metric(slug_or_id)
    except InvalidInput:
        return None


def _display(arg, value) -> str:
    """A typed argument value as the text an input shows."""
    if value is None:
        return ""
    if arg.type == "string_list":
        return "\n".join(value)
    if arg.type == "object":
        return json.dumps(value, indent=2, ensure_ascii=False)
    return str(value)


@dataclass
class ArgField:
    """One argument input as the template draws it."""

    arg: object
    html_name: str
    value: object
    error: str = ""

    @property
    def name(self) -> str:
        return self.arg.name

    @property
    def widget(self) -> str:
        arg = self.arg
        if arg.type == "boolean":
            return "checkbox"
        if arg.choices is not None:
            return "select"
        if arg.type in ("integer", "number"):
            return "number"
        if arg.type in ("string_list", "object") or arg.name in LONG_TEXT_ARGS:
            return "textarea"
        return "text"

    @property
    def type_label(self) -> str:
        return TYPE_LABELS.get(self.arg.type, self.arg.type)

    @property
    def step(self) -> str:
        return "1" if self.arg.type == "integer" else "any"

    @property
    def required(self) -> bool:
        return self.arg.required and not self.arg.has_default

    @property
    def checked(self) -> bool:
        if isinstance(self.value, str):
            return self.value.lower() in ("on", "true", "1")
        return bool(self.value)

    @property
    def choices(self) -> list[str]:
        return [str(c) for c in self.arg.choices or ()]

    @property
    def hint(self) -> str:
        parts = [self.arg.help] if self.arg.help else []
        if self.arg.type == "string_list":
            parts.append("One per line.")
        if self.arg.has_default and self.arg.default is not None and self.arg.type != "boolean":
            parts.append(f"Default: {_display(self.arg, self.arg.default)}.")
        return " ".join(parts)


@dataclass
class MetricRow:
    prefix: str
    metric: object = None  # the registry metric, or None for an empty row
    raw: dict = field(default_factory=dict)  # arg name -> posted text (or bool)
    informational: bool = False
    errors: dict = field(default_factory=dict)
    error: str = ""
    args: dict = field(default_factory=dict)  # typed, after parse()
    # Run overrides only: the dataset's stored args and the metric's catalogue id.
    defaults: dict = field(default_factory=dict)
    metric_id: int | None = None

    @property
    def slug(self) -> str:
        return self.metric.slug if self.metric else ""

    @property
    def arg_fields(self) -> list[ArgField]:
        if self.metric is None:
            return []
        fields = []
        for arg in self.metric.args:
            if arg.name in self.raw:
                value = self.raw[arg.name]
            elif arg.type == "boolean":
                value = bool(arg.default) if arg.has_default else False
            else:
                value = _display(arg, arg.default) if arg.has_default else ""
            fields.append(
                ArgField(
                    arg=arg,
                    html_name=f"{self.prefix}-arg-{arg.name}",
                    value=value,
                    error=self.errors.get(arg.name, ""),
                )
            )
        return fields

    def parse(self) -> bool:
        """Typed arguments from the posted text, checked by the metric itself."""
        args = {}
        for arg in self.metric.args:
            text = self.raw.get(arg.name)
            if arg.type == "boolean":
                args[arg.name] = bool(text)
                continue
            text = (text or "").strip() if isinstance(text, str) else text
            if text in ("", None):
                continue  # the metric's default applies, or it reports the missing arg
            try:
                if arg.type == "integer":
                    args[arg.name] = int(text)
                elif arg.type == "number":
                    args[arg.name] = float(text)
                elif arg.type == "string_list":
                    args[arg.name] = [ln.strip() for ln in text.splitlines() if ln.strip()]
                elif arg.type == "object":
                    args[arg.name] = json.loads(text)
                else:
                    args[arg.name] = text
            except ValueError:
                kind = {
                    "integer": "a whole number",
                    "number": "a number",
                    "object": "a JSON object",
                }[arg.type]
                self.errors[arg.name] = f"Argument '{arg.name}' must be {kind}."
        if self.errors:
            return False
        try:
            self.args = self.metric.validate_args(args)
        except InvalidInput as err:
            if err.field in {a.name for a in self.metric.args}:
                self.errors[err.field] = err.message
            else:
                self.error = err.message
            return False
        return True


class MetricPicker:
    """The metric rows of a form: parsed from ``m-<i>-…`` fields, or built from stored metrics."""

    PREFIX = "m"

    def __init__(self, data=None, *, initial: list[tuple] | None = None, minimum: int = 1):
        self.data = data
        self.error = ""
        self.rows: list[MetricRow] = []
        if data is not None:
            indices = sorted(
                {
                    int(key.split("-")[1])
                    for key in data
                    if key.startswith(f"{self.PREFIX}-")
                    and key.endswith("-metric")
                    and key.split("-")[1].isdigit()
                }
            )
            for i in indices:
                self.rows.append(self.row_from_data(data, f"{self.PREFIX}-{i}"))
            if data.get("add_metric"):
                self.rows.append(MetricRow(prefix=f"{self.PREFIX}-{self.next_index}"))
        else:
            for slug, args, informational in initial or []:
                metric = _metric(slug)
                prefix = f"{self.PREFIX}-{len(self.rows)}"
                raw = (
                    {a.name: a_value(a, args) for a in metric.args if a.name in args}
                    if metric
                    else {}
                )
                self.rows.append(
                    MetricRow(prefix=prefix, metric=metric, raw=raw, informational=informational)
                )
        while len(self.rows) < minimum:
            self.rows.append(MetricRow(prefix=f"{self.PREFIX}-{self.next_index}"))

    @property
    def next_index(self) -> int:
        return 1 + max((int(r.prefix.split("-")[1]) for r in self.rows), default=-1)

    @staticmethod
    def row_from_data(data, prefix: str, metric=None) -> MetricRow:
        """A row as posted. Its argument inputs count only if they were drawn for this
        metric (the ``-args-shown`` marker): after the metric changes, its defaults apply."""
        metric = metric or _metric(data.get(f"{prefix}-metric") or "")
        raw = {}
        if metric is not None and data.get(f"{prefix}-args-shown") == metric.slug:
            for arg in metric.args:
                key = f"{prefix}-arg-{arg.name}"
                # An unticked checkbox is not posted at all: absent means False.
                raw[arg.name] = (key in data) if arg.type == "boolean" else data.get(key, "")
        return MetricRow(
            prefix=prefix,
            metric=metric,
            raw=raw,
            informational=bool(data.get(f"{prefix}-informational")),
        )

    @property
    def choices(self):
        return _metrics()

    def is_valid(self) -> bool:
        chosen = [r for r in self.rows if r.metric is not None]
        if not chosen:
            self.error = "Choose at least one metric."
            return False
        results = [r.parse() for r in chosen]  # every row, so every error shows at once
        return all(results)

    def cleaned(self) -> list[dict]:
        return [
            {"metric": r.metric.slug, "args": r.args, "informational": r.informational}
            for r in self.rows
            if r.metric is not None
        ]

    def add_service_error(self, err: InvalidInput) -> None:
        """``metrics[1].args.threshold`` lands beside row 1's threshold input."""
        chosen = [r for r in self.rows if r.metric is not None]
        name = err.field or ""
        for head in ("metrics[", "selected_metrics["):
            if name.startswith(head):
                position, _, rest = name[len(head) :].partition("]")
                if position.isdigit() and int(position) < len(chosen):
                    row = chosen[int(position)]
                    arg = rest.removeprefix(".args.") if rest.startswith(".args.") else ""
                    if arg:
                        row.errors[arg] = err.message
                    else:
                        row.error = err.message
                    return
        self.error = err.message


def a_value(arg, args: dict):
    """A stored argument as the picker shows it (booleans stay booleans for the checkbox)."""
    value = args.get(arg.name)
    return bool(value) if arg.type == "boolean" else _display(arg, value)


# ---------------------------------------------------------------------------
# Small field helpers
# ---------------------------------------------------------------------------


class JSONObjectField(forms.CharField):
    """A textarea holding a JSON object (model params, HTTP headers, metadata filters)."""

    widget = forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "class": "mono"})

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        try:
            parsed = json.loads(value)
        except ValueError as err:
            raise forms.ValidationError(f"Not valid JSON: {err}.") from None
        if not isinstance(parsed, dict):
            raise forms.ValidationError('Must be a JSON object, like {"temperature": 0}.')
        return parsed


class ModelSlugField(forms.ModelChoiceField):
    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("empty_label", "Default")
        super().__init__(
            queryset=LanguageModel.objects.filter(is_active=True), to_field_name="slug", **kwargs
        )

    def label_from_instance(self, obj):
        return f"{obj} ({obj.slug})" if obj.display_name else obj.slug


class ThresholdField(forms.FloatField):
    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", "Pass-rate threshold (%)")
        kwargs.setdefault("help_text", "A run passes when at least this percent of items pass.")
        kwargs.setdefault("widget", forms.NumberInput(attrs={"step": "any", "placeholder": "—"}))
        super().__init__(**kwargs)


class ConfigVersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.config.name} · v{obj.number}"


class DatasetVersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.dataset.name} · v{obj.number} ({obj.record_count} records)"


class PromptVersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.prompt.name} · v{obj.number}"


def visible_config_versions(scope: Scope):
    configs = scope.filter(EvalConfig.objects.visible_to(scope.user))
    return (
        EvalConfigVersion.objects.filter(config__in=configs)
        .select_related("config")
        .order_by("config__name", "-number")
    )


def visible_dataset_versions(scope: Scope):
    datasets = scope.filter(Dataset.objects.visible_to(scope.user))
    return (
        DatasetVersion.objects.filter(dataset__in=datasets)
        .select_related("dataset")
        .order_by("dataset__name", "-number")
    )


def visible_prompt_versions(scope: Scope):
    from runs.models import Prompt

    prompts = scope.filter(Prompt.objects.visible_to(scope.user))
    return (
        PromptVersion.objects.filter(prompt__in=prompts)
        .select_related("prompt")
        .order_by("prompt__name", "-number")
    )


# ---------------------------------------------------------------------------
# Definitions
# ---------------------------------------------------------------------------


class PromptForm(OwnershipForm):
    name = forms.CharField(max_length=255)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class PromptVersionForm(ServiceForm):
    system_prompt = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3, "class": "mono"})
    )
    template = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "class": "mono"}),
        help_text="{{ variable }} placeholders are filled from each record's input.",
    )
    model = ModelSlugField(empty_label="None (an agent generates)")
    params = JSONObjectField(
        required=False, help_text='Model parameters, e.g. {"temperature": 0, "max_tokens": 256}.'
    )
    note = forms.CharField(required=False, max_length=255, help_text="What changed.")


class PromptCreateForm(PromptForm, PromptVersionForm):
    """Name and ownership plus the first version."""

    field_order = ["name", "description", "organization", "workspace"]


class AgentForm(OwnershipForm):
    name = forms.CharField(max_length=255)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    kind = forms.ChoiceField(choices=Agent.Kind.choices, widget=forms.RadioSelect)
    model = ModelSlugField(empty_label="—", help_text="For a model agent.")
    system_prompt = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3, "class": "mono"})
    )
    params = JSONObjectField(required=False)
    endpoint_url = forms.URLField(
        required=False, assume_scheme="https", help_text="For an HTTP agent."
    )
    headers = JSONObjectField(required=False, help_text="Sent with every call, e.g. auth.")
    output_field = forms.CharField(max_length=200, initial="output")
    timeout_seconds = forms.FloatField(initial=60, min_value=0.1, max_value=600)

    def agent_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "description": data["description"],
            "kind": data["kind"],
            "model": data["model"],
            "system_prompt": data["system_prompt"],
            "params": data["params"],
            "endpoint_url": data["endpoint_url"],
            "headers": data["headers"],
            "output_field": data["output_field"],
            "timeout_seconds": data["timeout_seconds"],
        }


class AgentEditForm(AgentForm):
    """Agents are edited in place (not versioned); ownership does not change."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["organization"]
        del self.fields["workspace"]


class ConfigForm(OwnershipForm):
    name = forms.CharField(max_length=255)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    dataset = forms.ModelChoiceField(
        queryset=Dataset.objects.none(),
        required=False,
        empty_label="None",
        help_text="The records this config applies to (runs may pick another).",
    )

    def __init__(self, *args, scope: Scope, **kwargs):
        super().__init__(*args, scope=scope, **kwargs)
        self.fields["dataset"].queryset = scope.filter(Dataset.objects.visible_to(scope.user))


class ConfigVersionForm(ServiceForm):
    threshold = ThresholdField()
    judge_model = ModelSlugField(
        empty_label="Default judge model", help_text="Used by LLM-judge metrics."
    )
    prompt_version = PromptVersionChoiceField(
        queryset=PromptVersion.objects.none(), required=False, empty_label="None"
    )
    agent = forms.ModelChoiceField(
        queryset=Agent.objects.none(), required=False, empty_label="None"
    )
    repetitions = forms.IntegerField(
        initial=1, min_value=1, max_value=20, help_text="Judge each item this many times."
    )
    note = forms.CharField(required=False, max_length=255, help_text="What changed.")

    def __init__(self, *args, scope: Scope, **kwargs):
        super().__init__(*args, scope=scope, **kwargs)
        self.fields["prompt_version"].queryset = visible_prompt_versions(scope)
        self.fields["agent"].queryset = scope.filter(Agent.objects.visible_to(scope.user))

    def version_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "threshold": data["threshold"],
            "judge_model": data["judge_model"],
            "prompt_version": data["prompt_version"],
            "agent": data["agent"],
            "repetitions": data["repetitions"] or 1,
            "note": data["note"],
        }


class ConfigCreateForm(ConfigForm, ConfigVersionForm):
    field_order = ["name", "description", "dataset", "organization", "workspace"]


class ReportForm(OwnershipForm):
    name = forms.CharField(max_length=255)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.none(), label="Default dataset")
    eval_config = forms.ModelChoiceField(
        queryset=EvalConfig.objects.none(),
        label="Eval config",
        help_text="Its latest version generates (prompt or agent) and scores each record.",
    )

    def __init__(self, *args, scope: Scope, **kwargs):
        super().__init__(*args, scope=scope, **kwargs)
        self.fields["dataset"].queryset = scope.filter(Dataset.objects.visible_to(scope.user))
        self.fields["eval_config"].queryset = scope.filter(
            EvalConfig.objects.visible_to(scope.user)
        )


# ---------------------------------------------------------------------------
# The five ways a run starts
# ---------------------------------------------------------------------------


class RunOptionsForm(ServiceForm):
    alias = forms.CharField(
        required=False, max_length=255, help_text="A short unique name to find the run by."
    )
    threshold = ThresholdField(help_text="Overrides the config's threshold for this run.")
    model_slug = ModelSlugField(
        label="Judge model", empty_label="The config's (or default) judge model"
    )


class ConfigRunForm(RunOptionsForm):
    """Run an eval config version on a dataset version (TruLayer's shape)."""

    config_version = ConfigVersionChoiceField(
        queryset=EvalConfigVersion.objects.none(),
        label="Eval config version",
        empty_label="Choose an eval config version",
    )
    dataset_version = DatasetVersionChoiceField(
        queryset=DatasetVersion.objects.none(),
        required=False,
        empty_label="The config's dataset, latest version",
        label="Dataset version",
    )
    name = forms.CharField(required=False, max_length=255)
    field_order = ["config_version", "dataset_version", "name", "alias", "threshold", "model_slug"]

    def __init__(self, *args, scope: Scope, **kwargs):
        super().__init__(*args, scope=scope, **kwargs)
        self.fields["config_version"].queryset = visible_config_versions(scope)
        self.fields["dataset_version"].queryset = visible_dataset_versions(scope)


class AgentRunForm(ServiceForm):
    """Run a config with a prompt version and an agent on chosen records (Vogent's shape)."""

    field_aliases = {"versionedPromptId": "prompt_version", "evalRecordIds": "records"}

    config_version = ConfigVersionChoiceField(
        queryset=EvalConfigVersion.objects.none(),
        label="Eval config version",
        empty_label="Choose an eval config version",
    )
    prompt_version = PromptVersionChoiceField(
        queryset=PromptVersion.objects.none(),
        required=False,
        empty_label="The config's prompt version",
    )
    agent = forms.ModelChoiceField(
        queryset=Agent.objects.none(), required=False, empty_label="The config's agent"
    )
    dataset_version = DatasetVersionChoiceField(
        queryset=DatasetVersion.objects.none(),
        required=False,
        empty_label="The config's dataset, latest version",
    )
    records = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked runs every record.",
    )
    name = forms.CharField(required=False, max_length=255)
    alias = forms.CharField(required=False, max_length=255)

    RECORD_CHOICES_LIMIT = 200

    def __init__(self, *args, scope: Scope, **kwargs):
        super().__init__(*args, scope=scope, **kwargs)
        self.fields["config_version"].queryset = visible_config_versions(scope)
        self.fields["prompt_version"].queryset = visible_prompt_versions(scope)
        self.fields["agent"].queryset = scope.filter(Agent.objects.visible_to(scope.user))
        self.fields["dataset_version"].queryset = visible_dataset_versions(scope)
        self.record_version = None

    def set_record_version(self, version: DatasetVersion | None) -> None:
        """Offer the records of ``version`` (the dependent field the page swaps in)."""
        self.record_version = version
        if version is None:
            return
        records = version.records.order_by("index")[: self.RECORD_CHOICES_LIMIT]
        self.fields["records"].choices = [
            (str(r.uuid), f"#{r.index} {r.input_text[:90]}") for r in records
        ]


RESPONSE_KEYS = ("prompt_uuid", "record_id", "index", "record_index")


class ResponsesRunForm(ServiceForm):
    """Score answers produced elsewhere against an eval config's prompts (Aymara's shape)."""

    config_version = ConfigVersionChoiceField(
        queryset=EvalConfigVersion.objects.none(),
        label="Eval config version",
        help_text="Its dataset's records are the prompts the responses answer.",
    )
    file = forms.FileField(
        label="Responses file",
        help_text="JSONL, JSON or CSV rows of {prompt_uuid (or index), content}.",
    )
    name = forms.CharField(required=False, max_length=255)
    ai_description = forms.CharField(
        required=False,
        label="Description of the AI",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Given to the judge as context.",
    )

    MAX_RESPONSES = 100_000

    def __init__(self, *args, scope: Scope, **kwargs):
        super().__init__(*args, scope=scope, **kwargs)
        self.fields["config_version"].queryset = visible_config_versions(scope)

    def clean(self):
        data = super().clean()
        version, upload = data.get("config_version"), data.get("file")
        if version is None or upload is None:
            return data
        dataset = version.config.dataset
        records_version = dataset.latest_version() if dataset else None
        if records_version is None:
            raise forms.ValidationError("The config has no dataset of prompts to answer.")
        data["responses"] = self.parse_responses(upload, records_version)
        return data

    def parse_responses(self, upload, version: DatasetVersion) -> list[GivenResponse]:
        """Rows read by the dataset importer (same limits and line numbers), matched to records."""
        from datasets.importers import ROLES, iter_records

        # Every role mapped to no column: each row comes back whole as `input`.
        raw_rows = iter_records(
            upload, mapping=dict.fromkeys(ROLES), filename=getattr(upload, "name", "")
        )
        wanted: list[tuple[int, object, str]] = []
        try:
            for parsed in islice(raw_rows, self.MAX_RESPONSES + 1):
                row = parsed.input if isinstance(parsed.input, dict) else {}
                key = next((k for k in RESPONSE_KEYS if row.get(k) not in (None, "")), None)
                content = row.get("content", row.get("response"))
                if key is None or not isinstance(content, str):
                    self.add_error(
                        "file",
                        f"Line {parsed.line}: each row needs prompt_uuid (or index) and a text content.",
                    )
                    return []
                wanted.append((parsed.line, row[key], content))
        except InvalidInput as err:
            self.add_error("file", err.message)
            return []
        if not wanted:
            self.add_error("file", "The file holds no responses.")
            return []
        if len(wanted) > self.MAX_RESPONSES:
            self.add_error("file", f"At most {self.MAX_RESPONSES:,} responses per upload.")
            return []
        by_uuid, by_index = {}, {}
        for line, ref, _ in wanted:
            text = str(ref).strip()
            if text.isdigit():
                by_index[int(text)] = line
            else:
                try:
                    by_uuid[uuid.UUID(text)] = line
                except ValueError:
                    self.add_error("file", f"Line {line}: {text!r} is not a prompt uuid or index.")
                    return []
        records = {r.uuid: r for r in version.records.filter(uuid__in=list(by_uuid))} | {
            r.index: r for r in version.records.filter(index__in=list(by_index))
        }
        responses, seen = [], set()
        for line, ref, content in wanted:
            text = str(ref).strip()
            record = records.get(int(text) if text.isdigit() else uuid.UUID(text))
            if record is None:
                self.add_error("file", f"Line {line}: no prompt {text} in {version}.")
                return []
            if record.pk in seen:
                self.add_error("file", f"Line {line}: prompt {text} is answered twice.")
                return []
            seen.add(record.pk)
            responses.append(GivenResponse(record=record, content=content))
        return responses


class ReportRunForm(ServiceForm):
    """Run an evaluation pipeline, optionally on another dataset (PromptLayer's shape)."""

    report = forms.ModelChoiceField(
        queryset=Report.objects.none(), label="Pipeline", empty_label="Choose a pipeline"
    )
    name = forms.CharField(max_length=255, help_text="Names the final report the run produces.")
    dataset = forms.ModelChoiceField(
        queryset=Dataset.objects.none(),
        required=False,
        empty_label="The pipeline's dataset",
        help_text="Run the pipeline on another dataset (its latest version).",
    )
    refresh_dataset = forms.BooleanField(
        required=False,
        label="Refresh the dynamic dataset first",
        help_text="Snapshot the logged requests matching its filter into a new version.",
    )

    def __init__(self, *args, scope: Scope, **kwargs):
        super().__init__(*args, scope=scope, **kwargs)
        self.fields["report"].queryset = scope.filter(
            Report.objects.visible_to(scope.user).filter(kind=Report.Kind.PIPELINE)
        ).select_related("dataset")
        self.fields["dataset"].queryset = scope.filter(Dataset.objects.visible_to(scope.user))

    def effective_dataset(self) -> Dataset | None:
        """The dataset the run will use, from bound or initial values (for the dependent field)."""
        values = self.data if self.is_bound else self.initial
        for name in ("dataset", "report"):
            try:
                obj = self.fields[name].clean(values.get(name) or None)
            except forms.ValidationError:
                obj = None
            if obj is not None:
                return obj if name == "dataset" else obj.dataset
        return None


class DatasetRunForm(RunOptionsForm):
    """Run a dataset's latest version with its selected metrics (Aegis's shape).

    Each selected metric's arguments appear as ``o-<metric id>-arg-<name>``
    fields prefilled with the dataset's defaults; what differs becomes the
    run's ``metric_args`` override.
    """

    dataset = forms.ModelChoiceField(
        queryset=Dataset.objects.none(), empty_label="Choose a dataset"
    )
    field_order = ["dataset", "threshold", "model_slug", "alias"]

    def __init__(self, *args, scope: Scope, **kwargs):
        super().__init__(*args, scope=scope, **kwargs)
        self.fields["dataset"].queryset = (
            scope.filter(Dataset.objects.visible_to(scope.user))
            .filter(versions__isnull=False)
            .distinct()
        )
        self.override_rows: list[MetricRow] = []

    def set_dataset(self, dataset: Dataset | None) -> None:
        """Build the per-metric override inputs of ``dataset``'s selected metrics."""
        self.dataset_obj = dataset
        self.override_rows = []
        if dataset is None:
            return
        selected = dataset.selected_metrics.select_related("metric")
        for sm in selected:
            metric = _metric(sm.metric.slug)
            if metric is None:
                continue
            prefix = f"o-{sm.metric_id}"
            if self.is_bound and self.data.get(f"{prefix}-args-shown") == metric.slug:
                row = MetricPicker.row_from_data(self.data, prefix, metric=metric)
            else:
                row = MetricRow(
                    prefix=prefix,
                    metric=metric,
                    raw={a.name: a_value(a, sm.args) for a in metric.args if a.name in sm.args},
                )
            row.defaults, row.metric_id = sm.args, sm.metric_id
            self.override_rows.append(row)

    def add_service_error(self, err: InvalidInput) -> None:
        if (err.field or "").startswith("metric_args."):
            _, metric_id, *rest = err.field.split(".")
            for row in self.override_rows:
                if str(row.metric_id) == metric_id:
                    if rest:
                        row.errors[rest[0]] = err.message
                    else:
                        row.error = err.message
                    return
        super().add_service_error(err)

    def metric_args(self) -> tuple[dict | None, bool]:
        """The overrides that differ from the dataset's defaults; False when an arg is invalid."""
        overrides, ok = {}, True
        for row in self.override_rows:
            if not row.parse():
                ok = False
                continue
            try:
                stored = row.metric.validate_args(row.defaults)
            except InvalidInput:
                stored = {}  # stale stored args: send every value, the service judges them
            changed = {k: v for k, v in row.args.items() if stored.get(k) != v}
            if changed:
                overrides[str(row.metric_id)] = changed
        return (overrides or None), ok


# ---------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------


class RunFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), ("active", "Active"), *RunStatus.choices]
    )
    dataset = forms.ModelChoiceField(
        queryset=Dataset.objects.none(), required=False, empty_label="Any dataset"
    )
    config = forms.ModelChoiceField(
        queryset=EvalConfig.objects.none(), required=False, empty_label="Any eval config"
    )
    q = forms.CharField(required=False, label="Search")

    def __init__(self, *args, scope: Scope, **kwargs):
        super().__init__(*args, **kwargs)
        # Any visible dataset or config: a table filtered to one ignores the switcher.
        self.fields["dataset"].queryset = Dataset.objects.visible_to(scope.user)
        self.fields["config"].queryset = EvalConfig.objects.visible_to(scope.user)


class ItemFilterForm(forms.Form):
    SHOW = [
        ("", "All items"),
        ("failed", "Failing"),
        ("errored", "Errored"),
        ("passed", "Passing"),
    ]
    show = forms.ChoiceField(required=False, choices=SHOW)
    q = forms.CharField(required=False, label="Search output")


class CompareForm(forms.Form):
    base = forms.IntegerField(required=False)
    run = forms.IntegerField(required=False)
