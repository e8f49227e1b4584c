"""Creating, importing, refreshing and exporting datasets; ingesting logged requests.

Every function here is reached from more than one surface (pages, native API,
compat endpoints, the demo command), so the rules live once: keyword-only
arguments with the acting user first, validation before any write, one
transaction, one audit row.

Imports are all or nothing: a bad line raises :class:`InvalidInput` naming it
and no version or record is left behind. Records are written in batches with
``bulk_create`` on SQLite and with ``COPY`` on PostgreSQL, where a million-row
upload would otherwise spend most of its time building model instances.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import IO, TYPE_CHECKING

import msgspec
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from datasets import exporters
from datasets.importers import ParsedRecord, find_problem, iter_records, record_from, roles_for
from datasets.models import Dataset, DatasetMetric, DatasetVersion, LoggedRequest, Record
from evalhub import audit
from evalhub.errors import InvalidInput, NotFound, PermissionDenied
from evalhub.models import Workspace
from evalhub.permissions import can

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser as User

    from evalhub.models import Organization
    from runs.models import Metric

BATCH = 5000
COPY_WRITE_ROWS = 1000  # rows per write() into a streaming COPY
MAX_FILTER_LIMIT = 1_000_000
MAX_INGEST_ITEMS = 10_000
MAX_COLUMNS = 200  # prompt variables remembered on a version (the input dicts' keys)
FILTER_KEYS = ("model", "tags", "metadata", "search", "since", "until", "limit")


# --- validation shared by the services ----------------------------------------------


def _check_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("A dataset needs a name.", field="name", code="required")
    name = name.strip()
    if len(name) > 255:
        raise InvalidInput(
            "Dataset names are at most 255 characters.", field="name", code="too_long"
        )
    return name


def _parse_time(value, field: str) -> datetime:
    """A UTC datetime from an ISO 8601 string; a time without offset is taken as UTC."""
    parsed = value if isinstance(value, datetime) else None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:  # well-formed but impossible, e.g. month 13
            parsed = None
    if parsed is None:
        raise InvalidInput(
            f"{field} must be an ISO 8601 date-time, e.g. 2025-01-31T12:00:00Z.",
            field=field,
            code="invalid_datetime",
        )
    if timezone.is_naive(parsed):
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _check_value(value, field: str, *, level: int = 1) -> None:
    """Refuse what the database cannot store (NUL, lone surrogates, NaN, deep nesting).

    ``level`` is how deep ``value`` already sits (a record's fields are at 2).
    """
    problem = find_problem(value, level)
    if problem:
        code, reason = problem
        raise InvalidInput(f"{field} {reason}.", field=field, code=code)


def validate_filter(spec) -> dict:
    """A dynamic dataset's filter over logged requests, checked key by key.

    Keys: ``model`` (exact), ``tags`` (all of them), ``metadata`` (key → value,
    all of them), ``search`` (substring of prompt or response), ``since`` /
    ``until`` (ISO date-times, until excluded), ``limit`` (at most that many,
    oldest first). Times are stored normalised to UTC ISO strings.
    """
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise InvalidInput("filter must be an object.", field="filter", code="invalid_type")
    for key in spec:
        if key not in FILTER_KEYS:
            raise InvalidInput(
                f"Unknown filter key {key!r} (known: {', '.join(FILTER_KEYS)}).",
                field=f"filter.{key}",
                code="unknown_filter_key",
            )
    clean: dict = {}
    if spec.get("model") is not None:
        if not isinstance(spec["model"], str) or len(spec["model"]) > 200:
            raise InvalidInput(
                "filter.model must be a model name.", field="filter.model", code="invalid_type"
            )
        clean["model"] = spec["model"]
    if spec.get("tags") is not None:
        tags = spec["tags"]
        if not isinstance(tags, list) or not all(
            isinstance(t, str) and t and "," not in t for t in tags
        ):
            raise InvalidInput(
                "filter.tags must be a list of tags (non-empty strings without commas).",
                field="filter.tags",
                code="invalid_type",
            )
        clean["tags"] = tags
    if spec.get("metadata") is not None:
        metadata = spec["metadata"]
        if not isinstance(metadata, dict):
            raise InvalidInput(
                "filter.metadata must be an object.", field="filter.metadata", code="invalid_type"
            )
        for key, value in metadata.items():
            # The key becomes part of an ORM lookup: "a__contains" must not become a lookup.
            if not key or "__" in key or not key.replace("_", "a").replace("-", "a").isalnum():
                raise InvalidInput(
                    f"filter.metadata key {key!r} may use letters, digits, - and single _ only.",
                    field=f"filter.metadata.{key}",
                    code="invalid_key",
                )
            if not isinstance(value, str | int | float | bool):
                raise InvalidInput(
                    "filter.metadata values must be strings, numbers or booleans.",
                    field=f"filter.metadata.{key}",
                    code="invalid_type",
                )
        clean["metadata"] = metadata
    if spec.get("search") is not None:
        if not isinstance(spec["search"], str) or len(spec["search"]) > 1000:
            raise InvalidInput(
                "filter.search must be a string of at most 1,000 characters.",
                field="filter.search",
                code="invalid_type",
            )
        clean["search"] = spec["search"]
    times = {}
    for key in ("since", "until"):
        if spec.get(key) is not None:
            times[key] = _parse_time(spec[key], f"filter.{key}")
            clean[key] = times[key].isoformat()
    if len(times) == 2 and times["since"] >= times["until"]:
        raise InvalidInput(
            "filter.since must be before filter.until.", field="filter.until", code="invalid_range"
        )
    if spec.get("limit") is not None:
        limit = spec["limit"]
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= MAX_FILTER_LIMIT
        ):
            raise InvalidInput(
                f"filter.limit must be a whole number from 1 to {MAX_FILTER_LIMIT:,}.",
                field="filter.limit",
                code="invalid_value",
            )
        clean["limit"] = limit
    return clean


def _dataset_args(impl, args: dict) -> dict:
    """A metric's default arguments as a dataset stores them.

    Unlike a run, a dataset may leave a required argument out: seed 004 lets
    each run supply it in ``metric_args`` and refuses the run only when
    neither gives it. Everything that *is* given is checked.
    """
    try:
        return impl.validate_args(args)
    except InvalidInput as err:
        if err.code != "missing_argument":
            raise
    given = {a.name: a for a in impl.args if a.name in args}
    defaults = {a.name: a.default for a in impl.args if a.has_default}
    return {**defaults, **{name: arg.check(impl.slug, args[name]) for name, arg in given.items()}}


def _metric_rows(selected_metrics) -> list[tuple[Metric, dict]]:
    """``[{"metric": slug or id, "args": {...}}]`` → catalogue rows with checked args."""
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
        where = f"selected_metrics[{i}]"
        if not isinstance(entry, dict) or "metric" not in entry:
            raise InvalidInput(
                'Each selected metric is {"metric": <slug or id>, "args": {...}}.',
                field=where,
                code="invalid_type",
            )
        unknown = set(entry) - {"metric", "args"}
        if unknown:
            key = sorted(unknown)[0]
            raise InvalidInput(
                f"Unknown key {key!r} in a selected metric.", field=f"{where}.{key}", code="invalid"
            )
        args = {} if entry.get("args") is None else entry["args"]
        try:
            impl = get_metric(entry["metric"])
        except InvalidInput as err:
            raise InvalidInput(err.message, field=f"{where}.metric", code=err.code) from None
        if not isinstance(args, dict):
            raise InvalidInput(
                f"The args of {impl.slug} must be an object.",
                field=f"{where}.args",
                code="invalid_argument_type",
            )
        try:
            args = _dataset_args(impl, args)
        except InvalidInput as err:
            field = f"{where}.args" + (f".{err.field}" if err.field and err.field != "args" else "")
            raise InvalidInput(err.message, field=field, code=err.code) from None
        if impl.id in seen:
            raise InvalidInput(f"{impl.slug} is selected twice.", field=where, code="duplicate")
        seen.add(impl.id)
        row = Metric.objects.filter(pk=impl.id, is_active=True).first()
        if row is None:
            raise InvalidInput(
                f"Metric {impl.slug} is switched off in this installation.",
                field=f"{where}.metric",
                code="metric_inactive",
            )
        rows.append((row, args))
    return rows


def _check_change(actor, dataset: Dataset) -> None:
    if not can(actor, "view", dataset):
        raise NotFound("Dataset not found.", code="dataset_not_found")
    if not can(actor, "change", dataset):
        raise PermissionDenied(
            "Your role may view this dataset but not change it.", code="forbidden"
        )


def _check_placement(actor, organization, workspace, what: str):
    """The organization an object created in ``workspace`` / ``organization`` belongs to.

    The workspace must be one the actor sees and belong to the same org (a
    personal workspace holds only private objects); creating in an org needs
    the ``create`` permission there.
    """
    if workspace is not None:
        if not Workspace.objects.visible_to(actor).filter(pk=workspace.pk).exists():
            raise NotFound("Workspace not found.", field="workspace", code="workspace_not_found")
        if organization is None:
            organization = workspace.organization
        if workspace.organization_id != (organization.pk if organization else None):
            raise InvalidInput(
                "The workspace belongs to another organization.",
                field="workspace",
                code="workspace_mismatch",
            )
    if not can(actor, "create", organization=organization):
        raise PermissionDenied(
            f"You may not create {what} in {organization}."
            if organization
            else f"You may not create {what}.",
            field="organization",
        )
    return organization


# --- writing records -----------------------------------------------------------------


def _new_version(actor, dataset: Dataset, *, source: str, note: str) -> DatasetVersion:
    """The next version row; the caller's transaction holds the dataset row locked until commit.

    Locking the dataset (not the versions) makes two concurrent imports
    queue up, so they get consecutive numbers instead of one failing on the
    (dataset, number) unique constraint.
    """
    Dataset.objects.select_for_update().filter(pk=dataset.pk).values_list("pk").first()
    number = (dataset.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    return DatasetVersion.objects.create(
        dataset=dataset, number=number, source=source, note=(note or "")[:255], created_by=actor
    )


def _copy_text(value: str | None) -> bytes:
    """A text column in COPY's text format (backslash, newline, CR and tab escaped)."""
    if value is None:
        return b"\\N"
    # Four scans for the rare character cost less than four replace() calls.
    if "\\" in value or "\n" in value or "\r" in value or "\t" in value:
        value = (
            value.replace("\\", "\\\\")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
            .replace("\t", "\\t")
        )
    return value.encode()


# msgspec encodes a small record's fields several times faster than json.dumps,
# with the same compact, non-ASCII-preserving output (jsonb reparses it anyway).
_encode_json = msgspec.json.Encoder().encode


def _copy_json(value) -> bytes:
    """A jsonb column in COPY's text format."""
    if value is None:
        return b"\\N"
    # JSON text never holds a raw newline, tab or CR (control characters are
    # escaped), so only its backslashes need doubling.
    return _encode_json(value).replace(b"\\", b"\\\\")


# Version 4 in the high nibble of byte 6, the RFC 4122 variant in the top bits of byte 8.
_UUID4_VERSION = bytes((b & 0x0F) | 0x40 for b in range(256))
_UUID4_VARIANT = bytes((b & 0x3F) | 0x80 for b in range(256))


def _uuid4_hex(count: int) -> list[bytes]:
    """Random version-4 UUIDs as 32 hex digits, from one urandom call per batch.

    ``uuid.uuid4()`` costs a system call and a few microseconds each, as much
    as the rest of a record's COPY line; here the version and variant bits
    of the whole batch are set by two slice translations.
    """
    pool = bytearray(os.urandom(16 * count))
    pool[6::16] = pool[6::16].translate(_UUID4_VERSION)
    pool[8::16] = pool[8::16].translate(_UUID4_VARIANT)
    digits = pool.hex().encode()
    return [digits[i : i + 32] for i in range(0, 32 * count, 32)]


def _note_columns(columns: dict[str, None], value) -> None:
    """Remember the keys of a dict input, in order, up to MAX_COLUMNS."""
    if type(value) is dict and len(columns) < MAX_COLUMNS and not value.keys() <= columns.keys():
        columns.update(dict.fromkeys(value))


def _copy_records(
    version: DatasetVersion, parsed: Iterable[ParsedRecord], columns: dict, *, stream: bool
) -> int:
    """PostgreSQL: write the records with ``COPY … FROM STDIN`` (text format); their count.

    ``stream``: one COPY for everything, fed while parsing, so the server
    stores rows while Python parses the next ones; a parse error raised
    mid-COPY aborts it and the transaction rolls back. Without ``stream``
    (a source that itself queries the database, like a refresh iterating
    logged requests) each batch is collected first and sent in its own COPY,
    since nothing else may use the connection while a COPY is open.
    """
    qn = connection.ops.quote_name
    fields = ("uuid", "version", "index", "input", "expected_output", "actual_output")
    fields += ("context", "metadata")
    names = ", ".join(qn(Record._meta.get_field(f).column) for f in fields)
    sql = f"COPY {qn(Record._meta.db_table)} ({names}) FROM STDIN"
    line = b"%b\t" + str(version.pk).encode() + b"\t%d\t%b\t%b\t%b\t%b\t%b\n"
    iterator = iter(parsed)
    index = 0

    def chunks(size: int) -> Iterator[bytes]:
        """COPY text for ``size`` records at a time.

        Each record becomes its line as soon as it is parsed, so only bytes
        (which the garbage collector ignores) pile up until a chunk is sent:
        holding a chunk's records instead made the collector rescan their
        dicts over and over, one to two microseconds per record.
        """
        nonlocal index
        copy_json, copy_text, max_columns = _copy_json, _copy_text, MAX_COLUMNS
        while True:
            out = []
            append = out.append
            # More ids than records at the end: not strict.
            for p, uid in zip(islice(iterator, size), _uuid4_hex(size), strict=False):
                value = p.input
                # _note_columns, inlined: a call per record is measurable here.
                if (
                    type(value) is dict
                    and len(columns) < max_columns
                    and not value.keys() <= columns.keys()
                ):
                    columns.update(dict.fromkeys(value))
                append(
                    line
                    % (
                        uid,
                        index,
                        copy_json(value),
                        copy_text(p.expected_output),
                        copy_text(p.actual_output),
                        copy_json(p.context),
                        copy_json(p.metadata),
                    )
                )
                index += 1
            if not out:
                return
            yield b"".join(out)

    with connection.cursor() as cursor:
        if stream:
            with cursor.copy(sql) as copy:
                for text in chunks(COPY_WRITE_ROWS):
                    copy.write(text)
        else:
            for text in chunks(BATCH):
                with cursor.copy(sql) as copy:
                    copy.write(text)
    return index


def _insert_records(version: DatasetVersion, parsed: Iterable[ParsedRecord], columns: dict) -> int:
    """SQLite (and any other database): ``bulk_create`` in batches; the count."""
    iterator = iter(parsed)
    index = 0
    while batch := list(islice(iterator, BATCH)):
        objs = []
        for p in batch:
            _note_columns(columns, p.input)
            objs.append(
                Record(
                    version=version,
                    index=index,
                    input=p.input,
                    expected_output=p.expected_output,
                    actual_output=p.actual_output,
                    context=p.context,
                    metadata=p.metadata or {},
                )
            )
            index += 1
        Record.objects.bulk_create(objs)
    return index


def _write_records(
    version: DatasetVersion, parsed: Iterable[ParsedRecord], *, reads_db: bool = False
) -> int:
    """Write ``parsed`` as the records of ``version``; sets its record_count and columns.

    ``reads_db``: iterating ``parsed`` runs queries (see :func:`_copy_records`).
    ``columns`` are the input's variable names (the keys of dict inputs).
    """
    columns: dict[str, None] = {}
    if connection.vendor == "postgresql":
        count = _copy_records(version, parsed, columns, stream=not reads_db)
    else:
        count = _insert_records(version, parsed, columns)
    version.record_count = count
    version.columns = list(columns)[:MAX_COLUMNS]
    version.save(update_fields=["record_count", "columns"])
    return count


# --- the services --------------------------------------------------------------------


def dataset_create(
    *,
    actor: User,
    name: str,
    organization: Organization | None = None,
    workspace: Workspace | None = None,
    kind: str = Dataset.Kind.STATIC,
    filter: dict | None = None,
    description: str = "",
    selected_metrics: list[dict] | None = None,
    source: str = "",
) -> Dataset:
    """A new, empty dataset owned by ``actor``.

    Records arrive by import (static) or refresh (dynamic).

    Validates the name, where it goes (a workspace the actor sees, in the
    same org; ``create`` permission in the org), a dynamic dataset's filter
    and the selected metrics' default args (through the metric registry, so
    a typo in an argument name is refused here, not at the first run).
    """
    name = _check_name(name)
    if kind not in Dataset.Kind.values:
        raise InvalidInput("kind must be static or dynamic.", field="kind", code="invalid_value")
    if not isinstance(description, str):
        raise InvalidInput("description must be text.", field="description", code="invalid_type")
    organization = _check_placement(actor, organization, workspace, "datasets")
    if kind == Dataset.Kind.STATIC and filter:
        raise InvalidInput(
            "Only dynamic datasets have a filter.", field="filter", code="filter_on_static"
        )
    spec = validate_filter(filter) if kind == Dataset.Kind.DYNAMIC else {}
    rows = _metric_rows(selected_metrics)
    with transaction.atomic():
        dataset = Dataset.objects.create(
            name=name,
            description=description,
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
        audit.record(
            "dataset.create",
            actor=actor,
            target=dataset,
            source=source,
            kind=kind,
            metrics=[m.slug for m, _ in rows],
        )
    return dataset


def dataset_set_metrics(
    *, actor: User, dataset: Dataset, selected_metrics: list[dict], source: str = ""
) -> Dataset:
    """Replace the metrics selected on ``dataset`` and their default args.

    These are seed 004's ``selected_metrics``: what a run of the dataset scores with.

    Replacing (not merging) keeps the form and the API simple: the caller
    sends the whole list it wants. Past runs keep their own copy of the args.
    """
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


def _version_source(source: str, default: str) -> str:
    """The version's origin; callers may pass a finer audit source (``"compat.aegis"``)."""
    return source if source in DatasetVersion.Source.values else default


def _refuse_dynamic(dataset: Dataset, field: str) -> None:
    if dataset.is_dynamic:
        raise InvalidInput(
            "A dynamic dataset's versions come from refreshing it, not from uploads.",
            field=field,
            code="dynamic_dataset",
        )


def dataset_import(
    *,
    actor: User,
    dataset: Dataset,
    fileobj: IO[bytes],
    filename: str = "",
    format: str | None = None,
    mapping: dict | None = None,
    note: str = "",
    source: str = DatasetVersion.Source.UPLOAD,
) -> DatasetVersion:
    """Stream a CSV / JSON / JSONL file into the next version of a static dataset.

    All or nothing: the version and its records are written in one
    transaction, so the first bad line (InvalidInput naming it) leaves no
    trace, and an empty file is refused. The dataset row stays locked until
    commit so concurrent imports get consecutive version numbers. ``mapping``
    says which column is input / expected_output / … (see
    :mod:`datasets.importers`). Dynamic datasets are refused: their versions
    are snapshots of logged requests.
    """
    _check_change(actor, dataset)
    _refuse_dynamic(dataset, "file")
    records = iter_records(fileobj, format=format, mapping=mapping, filename=filename)
    with transaction.atomic():
        version = _new_version(
            actor,
            dataset,
            source=_version_source(source, DatasetVersion.Source.UPLOAD),
            note=note or filename,
        )
        count = _write_records(version, records)
        if count == 0:
            raise InvalidInput("The file holds no records.", field="file", code="empty")
        audit.record(
            "dataset.import",
            actor=actor,
            target=dataset,
            source=source,
            version=version.number,
            records=count,
            filename=(filename or "")[:255],
        )
    return version


def dataset_add_records(
    *,
    actor: User,
    dataset: Dataset,
    records: list[dict],
    note: str = "",
    source: str = DatasetVersion.Source.API,
) -> DatasetVersion:
    """A new version made of exactly ``records`` (a JSON body's list of record objects).

    Replace, not append: a version is a snapshot, and a client that sends
    the whole list can reason about what a run will evaluate without reading
    the previous version first. Each record is an object read like one JSONL
    line (``input`` or ``question``/…, ``expected_output``, ``actual_output``,
    ``context``, ``metadata``; other keys go into metadata); errors name the
    record (``records[3].input``).
    """
    _check_change(actor, dataset)
    _refuse_dynamic(dataset, "records")
    if not isinstance(records, list) or not records:
        raise InvalidInput("records must be a non-empty list.", field="records", code="required")
    parsed = []
    for i, row in enumerate(records):
        where = f"records[{i}]"
        if not isinstance(row, dict):
            raise InvalidInput(f"{where} must be an object.", field=where, code="not_an_object")
        for key, value in row.items():
            _check_value(key, where)
            _check_value(value, f"{where}.{key}", level=2)
        roles = roles_for(list(row), None, strict=False)
        try:
            parsed.append(record_from(row, i + 1, roles))
        except InvalidInput as err:
            raise InvalidInput(
                f"{where}: the input is missing or empty.", field=f"{where}.input", code=err.code
            ) from None
    with transaction.atomic():
        version = _new_version(
            actor, dataset, source=_version_source(source, DatasetVersion.Source.API), note=note
        )
        count = _write_records(version, parsed)
        audit.record(
            "dataset.records",
            actor=actor,
            target=dataset,
            source=source,
            version=version.number,
            records=count,
        )
    return version


def dataset_refresh(*, actor: User, dataset: Dataset, source: str = "") -> DatasetVersion:
    """Snapshot the logged requests matching a dynamic dataset's filter into a new version.

    Seed 000's rules: a static dataset cannot be refreshed (403,
    ``refresh_not_allowed``); a filter that matches nothing is "No requests
    found for the given criteria" (401 there, ``no_requests``) and writes
    nothing. The requests are those the actor sees, narrowed to the dataset's
    organization when it has one, oldest first, at most ``limit``. Each
    becomes a record: input = the prompt, actual_output = the response, no
    expected output, metadata = the request's metadata plus model, tags,
    time and the request's id.
    """
    if not can(actor, "view", dataset):
        raise NotFound("Dataset not found.", code="dataset_not_found")
    if not dataset.is_dynamic:
        raise PermissionDenied(
            "Dataset refresh is only allowed for dynamic datasets", code="refresh_not_allowed"
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
                "requested_at": r.requested_at.isoformat(),
                "logged_request": str(r.uuid),
            },
        )
        for i, r in enumerate(requests.iterator(chunk_size=2000), 1)
    )
    with transaction.atomic():
        version = _new_version(actor, dataset, source=DatasetVersion.Source.REFRESH, note="refresh")
        count = _write_records(version, parsed, reads_db=True)
        if count == 0:
            # Raised inside the transaction: the empty version rolls back with it.
            raise InvalidInput(
                "No requests found for the given criteria",
                field="filter",
                code="no_requests",
                status=401,
            )
        audit.record(
            "dataset.refresh",
            actor=actor,
            target=dataset,
            source=source,
            version=version.number,
            records=count,
        )
    return version


