"""Creating, importing, refreshing and exporting datasets.

Keyword-only, the acting user first, one transaction, an audit row. An import
is all or nothing: a bad line raises InvalidInput naming it and no version or
record is left behind.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Max
from django.utils.dateparse import parse_datetime

from datasets.importers import ParsedRecord, iter_records
from datasets.models import Dataset, DatasetMetric, DatasetVersion, LoggedRequest, Record
from evalhub import audit
from evalhub.errors import InvalidInput, NotFound, PermissionDenied
from evalhub.permissions import can

BATCH = 5000
FILTER_KEYS = {"model", "tags", "metadata", "search", "since", "until", "limit"}


def _check_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("A dataset needs a name.", field="name", code="required")
    if len(name.strip()) > 255:
        raise InvalidInput(
            "Dataset names are at most 255 characters.", field="name", code="too_long"
        )
    return name.strip()


def _parse_time(value, field) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise InvalidInput(
            f"{field} must be an ISO 8601 date-time.", field=field, code="invalid_datetime"
        )
    return parsed.isoformat()


def validate_filter(spec) -> dict:
    """A dynamic dataset's filter over logged requests, checked key by key."""
    spec = spec or {}
    if not isinstance(spec, dict):
        raise InvalidInput("filter must be an object.", field="filter", code="invalid_type")
    unknown = set(spec) - FILTER_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise InvalidInput(
            f"Unknown filter key {key!r} (known: {', '.join(sorted(FILTER_KEYS))}).",
            field=f"filter.{key}",
        )
    clean = {}
    if spec.get("model") is not None:
        if not isinstance(spec["model"], str):
            raise InvalidInput("filter.model must be a string.", field="filter.model")
        clean["model"] = spec["model"]
    if spec.get("tags") is not None:
        if not isinstance(spec["tags"], list) or not all(isinstance(t, str) for t in spec["tags"]):
            raise InvalidInput("filter.tags must be a list of strings.", field="filter.tags")
        clean["tags"] = spec["tags"]
    if spec.get("metadata") is not None:
        if not isinstance(spec["metadata"], dict):
            raise InvalidInput("filter.metadata must be an object.", field="filter.metadata")
        clean["metadata"] = spec["metadata"]
    if spec.get("search") is not None:
        if not isinstance(spec["search"], str):
            raise InvalidInput("filter.search must be a string.", field="filter.search")
        clean["search"] = spec["search"]
    for key in ("since", "until"):
        if spec.get(key) is not None:
            clean[key] = _parse_time(spec[key], f"filter.{key}")
    if spec.get("limit") is not None:
        limit = spec["limit"]
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1_000_000:
            raise InvalidInput(
                "filter.limit must be a whole number from 1 to 1,000,000.", field="filter.limit"
            )
        clean["limit"] = limit
    return clean


def _metric_rows(selected_metrics) -> list[tuple]:
    from runs.metrics import get_metric
    from runs.models import Metric

    if selected_metrics is None:
        return []
    if not isinstance(selected_metrics, list):
        raise InvalidInput(
            "selected_metrics must be a list.", field="selected_metrics", code="invalid_type"
        )
    rows, seen = [], set()
    for i, entry in enumerate(selected_metrics):
        if not isinstance(entry, dict) or "metric" not in entry:
            raise InvalidInput(
                'Each selected metric is {"metric": <slug or id>, "args": {...}}.',
                field=f"selected_metrics[{i}]",
            )
        try:
            impl = get_metric(entry["metric"])
            args = impl.validate_args(entry.get("args") or {})
        except InvalidInput as err:
            where = (
                f"selected_metrics[{i}].args.{err.field}"
                if err.code != "unknown_metric"
                else f"selected_metrics[{i}].metric"
            )
            raise InvalidInput(err.message, field=where, code=err.code) from None
        if impl.id in seen:
            raise InvalidInput(
                f"{impl.slug} is selected twice.", field=f"selected_metrics[{i}]", code="duplicate"
            )
        seen.add(impl.id)
        rows.append((Metric.objects.get(pk=impl.id), args))
    return rows


