"""Dataset pages: list and search, create, upload with preview and mapping, detail, refresh.

Each view parses a form and calls one datasets service; htmx requests get the
fragment that the page itself includes (see evalhub.http.render).
"""

from __future__ import annotations

import io
from itertools import islice
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, OuterRef, Q, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from datasets import services
from datasets.forms import (
    NO_COLUMN,
    ROLE_LABELS,
    BaselineForm,
    DatasetCreateForm,
    DatasetSearchForm,
    RecordFilterForm,
    UploadForm,
)
from datasets.importers import ROLES, iter_records, resolve_mapping
from datasets.models import Dataset, DatasetVersion
from evalhub import errors
from evalhub.errors import InvalidInput
from evalhub.http import (
    fragment,
    htmx_partial,
    page,
    redirect_after_post,
    render,
    safe_next,
    scope_of,
    streamed,
)
from evalhub.permissions import can
from runs.definitions import dataset_set_baseline
from runs.forms import MetricPicker
from runs.models import Run
from runs.views import run_table_context

# The browser sends only the head of a big file for a preview (static/js/evalhub.js).
PREVIEW_ROWS = 10
MAX_LINE_ERRORS = 20
RECORDS_PER_PAGE = 25


def _dataset_for(request, pk) -> Dataset:
    """A dataset the user may see, or 404 (never a 403: its existence stays private)."""
    return get_object_or_404(
        Dataset.objects.visible_to(request.user).select_related(
            "owner", "organization", "workspace", "baseline_run"
        ),
        pk=pk,
    )


def _require(user, action: str, obj) -> None:
    if not can(user, action, obj):
        raise PermissionDenied(f"Your role may not {action} this.")


# ---------------------------------------------------------------------------
# List and create
# ---------------------------------------------------------------------------


@login_required
@vary_on_headers("HX-Request")
def dataset_list(request):
    scope = scope_of(request)
    form = DatasetSearchForm(request.GET)
    form.is_valid()
    q, kind = form.cleaned_data.get("q"), form.cleaned_data.get("kind")
    latest = DatasetVersion.objects.filter(dataset=OuterRef("pk")).order_by("-number")
    datasets = (
        scope.filter(Dataset.objects.visible_to(request.user))
        .select_related("owner", "organization", "workspace")
        .annotate(
            version_count=Count("versions"),
            latest_number=Subquery(latest.values("number")[:1]),
            latest_records=Subquery(latest.values("record_count")[:1]),
        )
        .order_by("-created_at")
    )
    if q:
        datasets = datasets.filter(Q(name__icontains=q) | Q(description__icontains=q))
    if kind:
        datasets = datasets.filter(kind=kind)
    page_obj = Paginator(datasets, 25).get_page(request.GET.get("page"))
    context = {
        "search_form": form,
        "page_obj": page_obj,
        "datasets": page_obj.object_list,
        "search_query": urlencode({"q": q or "", "kind": kind or ""}),
    }
    return render(
        request, "datasets/dataset_list.html", "datasets/partials/_dataset_table.html", context
    )


@login_required
@vary_on_headers("HX-Request")
def dataset_create(request):
    scope = scope_of(request)
    form = DatasetCreateForm(request.POST or None, scope=scope)
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                dataset = services.dataset_create(
                    actor=request.user,
                    name=data["name"],
                    description=data["description"],
                    kind=data["kind"],
                    filter=form.filter_spec(),
                    source="ui",
                    **form.ownership(),
                )
            except InvalidInput as err:
                form.add_service_error(err)
            else:
                messages.success(request, f"Dataset “{dataset.name}” created.")
                target = (
                    reverse("datasets:detail", args=[dataset.pk])
                    if dataset.is_dynamic
                    else reverse("datasets:upload", args=[dataset.pk])
                )
                return redirect_after_post(request, target)
        status = 422
    else:
        status = 200
    return render(
        request,
        "datasets/dataset_form.html",
        "datasets/partials/_dataset_form.html",
        {"form": form},
        status=status,
    )


# ---------------------------------------------------------------------------
# Detail: versions, records, runs
# ---------------------------------------------------------------------------


def _records_context(request, dataset: Dataset, versions: list[DatasetVersion]) -> dict:
    form = RecordFilterForm(request.GET)
    form.is_valid()
    number, q = form.cleaned_data.get("version"), form.cleaned_data.get("q")
    version = next((v for v in versions if v.number == number), None) if number else None
    version = version or (versions[0] if versions else None)
    page_obj = None
    if version is not None:
        records = version.records.order_by("index")
        if q:
            # icontains on the JSON input matches its text on SQLite and PostgreSQL alike.
            records = records.filter(
                Q(expected_output__icontains=q)
                | Q(actual_output__icontains=q)
                | Q(input__icontains=q)
            )
        page_obj = Paginator(records, RECORDS_PER_PAGE).get_page(request.GET.get("page"))
    return {
        "dataset": dataset,
        "record_version": version,
        "record_filter": form,
        "records_page": page_obj,
        "q": q or "",
        "records_query": urlencode({"version": version.number if version else "", "q": q or ""}),
    }