@dataclass(frozen=True)
class Export:
    """A download: its file name, content type and the body, produced lazily."""

    filename: str
    content_type: str
    chunks: Iterator[bytes]


def dataset_export(
    *, actor: User, version: DatasetVersion, format: str, source: str = ""
) -> Export:
    """A streamed CSV / JSON / JSONL download of one version (see :mod:`datasets.exporters`).

    Needs the ``export`` permission (viewers have it). The body is produced
    while the response streams, so a large version is never held in memory;
    CSV cells that a spreadsheet would run as formulas are neutralised.
    """
    dataset = version.dataset
    if not can(actor, "view", dataset):
        raise NotFound("Dataset not found.", code="dataset_not_found")
    if not can(actor, "export", dataset):
        raise PermissionDenied("You may not export this dataset.")
    if format not in exporters.CONTENT_TYPES:
        raise InvalidInput(
            f"Unknown format {format!r}: use csv, json or jsonl.",
            field="format",
            code="unknown_format",
        )
    with transaction.atomic():
        audit.record(
            "dataset.export",
            actor=actor,
            target=dataset,
            source=source,
            version=version.number,
            format=format,
        )
    stem = "".join(c if c.isalnum() or c in "-_ " else "_" for c in dataset.name[:60]).strip()
    return Export(
        filename=f"{stem or 'dataset'}-v{version.number}.{format}",
        content_type=exporters.CONTENT_TYPES[format],
        chunks=exporters.iter_export(version, format),
    )