def dataset_create(
    *,
    actor,
    name,
    organization=None,
    workspace=None,
    kind="static",
    filter=None,
    description="",
    selected_metrics=None,
    source="",
) -> Dataset:
    """A new, empty dataset; records arrive by import (static) or refresh (dynamic)."""
    name = _check_name(name)
    if kind not in Dataset.Kind.values:
        raise InvalidInput("kind must be static or dynamic.", field="kind")
    if workspace is not None:
        organization = organization or workspace.organization
        if workspace.organization_id != (organization.pk if organization else None):
            raise InvalidInput("The workspace belongs to another organization.", field="workspace")
        if workspace.organization_id is None and workspace.owner_id != actor.pk:
            raise NotFound("Workspace not found.", field="workspace")
    if organization is not None and not can(actor, "create", organization=organization):
        raise PermissionDenied(f"You may not create datasets in {organization}.")
    spec = validate_filter(filter) if kind == Dataset.Kind.DYNAMIC else {}
    if kind == Dataset.Kind.STATIC and filter:
        raise InvalidInput("Only dynamic datasets have a filter.", field="filter")
    rows = _metric_rows(selected_metrics)
    with transaction.atomic():
        dataset = Dataset.objects.create(
            name=name,
            description=description or "",
            kind=kind,
            filter=spec,
            owner=actor,
            organization=organization,
            workspace=workspace,
        )
        DatasetMetric.objects.bulk_create(
            DatasetMetric(dataset=dataset, metric=m, args=a, position=i)
            for i, (m, a) in enumerate(rows)
        )
        audit.record("dataset.create", actor=actor, target=dataset, source=source, kind=kind)
    return dataset


def dataset_set_metrics(*, actor, dataset: Dataset, selected_metrics, source="") -> Dataset:
    """Replace the metrics selected on ``dataset`` (with their default args)."""
    _check_change(actor, dataset)
    rows = _metric_rows(selected_metrics)
    with transaction.atomic():
        dataset.selected_metrics.all().delete()
        DatasetMetric.objects.bulk_create(
            DatasetMetric(dataset=dataset, metric=m, args=a, position=i)
            for i, (m, a) in enumerate(rows)
        )
        audit.record(
            "dataset.metrics",
            actor=actor,
            target=dataset,
            source=source,
            metrics=[m.slug for m, _ in rows],
        )
    return dataset


def _check_change(actor, dataset) -> None:
    if not can(actor, "view", dataset):
        raise NotFound("Dataset not found.", code="dataset_not_found")
    if not can(actor, "change", dataset):
        raise PermissionDenied("Your role may view this dataset but not change it.")


