"""Creating and versioning what a run evaluates with: prompts, agents, eval configs, reports.

Versions are immutable: "editing" a prompt or a config makes its next version.
Every function is keyword-only with the acting user first, validates before
writing (InvalidInput naming the field), runs in one transaction and writes
an audit row. Pages, the native API and the admin all call these.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from django.db import connection, transaction
from django.db.models import Max, ProtectedError

from datasets.models import Dataset, DatasetVersion, Record
from datasets.services import Export
from evalhub import audit
from evalhub.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from evalhub.models import Workspace
from evalhub.permissions import can
from runs.engine import templating
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
)

ALLOWED_PARAMS = {
    "temperature",
    "max_tokens",
    "top_p",
    "seed",
    "stop",
    "presence_penalty",
    "frequency_penalty",
}


def _name(value, field="name") -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("A name is required.", field=field, code="required")
    value = value.strip()
    if len(value) > 255:
        raise InvalidInput("Names are at most 255 characters.", field=field, code="too_long")
    return value


def _sharing(actor, organization, workspace) -> dict:
    """Owner/org/workspace of a new object, checking the actor may create there."""
    if workspace is not None:
        if organization is None:
            organization = workspace.organization
        if workspace.organization_id != (organization.pk if organization else None):
            raise InvalidInput(
                "The workspace belongs to another organization.",
                field="workspace",
                code="workspace_mismatch",
            )
        if workspace.organization_id is None and workspace.owner_id != actor.pk:
            raise NotFound("Workspace not found.", field="workspace")
    if organization is not None and not can(actor, "create", organization=organization):
        raise PermissionDenied(f"You may not create objects in {organization}.")
    return {"owner": actor, "organization": organization, "workspace": workspace}


def _check_change(actor, obj) -> None:
    if not can(actor, "view", obj):
        raise NotFound(f"{type(obj).__name__} not found.")
    if not can(actor, "change", obj):
        raise PermissionDenied(f"You may not change this {type(obj).__name__.lower()}.")


def _params(params) -> dict:
    params = params or {}
    if not isinstance(params, dict):
        raise InvalidInput("params must be an object.", field="params", code="invalid_type")
    unknown = set(params) - ALLOWED_PARAMS
    if unknown:
        raise InvalidInput(
            f"Unknown model parameter {sorted(unknown)[0]!r} (allowed: {', '.join(sorted(ALLOWED_PARAMS))}).",
            field=f"params.{sorted(unknown)[0]}",
            code="unknown_parameter",
        )
    return params


def _model(slug_or_model, field="model") -> LanguageModel | None:
    if slug_or_model in (None, ""):
        return None
    if isinstance(slug_or_model, LanguageModel):
        return slug_or_model
    model = LanguageModel.objects.filter(slug=slug_or_model, is_active=True).first()
    if model is None:
        raise NotFound(
            f"No model {slug_or_model!r} in the model catalogue.", field=field, code="unknown_model"
        )
    return model


def _next_number(qs) -> int:
    return (qs.aggregate(n=Max("number"))["n"] or 0) + 1


# --- prompts -----------------------------------------------------------------


def prompt_create(
    *,
    actor,
    name,
    template,
    system_prompt="",
    model=None,
    params=None,
    organization=None,
    workspace=None,
    description="",
    source="",
) -> PromptVersion:
    """A new prompt with its first version; returns the version."""
    sharing = _sharing(actor, organization, workspace)
    with transaction.atomic():
        prompt = Prompt.objects.create(name=_name(name), description=description or "", **sharing)
        version = _prompt_version(actor, prompt, template, system_prompt, model, params, note="")
        audit.record("prompt.create", actor=actor, target=prompt, source=source)
    return version


def prompt_version_create(
    *,
    actor,
    prompt: Prompt,
    template,
    system_prompt="",
    model=None,
    params=None,
    note="",
    source="",
) -> PromptVersion:
    """The next immutable version of ``prompt``."""
    _check_change(actor, prompt)
    with transaction.atomic():
        Prompt.objects.select_for_update().filter(pk=prompt.pk).first()
        version = _prompt_version(actor, prompt, template, system_prompt, model, params, note)
        audit.record(
            "prompt.version", actor=actor, target=prompt, source=source, number=version.number
        )
    return version


def _prompt_version(actor, prompt, template, system_prompt, model, params, note) -> PromptVersion:
    if not isinstance(template, str) or not template.strip():
        raise InvalidInput("The prompt template is required.", field="template", code="required")
    if len(template) > 100_000:
        raise InvalidInput(
            "The template is at most 100,000 characters.", field="template", code="too_long"
        )
    return PromptVersion.objects.create(
        prompt=prompt,
        number=_next_number(prompt.versions),
        template=template,
        system_prompt=system_prompt or "",
        model=_model(model),
        params=_params(params),
        note=note or "",
        created_by=actor,
    )


def prompt_variables(version: PromptVersion) -> list[str]:
    return templating.variables_of(version.template)


# --- agents ------------------------------------------------------------------


def _agent_fields(
    kind, model, system_prompt, params, endpoint_url, headers, output_field, timeout_seconds
) -> dict:
    if kind not in Agent.Kind.values:
        raise InvalidInput(f"kind must be one of {', '.join(Agent.Kind.values)}.", field="kind")
    fields = {
        "kind": kind,
        "system_prompt": system_prompt or "",
        "params": _params(params),
        "output_field": output_field or "output",
        "timeout_seconds": float(timeout_seconds or 60),
    }
    if not 0 < fields["timeout_seconds"] <= 600:
        raise InvalidInput("timeout_seconds must be between 0 and 600.", field="timeout_seconds")
    if kind == Agent.Kind.MODEL:
        fields["model"] = _model(model)
        if fields["model"] is None:
            raise InvalidInput("A model agent needs a model.", field="model", code="required")
        fields.update(endpoint_url="", headers={})
    else:
        if not isinstance(endpoint_url, str) or not endpoint_url.startswith(
            ("http://", "https://")
        ):
            raise InvalidInput("An HTTP agent needs an http(s) endpoint_url.", field="endpoint_url")
        if headers is not None and (
            not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values())
        ):
            raise InvalidInput("headers must be an object of strings.", field="headers")
        fields.update(endpoint_url=endpoint_url, headers=headers or {}, model=None)
    return fields


def agent_create(
    *,
    actor,
    name,
    kind="model",
    model=None,
    system_prompt="",
    params=None,
    endpoint_url="",
    headers=None,
    output_field="output",
    timeout_seconds=60.0,
    organization=None,
    workspace=None,
    description="",
    source="",
) -> Agent:
    sharing = _sharing(actor, organization, workspace)
    fields = _agent_fields(
        kind, model, system_prompt, params, endpoint_url, headers, output_field, timeout_seconds
    )
    with transaction.atomic():
        agent = Agent.objects.create(
            name=_name(name), description=description or "", **sharing, **fields
        )
        audit.record("agent.create", actor=actor, target=agent, source=source)
    return agent


def agent_update(*, actor, agent: Agent, source="", **changes) -> Agent:
    """Change an agent. Agents are not versioned: runs keep their own outputs."""
    _check_change(actor, agent)
    current = {
        "kind": agent.kind,
        "model": agent.model,
        "system_prompt": agent.system_prompt,
        "params": agent.params,
        "endpoint_url": agent.endpoint_url,
        "headers": agent.headers,
        "output_field": agent.output_field,
        "timeout_seconds": agent.timeout_seconds,
    }
    unknown = set(changes) - set(current) - {"name", "description"}
    if unknown:
        raise InvalidInput(f"Unknown field {sorted(unknown)[0]!r}.", field=sorted(unknown)[0])
    fields = _agent_fields(**{**current, **{k: v for k, v in changes.items() if k in current}})
    with transaction.atomic():
        for key, value in fields.items():
            setattr(agent, key, value)
        if "name" in changes:
            agent.name = _name(changes["name"])
        if "description" in changes:
            agent.description = changes["description"] or ""
        agent.save()
        audit.record(
            "agent.update", actor=actor, target=agent, source=source, fields=sorted(changes)
        )
    return agent


# --- eval configs --------------------------------------------------------------


def _metric_rows(metrics) -> list[tuple[Metric, dict, bool]]:
    """Validate ``[{"metric": slug|id, "args": {...}, "informational": bool}]``."""
    from runs.metrics import get_metric

    if not isinstance(metrics, list) or not metrics:
        raise InvalidInput("Choose at least one metric.", field="metrics", code="required")
    rows = []
    for i, entry in enumerate(metrics):
        if not isinstance(entry, dict) or "metric" not in entry:
            raise InvalidInput(
                'Each metric is {"metric": <slug or id>, "args": {...}}.', field=f"metrics[{i}]"
            )
        try:
            impl = get_metric(entry["metric"])
        except InvalidInput as err:
            raise InvalidInput(err.message, field=f"metrics[{i}].metric", code=err.code) from None
        row = Metric.objects.filter(slug=impl.slug, is_active=True).first()
        if row is None:
            raise InvalidInput(
                f"Metric {impl.slug} is inactive.",
                field=f"metrics[{i}].metric",
                code="inactive_metric",
            )
        try:
            args = impl.validate_args(entry.get("args") or {})
        except InvalidInput as err:
            raise InvalidInput(
                f"{impl.slug}: {err.message}", field=f"metrics[{i}].args.{err.field}", code=err.code
            ) from None
        informational = entry.get("informational", False)
        if not isinstance(informational, bool):
            raise InvalidInput(
                "informational must be true or false.", field=f"metrics[{i}].informational"
            )
        rows.append((row, args, informational))
    return rows


def config_create(
    *,
    actor,
    name,
    metrics,
    dataset: Dataset | None = None,
    organization=None,
    workspace=None,
    description="",
    source="",
    **version_fields,
) -> EvalConfigVersion:
    """A new eval config with its first version; returns the version."""
    sharing = _sharing(actor, organization, workspace)
    if dataset is not None and not can(actor, "view", dataset):
        raise NotFound("Dataset not found.", field="dataset")
    with transaction.atomic():
        config = EvalConfig.objects.create(
            name=_name(name), description=description or "", dataset=dataset, **sharing
        )
        version = _config_version(actor, config, metrics, **version_fields)
        audit.record("config.create", actor=actor, target=config, source=source)
    return version


def config_version_create(
    *, actor, config: EvalConfig, metrics, source="", **version_fields
) -> EvalConfigVersion:
    """The next immutable version of ``config``."""
    _check_change(actor, config)
    with transaction.atomic():
        EvalConfig.objects.select_for_update().filter(pk=config.pk).first()
        version = _config_version(actor, config, metrics, **version_fields)
        audit.record(
            "config.version", actor=actor, target=config, source=source, number=version.number
        )
    return version


def _config_version(
    actor,
    config,
    metrics,
    *,
    threshold=None,
    judge_model=None,
    prompt_version=None,
    agent=None,
    repetitions=1,
    note="",
) -> EvalConfigVersion:
    rows = _metric_rows(metrics)
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0 <= threshold <= 100
    ):
        raise InvalidInput("threshold is a pass rate between 0 and 100.", field="threshold")
    if (
        isinstance(repetitions, bool)
        or not isinstance(repetitions, int)
        or not 1 <= repetitions <= 20
    ):
        raise InvalidInput("repetitions is a whole number from 1 to 20.", field="repetitions")
    for obj, field in ((prompt_version, "prompt_version"), (agent, "agent")):
        if obj is not None and not can(actor, "view", obj):
            raise NotFound(f"The {field.replace('_', ' ')} was not found.", field=field)
    # Without a judge model, judge metrics use DEFAULT_JUDGE_MODEL when a run starts.
    judge = _model(judge_model, field="judge_model")
    version = EvalConfigVersion.objects.create(
        config=config,
        number=_next_number(config.versions),
        threshold=threshold,
        judge_model=judge,
        prompt_version=prompt_version,
        agent=agent,
        repetitions=repetitions,
        note=note or "",
        created_by=actor,
    )
    EvalConfigMetric.objects.bulk_create(
        EvalConfigMetric(
            version=version, metric=row, args=args, informational=informational, position=i
        )
        for i, (row, args, informational) in enumerate(rows)
    )
    return version


# --- reports -----------------------------------------------------------------------


def report_create(
    *,
    actor,
    name,
    dataset: Dataset,
    eval_config: EvalConfig,
    organization=None,
    workspace=None,
    description="",
    source="",
) -> Report:
    """A PromptLayer-style evaluation pipeline: a default dataset and a config to score with."""
    sharing = _sharing(actor, organization, workspace)
    for obj, field in ((dataset, "dataset"), (eval_config, "eval_config")):
        if obj is None or not can(actor, "view", obj):
            raise NotFound(f"{field.replace('_', ' ').capitalize()} not found.", field=field)
    with transaction.atomic():
        report = Report.objects.create(
            name=_name(name),
            description=description or "",
            kind=Report.Kind.PIPELINE,
            dataset=dataset,
            eval_config=eval_config,
            **sharing,
        )
        audit.record("report.create", actor=actor, target=report, source=source)
    return report


def dataset_set_baseline(*, actor, dataset: Dataset, run: Run | None, source="") -> Dataset:
    """Pin ``run`` as the baseline that new runs of ``dataset`` are compared with (None unpins)."""
    _check_change(actor, dataset)
    if run is not None:
        if not can(actor, "view", run):
            raise NotFound("Run not found.", field="run")
        if run.dataset_id != dataset.pk:
            raise InvalidInput(
                "The baseline must be a run of this dataset.", field="run", code="wrong_dataset"
            )
        if not run.is_finished:
            raise InvalidInput(
                "Only a finished run can be a baseline.", field="run", code="run_active"
            )
    with transaction.atomic():
        dataset.baseline_run = run
        dataset.save(update_fields=["baseline_run", "updated_at"])
        audit.record(
            "dataset.baseline",
            actor=actor,
            target=dataset,
            source=source,
            run=run.pk if run else None,
        )
    return dataset


# --- added for the native API (candidates to fold into the app services) ----------------


def workspace_create(*, actor, name, organization=None, description="", source="") -> Workspace:
    """A workspace (Aymara's workspace, Aegis's data collection) in an org, or a personal one."""
    if organization is not None and not can(actor, "create", organization=organization):
        raise PermissionDenied(f"You may not create workspaces in {organization}.")
    if not isinstance(description, str):
        raise InvalidInput("description must be text.", field="description", code="invalid_type")
    with transaction.atomic():
        workspace = Workspace.objects.create(
            name=_name(name),
            organization=organization,
            owner=actor,
            description=description,
        )
        audit.record("workspace.create", actor=actor, target=workspace, source=source)
    return workspace


def dataset_update(
    *, actor, dataset: Dataset, selected_metrics: list | None = None, source="", **changes
) -> Dataset:
    """Rename a dataset, change its description and/or replace its selected metrics, at once.

    Records change only through new versions. ``selected_metrics`` (when not
    None) replaces the whole selection, as :func:`datasets.services.dataset_set_metrics`.
    """
    from datasets.services import dataset_set_metrics

    _check_change(actor, dataset)
    unknown = set(changes) - {"name", "description"}
    if unknown:
        raise InvalidInput(f"Unknown field {sorted(unknown)[0]!r}.", field=sorted(unknown)[0])
    if "name" in changes:
        dataset.name = _name(changes["name"])
    if "description" in changes:
        if not isinstance(changes["description"], str):
            raise InvalidInput("description must be text.", field="description")
        dataset.description = changes["description"]
    with transaction.atomic():
        if changes:
            dataset.save(update_fields=["name", "description", "updated_at"])
            audit.record(
                "dataset.update", actor=actor, target=dataset, source=source, fields=sorted(changes)
            )
        if selected_metrics is not None:
            dataset_set_metrics(
                actor=actor, dataset=dataset, selected_metrics=selected_metrics, source=source
            )
    return dataset


def shareable_delete(*, actor, obj, source="") -> None:
    """Delete a dataset, prompt, agent, eval config or report (``delete``: owners of its org
    or its individual owner).

    What runs still point at is protected by the database; that refusal is a
    409 naming why, not a 500.
    """
    if not can(actor, "view", obj):
        raise NotFound(f"{type(obj).__name__} not found.")
    if not can(actor, "delete", obj):
        raise PermissionDenied(f"Your role may not delete this {type(obj).__name__.lower()}.")
    label = obj._meta.model_name
    try:
        with transaction.atomic():
            audit.record(f"{label}.delete", actor=actor, target=obj, source=source)
            if isinstance(obj, Dataset):
                _delete_records(obj)
            obj.delete()
    except ProtectedError:
        raise Conflict(
            f"This {obj._meta.verbose_name} is still used by runs or reports and cannot be deleted.",
            code="in_use",
        ) from None


def _delete_records(dataset: Dataset) -> None:
    """Delete a dataset's records with one SQL DELETE, before the ORM deletes the rest.

    Records are protected by the run items that point at them, so Django's
    cascade would load every record to check it: about 950 MB for a
    million-record dataset. Whether any run uses them is one EXISTS query;
    the foreign key still guards the DELETE, and the caller's transaction
    undoes it if anything else refuses the deletion.
    """
    if RunItem.objects.filter(record__version__dataset=dataset).exists():
        raise ProtectedError("Records of this dataset are used by runs.", set())
    qn = connection.ops.quote_name
    record_version = qn(Record._meta.get_field("version").column)
    version_dataset = qn(DatasetVersion._meta.get_field("dataset").column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {qn(Record._meta.db_table)} WHERE {record_version} IN "
            f"(SELECT {qn(DatasetVersion._meta.pk.column)} FROM "
            f"{qn(DatasetVersion._meta.db_table)} WHERE {version_dataset} = %s)",
            [dataset.pk],
        )


RUN_EXPORT_FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


def run_export(*, actor, run: Run, format: str, source="") -> Export:
    """Every item of ``run`` with every score, streamed as CSV or JSONL.

    One row per item: its record, output, verdict, error, latency, cost and,
    per metric, ``<label>.value`` / ``.passed`` / ``.reason``. CSV cells a
    spreadsheet would run as formulas are neutralised
    (:func:`datasets.exporters.neutralise`).
    """
    from datasets.exporters import csv_rows, json_lines

    if not can(actor, "view", run):
        raise NotFound("Run not found.", code="run_not_found")
    if not can(actor, "export", run):
        raise PermissionDenied("You may not export this run.")
    if format not in RUN_EXPORT_FORMATS:
        raise InvalidInput(
            f"Unknown format {format!r}: use csv or jsonl.", field="format", code="unknown_format"
        )
    metrics = list(run.run_metrics.order_by("position"))
    rows = _run_export_rows(run, metrics)
    if format == "csv":
        header = [*RUN_EXPORT_COLUMNS] + [
            f"{m.label}.{part}" for m in metrics for part in ("value", "passed", "reason")
        ]
        chunks = csv_rows(header, ([row[h] for h in header] for row in rows))
    else:
        chunks = json_lines(rows)
    with transaction.atomic():
        audit.record("run.export", actor=actor, target=run, source=source, format=format)
    stem = re.sub(r"[^\w.-]+", "-", run.display_name)[:80].strip("-") or f"run-{run.pk}"
    return Export(
        filename=f"{stem}.{format}", content_type=RUN_EXPORT_FORMATS[format], chunks=chunks
    )


RUN_EXPORT_COLUMNS = (
    "index",
    "record_id",
    "input",
    "expected_output",
    "output",
    "status",
    "passed",
    "score",
    "error",
    "latency_ms",
    "cost",
)


def _run_export_rows(run: Run, metrics) -> Iterator[dict]:
    items = (
        run.items.select_related("record")
        .prefetch_related("scores")
        .order_by("index")
        .iterator(chunk_size=1000)
    )
    for item in items:
        scores = {s.run_metric_id: s for s in item.scores.all()}
        row = {
            "index": item.index,
            "record_id": str(item.record.uuid),
            "input": item.record.input,
            "expected_output": item.record.expected_output,
            "output": item.output,
            "status": item.status,
            "passed": item.passed,
            "score": item.score,
            "error": item.error,
            "latency_ms": item.latency_ms,
            "cost": str(item.cost),
        }
        for m in metrics:
            s = scores.get(m.pk)
            row[f"{m.label}.value"] = s.value if s else None
            row[f"{m.label}.passed"] = s.passed if s else None
            row[f"{m.label}.reason"] = (s.reason or s.error) if s else None
        yield row