def _versions(dataset: Dataset) -> list[DatasetVersion]:
    return list(dataset.versions.select_related("created_by").order_by("-number"))


@login_required
@vary_on_headers("HX-Request")
def dataset_detail(request, pk):
    dataset = _dataset_for(request, pk)
    versions = _versions(dataset)
    context = {
        **_records_context(request, dataset, versions),
        "versions": versions,
        "selected_metrics": list(dataset.selected_metrics.select_related("metric")),
        "can_change": can(request.user, "change", dataset),
        "can_run": can(request.user, "run", dataset),
        **run_table_context(request, params={"dataset": str(dataset.pk), "limit": "10"}),
    }
    return render(
        request, "datasets/dataset_detail.html", "datasets/partials/_records.html", context
    )


@login_required
@vary_on_headers("HX-Request")
def dataset_records(request, pk):
    """The records table alone (search, version, page); without htmx, the whole detail page."""
    if not htmx_partial(request):
        return dataset_detail(request, pk)
    dataset = _dataset_for(request, pk)
    return render(
        request,
        "datasets/dataset_detail.html",
        "datasets/partials/_records.html",
        _records_context(request, dataset, _versions(dataset)),
    )


@login_required
def dataset_export(request, pk, number, fmt):
    dataset = _dataset_for(request, pk)
    version = get_object_or_404(DatasetVersion, dataset=dataset, number=number)
    try:
        export = services.dataset_export(
            actor=request.user, version=version, format=fmt, source="ui"
        )
    except errors.PermissionDenied as err:
        raise PermissionDenied(err.message) from None
    except InvalidInput:
        raise Http404("Unknown export format.") from None
    return streamed(export)


# ---------------------------------------------------------------------------
# Upload: preview with column mapping, then import
# ---------------------------------------------------------------------------


def _raw_rows(fileobj, *, filename: str, format: str | None, limit: int):
    """The first rows as the file has them: every role mapped to no column returns the row whole."""
    rows, error = [], None
    try:
        for parsed in islice(
            iter_records(fileobj, format=format, mapping=dict.fromkeys(ROLES), filename=filename),
            limit,
        ):
            rows.append((parsed.line, parsed.input if isinstance(parsed.input, dict) else {}))
    except InvalidInput as err:
        error = err
    return rows, error


def _columns(rows) -> list[str]:
    seen: dict[str, None] = {}
    for _, row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def line_errors(fileobj, *, format: str | None, mapping, filename: str) -> list[str]:
    """More than the first bad line of a JSONL file: its lines are independent, so each is
    checked alone by the importer itself. Other formats report their first error only."""
    fileobj.seek(0)
    head = fileobj.read(512)
    fileobj.seek(0)
    from datasets.importers import guess_format

    if (format or guess_format(filename, head)) != "jsonl":
        return []
    found = []
    for number, raw in enumerate(iter(fileobj.readline, b""), 1):
        if not raw.strip():
            continue
        try:
            for _ in iter_records(io.BytesIO(raw), format="jsonl", mapping=mapping):
                pass
        except InvalidInput as err:
            found.append(err.message.replace("Line 1:", f"Line {number}:", 1))
            if len(found) >= MAX_LINE_ERRORS:
                break
    return found


def _upload_context(dataset, form, **extra) -> dict:
    return {"dataset": dataset, "form": form, "role_labels": ROLE_LABELS, **extra}


@login_required
@vary_on_headers("HX-Request")
def dataset_upload(request, pk):
    dataset = _dataset_for(request, pk)
    # A write page: a viewer is told no on GET already, not after choosing a file.
    _require(request.user, "change", dataset)
    if request.method != "POST":
        return render(
            request,
            "datasets/dataset_upload.html",
            "datasets/partials/_upload_form.html",
            _upload_context(dataset, UploadForm()),
        )
    form = UploadForm(request.POST, request.FILES)
    errors: list[str] = []
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            version = services.dataset_import(
                actor=request.user,
                dataset=dataset,
                fileobj=upload,
                filename=upload.name,
                format=form.cleaned_data["format"] or None,
                mapping=form.mapping(),
                note=form.cleaned_data["note"],
                source="upload",
            )
        except InvalidInput as err:
            if (err.field or "").startswith("line "):
                errors = line_errors(
                    upload,
                    format=form.cleaned_data["format"] or None,
                    mapping=form.mapping(),
                    filename=upload.name,
                ) or [err.message]
            else:
                form.add_service_error(err)
        else:
            messages.success(
                request, f"Imported {version.record_count} records as version {version.number}."
            )
            return redirect_after_post(request, reverse("datasets:detail", args=[dataset.pk]))
    return render(
        request,
        "datasets/dataset_upload.html",
        "datasets/partials/_upload_form.html",
        _upload_context(dataset, form, line_errors=errors),
        status=422,
    )