def _new_version(actor, dataset, *, source, note) -> DatasetVersion:
    # Lock the dataset row so two concurrent imports get consecutive numbers.
    Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
    number = (dataset.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    return DatasetVersion.objects.create(
        dataset=dataset, number=number, source=source, note=(note or "")[:255], created_by=actor
    )


def _write_records(version: DatasetVersion, parsed) -> tuple[int, list[str]]:
    batch, count, columns = [], 0, set()
    for p in parsed:
        batch.append(
            Record(
                version=version,
                index=count,
                input=p.input,
                expected_output=p.expected_output,
                actual_output=p.actual_output,
                context=p.context,
                metadata=p.metadata or {},
            )
        )
        if isinstance(p.input, dict):
            columns.update(p.input)
        count += 1
        if len(batch) >= BATCH:
            Record.objects.bulk_create(batch)
            batch = []
    if batch:
        Record.objects.bulk_create(batch)
    return count, sorted(columns)


def dataset_import(
    *,
    actor,
    dataset: Dataset,
    fileobj,
    filename="",
    format=None,
    mapping=None,
    note="",
    source="upload",
) -> DatasetVersion:
    """Stream a CSV / JSON / JSONL file into a new version of ``dataset``. All or nothing."""
    _check_change(actor, dataset)
    if dataset.is_dynamic:
        raise InvalidInput(
            "A dynamic dataset's versions come from refreshing it, not from uploads.",
            field="file",
            code="dynamic_dataset",
        )
    records = iter_records(fileobj, format=format, mapping=mapping, filename=filename)
    with transaction.atomic():
        version = _new_version(actor, dataset, source=source, note=note or filename)
        count, columns = _write_records(version, records)
        if count == 0:
            raise InvalidInput("The file holds no records.", field="file", code="empty")
        version.record_count, version.columns = count, columns
        version.save(update_fields=["record_count", "columns"])
        audit.record(
            "dataset.import",
            actor=actor,
            target=dataset,
            source=source,
            version=version.number,
            records=count,
        )
    return version


def dataset_add_records(
    *, actor, dataset: Dataset, records: list, note="", source="api"
) -> DatasetVersion:
    """A new version made of exactly ``records`` (dicts with input, expected_output, …)."""
    from datasets.importers import record_from, resolve_mapping

    _check_change(actor, dataset)
    if dataset.is_dynamic:
        raise InvalidInput(
            "A dynamic dataset's versions come from refreshing it.",
            field="records",
            code="dynamic_dataset",
        )
    if not isinstance(records, list) or not records:
        raise InvalidInput("records must be a non-empty list.", field="records", code="required")
    parsed = []
    for i, row in enumerate(records):
        if not isinstance(row, dict):
            raise InvalidInput(
                "Each record must be an object.", field=f"records[{i}]", code="not_an_object"
            )
        try:
            parsed.append(record_from(row, i, resolve_mapping(list(row), None)))
        except InvalidInput as err:
            raise InvalidInput(
                err.message.replace(f"Line {i}:", f"records[{i}]:"),
                field=f"records[{i}]",
                code=err.code,
            ) from None
    with transaction.atomic():
        version = _new_version(actor, dataset, source=source, note=note)
        count, columns = _write_records(version, parsed)
        version.record_count, version.columns = count, columns
        version.save(update_fields=["record_count", "columns"])
        audit.record(
            "dataset.records",
            actor=actor,
            target=dataset,
            source=source,
            version=version.number,
            records=count,
        )
    return version


def dataset_refresh(*, actor, dataset: Dataset, source="") -> DatasetVersion:
    """Snapshot the logged requests matching a dynamic dataset's filter into a new version.

    A static dataset cannot be refreshed (seed 000: 403); a filter that
    matches nothing is seed 000's "No requests found for the given criteria"
    (401 there) and writes nothing.
    """
    if not can(actor, "view", dataset):
        raise NotFound("Dataset not found.", code="dataset_not_found")
    if not dataset.is_dynamic:
        raise PermissionDenied(
            "Dataset refresh is only allowed for dynamic datasets.", code="refresh_not_allowed"
        )
    _check_change(actor, dataset)
    spec = dataset.filter or {}
    requests = LoggedRequest.objects.visible_to(actor).matching(spec)
    if dataset.organization_id:
        requests = requests.filter(organization_id=dataset.organization_id)
    requests = requests.order_by("requested_at", "pk")
    if spec.get("limit"):
        requests = requests[: spec["limit"]]
    parsed = (
        ParsedRecord(
            line=i,
            input=r.prompt,
            actual_output=r.response or None,
            metadata={
                **(r.metadata or {}),
                "model": r.model,
                "tags": r.tags,
                "logged_request": str(r.uuid),
            },
        )
        for i, r in enumerate(requests.iterator(chunk_size=2000))
    )
    with transaction.atomic():
        version = _new_version(actor, dataset, source=DatasetVersion.Source.REFRESH, note="refresh")
        count, columns = _write_records(version, parsed)
        if count == 0:
            raise InvalidInput(
                "No requests found for the given criteria",
                field="filter",
                code="no_requests",
                status=401,
            )
        version.record_count, version.columns = count, columns
        version.save(update_fields=["record_count", "columns"])
        audit.record(
            "dataset.refresh",
            actor=actor,
            target=dataset,
            source=source,
            version=version.number,
            records=count,
        )
    return version


def logged_requests_ingest(
    *, actor, items, organization=None, workspace=None, source="api"
) -> list[LoggedRequest]:
    """Store logged LLM requests (the raw material of dynamic datasets), validated item by item."""
    if organization is not None and not can(actor, "create", organization=organization):
        raise PermissionDenied(f"You may not log requests in {organization}.")
    if not isinstance(items, list) or not items:
        raise InvalidInput("items must be a non-empty list.", field="items", code="required")
    rows = []
    for i, item in enumerate(items):
        where = f"items[{i}]"
        if not isinstance(item, dict):
            raise InvalidInput("Each item must be an object.", field=where)
        if item.get("prompt") in (None, "", [], {}):
            raise InvalidInput("prompt is required.", field=f"{where}.prompt", code="required")
        tags = item.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) and "," not in t for t in tags):
            raise InvalidInput(
                "tags must be a list of strings without commas.", field=f"{where}.tags"
            )
        metadata = item.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise InvalidInput("metadata must be an object.", field=f"{where}.metadata")
        response = item.get("response") or ""
        if not isinstance(response, str):
            raise InvalidInput("response must be a string.", field=f"{where}.response")
        model = item.get("model") or ""
        if not isinstance(model, str) or len(model) > 200:
            raise InvalidInput(
                "model must be a string of at most 200 characters.", field=f"{where}.model"
            )
        row = LoggedRequest(
            owner=actor,
            organization=organization,
            workspace=workspace,
            model=model,
            prompt=item["prompt"],
            response=response,
            tags=tags,
            metadata=metadata,
        )
        if item.get("requested_at"):
            row.requested_at = parse_datetime(
                _parse_time(item["requested_at"], f"{where}.requested_at")
            )
        for key in ("latency_ms", "prompt_tokens", "completion_tokens"):
            value = item.get(key)
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise InvalidInput(
                        f"{key} must be a non-negative number.", field=f"{where}.{key}"
                    )
                setattr(row, key, value)
        row.fill_derived()
        rows.append(row)
    with transaction.atomic():
        created = LoggedRequest.objects.bulk_create(rows, batch_size=BATCH)
        audit.record(
            "logged_requests.ingest",
            actor=actor,
            organization=organization,
            source=source,
            count=len(rows),
        )
    return created
