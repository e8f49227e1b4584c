"""Starting, cancelling and re-running evaluation runs.

Every surface (pages, native API, the five compat endpoints, the shell
command) calls these functions; they validate everything first, write in one
transaction with an audit row, and enqueue the work only after commit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from datasets.models import Dataset, DatasetVersion, Record
from evalhub import audit
from evalhub.errors import BudgetExceeded, Conflict, InvalidInput, NotFound, PermissionDenied
from evalhub.permissions import can
from runs.engine import planning
from runs.models import (
    Agent,
    EvalConfigVersion,
    ItemStatus,
    PromptVersion,
    Report,
    Run,
    RunItem,
    RunMetric,
    RunStatus,
)

ITEM_BATCH = 5000


@dataclass
class GivenResponse:
    """A caller-given answer to one record (Aymara's responses)."""

    record: Record
    content: str


def _chunk_size(*, network: bool) -> int:
    """Items per chunk task.

    A chunk that calls a provider holds one wave of calls (``CONCURRENCY``,
    at least 25): a chunk task claims and loads the run's next chunk while
    calls are in flight (``engine.pipeline``), so a chunk's edge costs no
    time, and small chunks keep workers even at a run's end (one finishes
    at most a chunk after another: 200-item chunks left one worker idle for
    up to 0.8 s in the judge-bound benchmark) and progress fine-grained. A chunk that
    only computes local metrics costs microseconds an item, so it is large
    (``LOCAL_CHUNK_SIZE``): per-task overhead would otherwise dominate.
    ``ENGINE_CHUNK_SIZE``, when set, overrides both.
    """
    engine = settings.EVALHUB_ENGINE
    if engine["CHUNK_SIZE"]:  # set explicitly: the operator knows best
        return engine["CHUNK_SIZE"]
    if network:
        return max(25, engine["CONCURRENCY"])
    return engine["LOCAL_CHUNK_SIZE"]


def _check_alias(actor, alias: str | None) -> str | None:
    if alias is None:
        return None
    if not isinstance(alias, str):
        raise InvalidInput("alias must be a string.", field="alias", code="invalid_type")
    alias = alias.strip()
    if not alias:
        return None
    if len(alias) > 255:
        raise InvalidInput("alias is at most 255 characters.", field="alias", code="too_long")
    if Run.objects.filter(owner=actor, alias=alias).exists():
        raise InvalidInput(
            f"You already have a run with alias {alias!r}; aliases are unique per account.",
            field="alias",
            code="duplicate_alias",
        )
    return alias


def _check_threshold(threshold):
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise InvalidInput("threshold must be a number.", field="threshold", code="invalid_type")
    if not 0 <= threshold <= 100:
        raise InvalidInput(
            "threshold is a pass rate between 0 and 100.", field="threshold", code="out_of_range"
        )
    return float(threshold)


def _check_budget(organization, estimate: Decimal) -> None:
    if organization is None or organization.monthly_budget_usd is None:
        return
    left = organization.budget_left()
    if left <= 0 or (estimate > 0 and estimate > left):
        raise BudgetExceeded(
            f"Insufficient balance: this run is estimated at ${estimate:.4f} and "
            f"{organization.name} has ${max(left, Decimal(0)):.4f} left of its monthly limit.",
        )


def _write_run(
    *,
    actor,
    sharing: dict,
    records,
    metrics: list[planning.ResolvedMetric],
    source: str,
    run_type: str,
    dataset: Dataset | None = None,
    dataset_version: DatasetVersion | None = None,
    config_version: EvalConfigVersion | None = None,
    prompt_version: PromptVersion | None = None,
    agent: Agent | None = None,
    judge_model=None,
    threshold=None,
    alias: str | None = None,
    name: str = "",
    repetitions: int = 1,
    metric_args: dict | None = None,
    ai_description: str = "",
    examples: list | None = None,
    given: list[GivenResponse] | None = None,
    is_sandbox: bool = False,
    idempotency_key: str | None = None,
    audit_data: dict | None = None,
) -> Run:
    """Validate the records, check the budget, write Run + RunMetrics + RunItems, enqueue."""
    if not metrics:
        raise NotFound("No metrics are configured for this evaluation.", code="no_metrics")
    generates = prompt_version is not None or agent is not None
    template = prompt_version.template if prompt_version is not None else None
    given_by_record = {g.record.pk: g.content for g in given} if given else None
    if given_by_record is None:
        item_count = records.count()
        if item_count == 0:
            raise NotFound("The dataset has no records.", code="no_records")
    else:
        item_count = len(given_by_record)
        if item_count == 0:
            raise InvalidInput("responses must not be empty.", field="responses", code="required")
    planning.check_records(
        records,
        metrics=metrics,
        generates=generates or given_by_record is not None,
        template=template,
    )
    generation_model = None
    if prompt_version is not None and prompt_version.model_id:
        generation_model = prompt_version.model
    elif agent is not None and agent.kind == Agent.Kind.MODEL:
        generation_model = agent.model
    estimate = (
        Decimal(0)
        if is_sandbox
        else planning.estimate_cost(
            item_count=item_count,
            metrics=metrics,
            judge_model=judge_model,
            generation_model=generation_model,
            repetitions=repetitions,
        )
    )
    if not is_sandbox:
        _check_budget(sharing.get("organization"), estimate)

    network = generates or (any(m.is_judge for m in metrics) and not is_sandbox)
    chunk_size = _chunk_size(network=network)
    with transaction.atomic():
        try:
            run = Run.objects.create(
                **sharing,
                name=name or "",
                alias=alias,
                source=source,
                run_type=run_type,
                dataset=dataset,
                dataset_version=dataset_version,
                config_version=config_version,
                prompt_version=prompt_version,
                agent=agent,
                judge_model=judge_model,
                threshold=threshold,
                metric_args=metric_args or {},
                repetitions=repetitions,
                ai_description=ai_description or "",
                examples=examples or [],
                is_sandbox=is_sandbox,
                idempotency_key=idempotency_key,
                item_count=item_count,
                estimated_cost=estimate,
            )
        except IntegrityError:
            raise InvalidInput(
                "A run with this alias already exists for your account.",
                field="alias",
                code="duplicate_alias",
            ) from None
        RunMetric.objects.bulk_create(
            RunMetric(
                run=run,
                metric=m.row,
                label=m.label,
                args=m.args,
                informational=m.informational,
                position=i,
            )
            for i, m in enumerate(metrics)
        )
        _write_items(run, records, given_by_record, generates, chunk_size)
        audit.record(
            "run.create",
            actor=actor,
            target=run,
            source=source,
            items=item_count,
            **(audit_data or {}),
        )
        transaction.on_commit(lambda: enqueue_run(run.pk))
    return run


def _write_items(run, records, given_by_record, generates, chunk_size) -> None:
    source = (
        RunItem.OutputSource.GIVEN
        if given_by_record is not None
        else RunItem.OutputSource.GENERATED
        if generates
        else RunItem.OutputSource.RECORD
    )
    if given_by_record is None and connection.vendor == "postgresql":
        _insert_items_from_records(run, records, source, chunk_size)
        return
    qs = records.order_by("index").values_list("pk", "index")
    if given_by_record is not None:
        qs = qs.filter(pk__in=list(given_by_record))
    batch = []
    position = 0
    for record_id, _index in qs.iterator(chunk_size=ITEM_BATCH):
        batch.append(
            RunItem(
                run=run,
                record_id=record_id,
                index=position,
                chunk=position // chunk_size,
                output=given_by_record[record_id] if given_by_record is not None else None,
                output_source=source,
            )
        )
        position += 1
        if len(batch) >= ITEM_BATCH:
            RunItem.objects.bulk_create(batch)
            batch = []
    if batch:
        RunItem.objects.bulk_create(batch)


def _insert_items_from_records(run, records, source: str, chunk_size: int) -> None:
    """PostgreSQL: one INSERT … SELECT writes every item, numbered in record order.

    The rows never travel to Python and back: 200,000 items take about a
    second instead of the ten that batched ``bulk_create`` needs.
    """
    qn = connection.ops.quote_name
    sql, params = (
        records.order_by()
        .annotate(item_record=F("pk"), item_order=F("index"))
        .values("item_record", "item_order")
        .query.sql_with_params()
    )
    columns = ", ".join(
        qn(RunItem._meta.get_field(name).column)
        for name in (
            "uuid", "run", "record", "index", "chunk", "status", "attempts", "output_source",
            "error", "flipped", "cached", "prompt_tokens", "completion_tokens", "cost",
        )
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {qn(RunItem._meta.db_table)} ({columns})
            SELECT gen_random_uuid(), %s, numbered.item_record, numbered.position,
                   numbered.position / %s, %s, 0, %s, '', false, false, 0, 0, 0
            FROM (
                SELECT q.item_record,
                       row_number() OVER (ORDER BY q.item_order, q.item_record) - 1 AS position
                FROM ({sql}) AS q
            ) AS numbered
            """,
            [run.pk, chunk_size, ItemStatus.PENDING, source, *params],
        )


def enqueue_run(run_id: int, chunks: list[int] | None = None) -> int:
    """Queue one django-q2 task per chunk that still has pending items; returns how many."""
    from django_q.brokers import get_broker
    from django_q.tasks import async_task

    if chunks is None:
        chunks = list(
            RunItem.objects.filter(run_id=run_id, status=ItemStatus.PENDING)
            .values_list("chunk", flat=True)
            .distinct()
            .order_by("chunk")
        )
    broker = get_broker() if chunks else None  # one connection for all, not one per task
    for chunk in chunks:
        async_task(
            "runs.tasks.run_chunk",
            run_id,
            chunk,
            group=f"run-{run_id}",
            task_name=f"run-{run_id}-chunk-{chunk}",
            broker=broker,
        )
    if not chunks:
        from runs.engine.finalize import finalize_run

        finalize_run(run_id)
    return len(chunks)


def wait_for_run(run: Run, *, timeout: float | None = None, poll: float = 0.2) -> Run:
    """Block until ``run`` is finished or ``timeout`` passes (seed 004's is_blocking)."""
    timeout = settings.EVALHUB_ENGINE["BLOCKING_TIMEOUT"] if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while True:
        run.refresh_from_db()
        if run.is_finished or time.monotonic() >= deadline:
            return run
        time.sleep(poll)


def _finish(run: Run, *, block: bool, timeout: float | None) -> Run:
    if block:
        return wait_for_run(run, timeout=timeout)
    return run


def _check_may_run(actor, obj) -> None:
    """Seeing an object is not enough to spend on it: viewers may not start runs."""
    if not can(actor, "run", obj):
        raise PermissionDenied("Your role may view this but not start runs on it.")


def _existing_for_key(actor, idempotency_key: str | None) -> Run | None:
    if not idempotency_key:
        return None
    if len(idempotency_key) > 255:
        raise InvalidInput(
            "Idempotency-Key is at most 255 characters.", field="Idempotency-Key", code="too_long"
        )
    return Run.objects.filter(owner=actor, idempotency_key=idempotency_key).first()


# ---------------------------------------------------------------------------
# The ways a run starts
# ---------------------------------------------------------------------------


def run_create_from_dataset(
    *,
    actor,
    dataset: Dataset,
    threshold=None,
    model_slug: str | None = None,
    metric_args: dict | None = None,
    alias: str | None = None,
    block: bool = False,
    source: str = Run.Source.API,
    acting_organization=None,
    idempotency_key: str | None = None,
    block_timeout: float | None = None,
) -> Run:
    """Seed 004: run a dataset's latest version with its selected metrics.

    The run is owned by ``actor`` and inherits workspace and org as
    :meth:`Dataset.sharing_for_run_by` says. ``metric_args`` overrides the
    dataset's stored defaults for this run only.
    """
    existing = _existing_for_key(actor, idempotency_key)
    if existing is not None:
        return _finish(existing, block=block, timeout=block_timeout)
    if not can(actor, "view", dataset):
        raise NotFound("Dataset not found.", field="dataset_id", code="dataset_not_found")
    _check_may_run(actor, dataset)
    threshold = _check_threshold(threshold)
    alias = _check_alias(actor, alias)
    selected = list(dataset.selected_metrics.select_related("metric"))
    entries = [(s.metric, s.args, False) for s in selected]
    metrics = planning.resolve_metrics(entries, overrides=metric_args)
    judge_model = planning.judge_model_for(model_slug, metrics)
    version = dataset.latest_version()
    if version is None:
        raise NotFound("The dataset has no records.", code="no_records")
    if not alias:
        alias = _generated_alias(actor, dataset.name)
    sharing = dataset.sharing_for_run_by(actor, acting_organization=acting_organization)
    run = _write_run(
        actor=actor,
        sharing=sharing,
        records=version.records.all(),
        metrics=metrics,
        source=source,
        run_type=Run.RunType.DATASET,
        dataset=dataset,
        dataset_version=version,
        judge_model=judge_model,
        threshold=threshold,
        alias=alias,
        name=alias,
        metric_args=metric_args,
        idempotency_key=idempotency_key,
    )
    return _finish(run, block=block, timeout=block_timeout)


def _generated_alias(actor, base: str) -> str:
    stamp = timezone.now().strftime("%Y-%m-%d %H:%M:%S")
    alias = f"{base[:200]} {stamp}"
    n = 2
    candidate = alias
    while Run.objects.filter(owner=actor, alias=candidate).exists():
        candidate = f"{alias} ({n})"
        n += 1
    return candidate


def run_create(
    *,
    actor,
    config_version: EvalConfigVersion,
    dataset_version: DatasetVersion | None = None,
    prompt_version: PromptVersion | None = None,
    agent: Agent | None = None,
    record_uuids: list | None = None,
    name: str = "",
    alias: str | None = None,
    threshold=None,
    model_slug: str | None = None,
    metric_args: dict | None = None,
    source: str = Run.Source.API,
    acting_organization=None,
    idempotency_key: str | None = None,
    block: bool = False,
    block_timeout: float | None = None,
    run_type: str = Run.RunType.CONFIG,
    report: Report | None = None,
) -> Run:
    """Run an eval config version over a dataset version (TruLayer, Vogent, pages, API).

    ``dataset_version`` defaults to the latest version of the config's dataset;
    ``prompt_version``/``agent`` default to the config version's; ``record_uuids``
    picks a subset (Vogent's evalRecordIds).
    """
    existing = _existing_for_key(actor, idempotency_key)
    if existing is not None:
        return _finish(existing, block=block, timeout=block_timeout)
    config = config_version.config
    if not can(actor, "view", config):
        raise NotFound("Eval config not found.", code="config_not_found")
    if dataset_version is None:
        if config.dataset is None:
            raise InvalidInput(
                "The eval config has no dataset; choose a dataset version.",
                field="dataset_version",
                code="dataset_required",
            )
        dataset_version = config.dataset.latest_version()
        if dataset_version is None:
            raise NotFound("The dataset has no records.", code="no_records")
    dataset = dataset_version.dataset
    if not can(actor, "view", dataset):
        raise NotFound("Dataset not found.", field="dataset_version", code="dataset_not_found")
    _check_may_run(actor, dataset)
    prompt_version = prompt_version or config_version.prompt_version
    agent = agent or config_version.agent
    for obj, label in ((prompt_version, "prompt version"), (agent, "agent")):
        if obj is not None and not can(actor, "view", obj):
            raise NotFound(f"The {label} was not found.", code="not_found")
    if prompt_version is not None and agent is None and prompt_version.model_id is None:
        raise InvalidInput(
            "The prompt version has no model to generate with; pick an agent or a model.",
            field="versionedPromptId",
            code="model_required",
        )
    threshold = _check_threshold(threshold if threshold is not None else config_version.threshold)
    alias = _check_alias(actor, alias)
    entries = _config_entries(config_version)
    metrics = planning.resolve_metrics(entries, overrides=metric_args)
    judge_model = planning.judge_model_for(model_slug, metrics, fallback=config_version.judge_model)
    records = dataset_version.records.all()
    if record_uuids is not None:
        records = _records_subset(dataset_version, record_uuids)
    sharing = dataset.sharing_for_run_by(actor, acting_organization=acting_organization)
    if sharing["organization"] is None and config.organization_id is not None:
        sharing["organization"] = config.organization
    run = _write_run(
        actor=actor,
        sharing=sharing,
        records=records,
        metrics=metrics,
        source=source,
        run_type=run_type,
        dataset=dataset,
        dataset_version=dataset_version,
        config_version=config_version,
        prompt_version=prompt_version,
        agent=agent,
        judge_model=judge_model,
        threshold=threshold,
        alias=alias,
        name=name or f"{config.name} v{config_version.number} on {dataset.name}",
        repetitions=config_version.repetitions,
        metric_args=metric_args,
        idempotency_key=idempotency_key,
    )
    if report is not None:
        Report.objects.filter(pk=report.pk).update(run=run)
    return _finish(run, block=block, timeout=block_timeout)


def _config_entries(config_version: EvalConfigVersion) -> list[tuple]:
    """``(metric row, args, informational)`` of a config version, in order."""
    return [
        (m.metric, m.args, m.informational)
        for m in config_version.metrics.select_related("metric").order_by("position", "id")
    ]


def _records_subset(dataset_version: DatasetVersion, record_uuids: list):
    import uuid as uuidlib

    wanted = []
    for position, value in enumerate(record_uuids):
        try:
            wanted.append(uuidlib.UUID(str(value)))
        except ValueError:
            raise InvalidInput(
                f"evalRecordIds[{position}] is not a record id: {value!r}.",
                field=f"evalRecordIds[{position}]",
                code="invalid_id",
            ) from None
    records = dataset_version.records.filter(uuid__in=wanted)
    found = set(records.values_list("uuid", flat=True))
    missing = [str(u) for u in wanted if u not in found]
    if missing:
        raise InvalidInput(
            f"Records not in this eval config: {', '.join(missing[:5])}.",
            field="evalRecordIds",
            code="unknown_records",
        )
    return records


def report_run(
    *,
    actor,
    report: Report,
    name: str,
    dataset: Dataset | None = None,
    refresh_dataset: bool = False,
    source: str = Run.Source.API,
    acting_organization=None,
) -> Report:
    """Run an evaluation pipeline; returns the new *final* report (seed 000)."""
    from datasets.services import dataset_refresh

    if not can(actor, "view", report):
        raise NotFound("Report not found.", code="report_not_found")
    if not report.is_pipeline:
        raise PermissionDenied("Can only run evaluation pipeline reports.", code="not_a_pipeline")
    if not can(actor, "run", report):
        raise PermissionDenied("You may not run this report.")
    if not isinstance(name, str) or not 1 <= len(name) <= 255:
        raise InvalidInput("name must be between 1 and 255 characters.", field="name")
    dataset = dataset or report.dataset
    if dataset is None:
        raise NotFound("The report has no dataset.", code="dataset_not_found")
    if not can(actor, "view", dataset):
        raise NotFound("Dataset not found.", code="dataset_not_found")
    if report.eval_config is None or report.eval_config.latest_version() is None:
        raise InvalidInput("The pipeline has no eval config to score with.", code="no_config")
    with transaction.atomic():
        if refresh_dataset:
            dataset_refresh(actor=actor, dataset=dataset, source=source)
        version = dataset.latest_version()
        if version is None:
            raise NotFound("The dataset has no records.", code="no_records")
        final = Report.objects.create(
            name=name,
            kind=Report.Kind.FINAL,
            pipeline=report,
            dataset=dataset,
            eval_config=report.eval_config,
            owner=actor,
            organization=report.organization,
            workspace=report.workspace,
        )
        run_create(
            actor=actor,
            config_version=report.eval_config.latest_version(),
            dataset_version=version,
            name=name,
            source=source,
            acting_organization=acting_organization,
            run_type=Run.RunType.REPORT,
            report=final,
        )
        final.refresh_from_db()
    return final


def run_score_responses(
    *,
    actor,
    config_version: EvalConfigVersion,
    responses: list[GivenResponse],
    name: str = "",
    ai_description: str = "",
    examples: list | None = None,
    workspace=None,
    existing_run: Run | None = None,
    is_sandbox: bool = False,
    source: str = Run.Source.API,
    acting_organization=None,
    block: bool = False,
) -> Run:
    """Score caller-given answers to an eval's prompts (Aymara's score-responses).

    With ``existing_run`` the responses are added to that run (it must be a run
    of the same eval config; another eval's run is a conflict).
    """
    config = config_version.config
    if not can(actor, "view", config):
        raise NotFound("Eval not found.", code="eval_not_found")
    _check_may_run(actor, config)
    if existing_run is not None:
        return _add_responses(
            actor=actor, run=existing_run, config=config, responses=responses, block=block
        )
    dataset_version = config.dataset.latest_version() if config.dataset else None
    if dataset_version is None:
        raise NotFound("The eval has no prompts.", code="no_records")
    entries = _config_entries(config_version)
    metrics = planning.resolve_metrics(entries)
    judge_model = (
        None
        if is_sandbox
        else planning.judge_model_for(None, metrics, fallback=config_version.judge_model)
    )
    sharing = config.dataset.sharing_for_run_by(actor, acting_organization=acting_organization)
    if workspace is not None:
        sharing["workspace"] = workspace
    records = dataset_version.records.filter(pk__in=[r.record.pk for r in responses])
    run = _write_run(
        actor=actor,
        sharing=sharing,
        records=records,
        metrics=metrics,
        source=source,
        run_type=Run.RunType.RESPONSES,
        dataset=config.dataset,
        dataset_version=dataset_version,
        config_version=config_version,
        judge_model=judge_model,
        threshold=config_version.threshold,
        name=name or f"{config.name} {timezone.now():%Y-%m-%d %H:%M:%S}",
        ai_description=ai_description,
        examples=examples,
        given=responses,
        is_sandbox=is_sandbox,
    )
    return _finish(run, block=block, timeout=None)


def _add_responses(*, actor, run: Run, config, responses, block: bool) -> Run:
    if not can(actor, "view", run):
        raise NotFound("Eval run not found.", code="run_not_found")
    if run.config_version is None or run.config_version.config_id != config.pk:
        raise Conflict("The eval run belongs to another eval.", code="eval_mismatch")
    if not can(actor, "run", run):
        raise PermissionDenied("You may not add responses to this run.")
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        existing = set(
            RunItem.objects.filter(
                run=locked, record_id__in=[r.record.pk for r in responses]
            ).values_list("record_id", flat=True)
        )
        if existing:
            raise Conflict(
                "Some prompts already have a scored response in this run.",
                code="duplicate_response",
            )
        start = locked.item_count
        chunk_size = _chunk_size(
            network=RunMetric.objects.filter(run=locked, metric__kind="judge").exists()
        )
        RunItem.objects.bulk_create(
            RunItem(
                run=locked,
                record=r.record,
                index=start + i,
                chunk=(start + i) // chunk_size,
                output=r.content,
                output_source=RunItem.OutputSource.GIVEN,
            )
            for i, r in enumerate(responses)
        )
        Run.objects.filter(pk=locked.pk).update(
            item_count=start + len(responses),
            status=RunStatus.RUNNING if locked.started_at else RunStatus.PENDING,
            finished_at=None,
            is_gte_threshold=None,
            updated_at=timezone.now(),  # update() skips auto_now
        )
        audit.record("run.add_responses", actor=actor, target=locked, added=len(responses))
        transaction.on_commit(lambda: enqueue_run(locked.pk))
    locked.refresh_from_db()
    return _finish(locked, block=block, timeout=None)


def run_cancel(*, actor, run: Run, source: str = "") -> bool:
    """Cancel an active run: no item starts after this returns. Returns whether it was active.

    Allowed to the run's org roles that may cancel, its individual owner, and
    operators with Django's change permission on runs (the admin console).
    """
    if not (can(actor, "cancel", run) or (actor.is_staff and actor.has_perm("runs.change_run"))):
        raise PermissionDenied("You may not cancel this run.")
    with transaction.atomic():
        cancelled = run.mark_cancelled()
        if cancelled:
            RunItem.objects.filter(run=run, status=ItemStatus.PENDING).update(
                status=ItemStatus.SKIPPED, lease_token=None, lease_until=None
            )
            audit.record("run.cancel", actor=actor, target=run, source=source)
    return cancelled


def run_rerun_failed(*, actor, run: Run, source: str = "") -> int:
    """Re-score only the errored items of a finished run; returns how many were queued."""
    from runs.models import Score

    if not can(actor, "run", run):
        raise PermissionDenied("You may not re-run this run.")
    if not run.is_finished:
        raise Conflict("The run is still active; wait for it to finish.", code="run_active")
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        errored = RunItem.objects.filter(run=locked, status=ItemStatus.ERROR)
        ids = list(errored.values_list("pk", flat=True))
        if not ids:
            return 0
        Score.objects.filter(item_id__in=ids).delete()
        RunItem.objects.filter(pk__in=ids).update(
            status=ItemStatus.PENDING,
            error="",
            passed=None,
            score=None,
            lease_token=None,
            lease_until=None,
            finished_at=None,
        )
        now = timezone.now()
        Run.objects.filter(pk=locked.pk).update(
            status=RunStatus.RUNNING,
            completed_count=locked.completed_count - len(ids),
            error_count=0,
            finished_at=None,
            error_message="",
            heartbeat_at=now,
            updated_at=now,  # update() skips auto_now
        )
        audit.record("run.rerun_failed", actor=actor, target=locked, source=source, items=len(ids))
        transaction.on_commit(lambda: enqueue_run(locked.pk))
    return len(ids)