@login_required
@require_POST
@vary_on_headers("HX-Request")
def dataset_upload_preview(request, pk):
    """The first rows of the chosen file and a role → column mapping, before anything is written."""
    dataset = _dataset_for(request, pk)
    _require(request.user, "change", dataset)
    form = UploadForm(request.POST, request.FILES)
    context = _upload_context(dataset, form)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        rows, error = _raw_rows(
            upload,
            filename=upload.name,
            format=form.cleaned_data["format"] or None,
            limit=PREVIEW_ROWS,
        )
        # A sample cut by the browser ends mid-row: an error past the rows shown is that cut.
        if error is not None and rows and request.POST.get("sample") == "1":
            error = None
        columns = _columns(rows)
        try:
            guessed = resolve_mapping(columns, form.mapping())
        except InvalidInput as err:
            guessed, error = resolve_mapping(columns, None), error or err
        context.update(
            preview_rows=[(line, [row.get(c) for c in columns]) for line, row in rows],
            columns=columns,
            mapping=[(role, ROLE_LABELS[role], guessed.get(role)) for role in ROLES],
            column_roles={c: r for r, c in guessed.items() if c},
            preview_error=error.message if error else "",
            no_column=NO_COLUMN,
        )
    if htmx_partial(request):
        return fragment(request, "datasets/partials/_upload_preview.html", context)
    # Without JavaScript the file input cannot be kept: show the preview on the upload page.
    return page(request, "datasets/dataset_upload.html", {**context, "show_preview": True})


# ---------------------------------------------------------------------------
# Dynamic datasets, metrics, baseline
# ---------------------------------------------------------------------------


@login_required
@require_POST
@vary_on_headers("HX-Request")
def dataset_refresh(request, pk):
    dataset = _dataset_for(request, pk)
    _require(request.user, "change", dataset)
    error = ""
    try:
        version = services.dataset_refresh(actor=request.user, dataset=dataset, source="ui")
    except InvalidInput as err:
        if err.status == 403 and err.code != "refresh_not_allowed":
            raise PermissionDenied(err.message) from None
        error = err.message
    else:
        messages.success(
            request, f"Refreshed: version {version.number} holds {version.record_count} records."
        )
    if not htmx_partial(request):
        if error:
            messages.error(request, error)
        return redirect("datasets:detail", pk=dataset.pk)
    context = {
        "dataset": dataset,
        "versions": _versions(dataset),
        "can_change": True,
        "refresh_error": error,
    }
    return render(
        request,
        "datasets/dataset_detail.html",
        "datasets/partials/_versions.html",
        context,
        status=422 if error else 200,
    )


@login_required
@vary_on_headers("HX-Request")
def dataset_metrics(request, pk):
    """Choose the metrics (with default args) a run from this dataset scores with."""
    dataset = _dataset_for(request, pk)
    _require(request.user, "change", dataset)
    status = 200
    if request.method == "POST":
        picker = MetricPicker(request.POST)
        if not request.POST.get("add_metric") and picker.is_valid():
            try:
                services.dataset_set_metrics(
                    actor=request.user,
                    dataset=dataset,
                    selected_metrics=[
                        {"metric": m["metric"], "args": m["args"]} for m in picker.cleaned()
                    ],
                    source="ui",
                )
            except InvalidInput as err:
                picker.add_service_error(err)
            else:
                messages.success(request, "Selected metrics saved.")
                return redirect_after_post(request, reverse("datasets:detail", args=[pk]))
        status = 422 if not request.POST.get("add_metric") else 200
    else:
        picker = MetricPicker(
            initial=[
                (sm.metric.slug, sm.args, False)
                for sm in dataset.selected_metrics.select_related("metric")
            ]
        )
    return render(
        request,
        "datasets/dataset_metrics.html",
        "datasets/partials/_metrics_form.html",
        {"dataset": dataset, "picker": picker, "with_informational": False},
        status=status,
    )


@login_required
@require_POST
@vary_on_headers("HX-Request")
def dataset_baseline(request, pk):
    """Pin the shown run as the baseline new runs of this dataset are compared with, or unpin."""
    dataset = _dataset_for(request, pk)
    _require(request.user, "change", dataset)
    form = BaselineForm(request.POST)
    if not form.is_valid():
        raise Http404("No such run.")
    run = get_object_or_404(Run.objects.visible_to(request.user), pk=form.cleaned_data["run"])
    pin = form.cleaned_data["action"] == "pin"
    error = ""
    try:
        dataset_set_baseline(
            actor=request.user, dataset=dataset, run=run if pin else None, source="ui"
        )
    except InvalidInput as err:
        error = err.message
    if not htmx_partial(request):
        if error:
            messages.error(request, error)
        else:
            messages.success(request, "Baseline pinned." if pin else "Baseline unpinned.")
        return redirect(safe_next(request, reverse("runs:detail", args=[run.pk])))
    context = {"dataset": dataset, "run": run, "baseline_error": error, "can_pin": True}
    return fragment(
        request, "datasets/partials/_baseline.html", context, status=422 if error else 200
    )