def _ingest_row(actor, organization, workspace, item, where: str) -> LoggedRequest:
    if not isinstance(item, dict):
        raise InvalidInput(f"{where} must be an object.", field=where, code="not_an_object")
    prompt = item.get("prompt")
    if prompt is None or prompt == "" or prompt == [] or prompt == {}:
        raise InvalidInput("prompt is required.", field=f"{where}.prompt", code="required")
    _check_value(prompt, f"{where}.prompt")
    tags = item.get("tags") or []
    if not isinstance(tags, list) or not all(
        isinstance(t, str) and t and "," not in t for t in tags
    ):
        raise InvalidInput(
            "tags must be a list of non-empty strings without commas.",
            field=f"{where}.tags",
            code="invalid_type",
        )
    _check_value(tags, f"{where}.tags")
    metadata = item.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise InvalidInput(
            "metadata must be an object.", field=f"{where}.metadata", code="invalid_type"
        )
    _check_value(metadata, f"{where}.metadata")
    response = item.get("response")
    if response is None:
        response = ""
    if not isinstance(response, str):
        raise InvalidInput(
            "response must be a string.", field=f"{where}.response", code="invalid_type"
        )
    _check_value(response, f"{where}.response")
    model = item.get("model") or ""
    if not isinstance(model, str) or len(model) > 200:
        raise InvalidInput(
            "model must be a string of at most 200 characters.",
            field=f"{where}.model",
            code="invalid_type",
        )
    row = LoggedRequest(
        owner=actor,
        organization=organization,
        workspace=workspace,
        model=model,
        prompt=prompt,
        response=response,
        tags=tags,
        metadata=metadata,
    )
    if item.get("requested_at") is not None:
        row.requested_at = _parse_time(item["requested_at"], f"{where}.requested_at")
    for key in ("latency_ms", "prompt_tokens", "completion_tokens"):
        value = item.get(key)
        if value is None:
            continue
        integer = key != "latency_ms"
        if (
            isinstance(value, bool)
            or not isinstance(value, int if integer else int | float)
            or value < 0
            or (isinstance(value, float) and not value < float("inf"))
        ):
            raise InvalidInput(
                f"{key} must be a non-negative {'whole ' if integer else ''}number.",
                field=f"{where}.{key}",
                code="invalid_type",
            )
        setattr(row, key, value)
    row.fill_derived()  # bulk_create skips save(), which fills the search columns
    if len(row.tags_text) > LoggedRequest._meta.get_field("tags_text").max_length:
        raise InvalidInput("Too many or too long tags.", field=f"{where}.tags", code="too_long")
    return row


def logged_requests_ingest(
    *,
    actor: User,
    items: list[dict],
    organization: Organization | None = None,
    workspace: Workspace | None = None,
    source: str = "api",
) -> list[LoggedRequest]:
    """Store logged LLM requests, the raw material of dynamic datasets; all or none.

    Each item: ``prompt`` (required: text, messages or variables),
    ``response``, ``model``, ``tags`` (strings), ``metadata`` (object),
    ``requested_at`` (ISO time, default now), ``latency_ms``,
    ``prompt_tokens``, ``completion_tokens``. Errors name the item
    (``items[3].tags``). Logging into an org needs ``create`` there.
    """
    organization = _check_placement(actor, organization, workspace, "logged requests")
    if not isinstance(items, list) or not items:
        raise InvalidInput("items must be a non-empty list.", field="items", code="required")
    if len(items) > MAX_INGEST_ITEMS:
        raise InvalidInput(
            f"At most {MAX_INGEST_ITEMS:,} items per call.", field="items", code="too_many"
        )
    rows = [
        _ingest_row(actor, organization, workspace, item, f"items[{i}]")
        for i, item in enumerate(items)
    ]
    with transaction.atomic():
        created = LoggedRequest.objects.bulk_create(rows, batch_size=1000)
        audit.record(
            "logged_requests.ingest",
            actor=actor,
            organization=organization,
            source=source,
            count=len(rows),
        )
    return created
