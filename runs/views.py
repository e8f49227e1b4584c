"""Run pages: the live status table, run detail, comparison, the five run forms, definitions.

Views parse a form and call a service (runs.services, runs.definitions); the
page includes the very fragment an htmx request gets back. Anything that
polls reads the counters on Run, never aggregates over RunItem.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import caches
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Case, Count, F, FloatField, Max, Min, Prefetch, Q, Value, When
from django.db.models.functions import Floor, Greatest, Least
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import get_template, render_to_string
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.timezone import get_current_timezone_name
from django.utils.translation import get_language
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HTMX_STOP_POLLING

from evalhub import errors
from evalhub.errors import InvalidInput
from evalhub.http import (
    RUNS_CHANGED,
    fragment,
    htmx_partial,
    page,
    redirect_after_post,
    render,
    scope_of,
    streamed,
    trigger_client_event,
)
from evalhub.permissions import can
from runs import definitions, services
from runs.forms import (
    AgentEditForm,
    AgentForm,
    AgentRunForm,
    CompareForm,
    ConfigCreateForm,
    ConfigRunForm,
    ConfigVersionForm,
    DatasetRunForm,
    ItemFilterForm,
    MetricPicker,
    MetricRow,
    PromptCreateForm,
    PromptVersionForm,
    ReportForm,
    ReportRunForm,
    ResponsesRunForm,
    RunFilterForm,
)
from runs.models import (
    Agent,
    EvalConfig,
    EvalConfigVersion,
    ItemStatus,
    Prompt,
    Report,
    Run,
    RunItem,
    Score,
)

RUN_FINISHED = "run-finished"
RUNS_PER_PAGE = 25
ITEMS_PER_PAGE = 25
HISTORY_RUNS = 30
HISTOGRAM_BINS = 10
SIDE_BY_SIDE = 25


def _require(user, action: str, obj) -> None:
    if not can(user, action, obj):
        raise PermissionDenied(f"Your role may not {action} this.")


def _started(request, run: Run, form_response):
    """After a run starts: htmx gets a fresh form and the runs-changed event; others the run."""
    if htmx_partial(request):
        return trigger_client_event(form_response(), RUNS_CHANGED)
    messages.success(request, f"Run “{run.display_name}” started.")
    return redirect("runs:detail", pk=run.pk)


# ---------------------------------------------------------------------------
# The live status table
# ---------------------------------------------------------------------------

# What the table shows of a run: its row template, can() and the run's display
# properties. Loading only these keeps the query small and makes a row's cache key
# (everything loaded) exactly what the row shows.
RUN_TABLE_COLUMNS = [
    "name",
    "alias",
    "is_sandbox",
    "source",
    "status",
    "item_count",
    "completed_count",
    "pass_rate",
    "is_gte_threshold",
    "total_cost",
    "started_at",
    "finished_at",
    "created_at",
    "organization",
    "owner__username",
    "dataset__name",
    "config_version__number",
    "config_version__config__name",
]
RUN_ROW_TEMPLATE = "runs/partials/_run_row.html"
# A row's entry is keyed by everything it shows and by its template, so it never goes
# stale; the expiry bounds what the cache holds, and how long a release that changes
# how a run is displayed outside the template (a label, a property) shows old rows.
RUN_ROW_CACHE_SECONDS = 600


def run_table_context(request, *, params=None) -> dict:
    """Rows of the status table and the URL that refreshes it, from ``params`` (default: GET).

    A table filtered to one dataset or config shows its runs whatever the
    switcher says; otherwise the scope narrows it.
    """
    params = request.GET if params is None else params
    scope = scope_of(request)
    # Built only when there are filters to parse or the page renders it: the usual
    # poll has neither, and the form's querysets cost about as much as a query.
    form = SimpleLazyObject(lambda: RunFilterForm(params, scope=scope))
    filtered = any(params.get(name) for name in RunFilterForm.base_fields)
    filters = form.cleaned_data if filtered and form.is_valid() else {}
    runs = (
        Run.objects.visible_to(request.user)
        .select_related("dataset", "config_version__config", "owner")
        .only(*RUN_TABLE_COLUMNS)
    )
    if not (filters.get("dataset") or filters.get("config")):
        runs = scope.filter(runs)
    status = filters.get("status")
    if status == "active":
        runs = runs.active()
    elif status:
        runs = runs.filter(status=status)
    if filters.get("dataset"):
        runs = runs.filter(dataset=filters["dataset"])
    if filters.get("config"):
        runs = runs.filter(config_version__config=filters["config"])
    if filters.get("q"):
        runs = runs.filter(Q(name__icontains=filters["q"]) | Q(alias__icontains=filters["q"]))
    runs = runs.order_by("-created_at", "-pk")
    limit = params.get("limit")
    limit = int(limit) if limit and str(limit).isdigit() and 0 < int(limit) <= 100 else None
    page_obj = None
    if limit:
        rows = list(runs[:limit])
    else:
        page_obj = Paginator(runs, RUNS_PER_PAGE).get_page(params.get("page"))
        rows = list(page_obj.object_list)
    for run in rows:
        run.can_cancel = run.is_active and can(request.user, "cancel", run)
    _render_settled_rows(rows)
    keys = ("status", "dataset", "config", "q", "page", "limit", "compact")
    query = {k: params.get(k) for k in keys}
    query = {k: v for k, v in query.items() if v}
    return {
        "runs": rows,
        "run_filter": form,
        "runs_page": page_obj,
        "any_active": any(r.is_active for r in rows),
        "compact": bool(params.get("compact")),
        "table_url": reverse("runs:list") + ("?" + urlencode(query) if query else ""),
        "runs_base_query": urlencode({k: v for k, v in query.items() if k != "page"}),
    }


def _render_settled_rows(rows: list[Run]) -> None:
    """Set ``row_html`` on the rows that show nothing but the run's own state.

    Most rows of a polled table are finished runs that look the same on every
    poll, and rendering them was most of a poll's cost. Such a row depends on
    the run and its related names alone: no cancel form (the run is not
    active), so no CSRF token, and no duration following the clock. It is
    rendered once per state and kept in the cache under a digest of everything
    loaded for it, so the same row serves every user allowed to see it; who
    sees which runs is decided by the query, on every request. The other rows
    (active runs) are rendered by the table template itself, each time.
    """
    settled = [
        run
        for run in rows
        if not run.is_active and (run.started_at is None or run.finished_at is not None)
    ]
    if not settled:
        return
    context = (_row_template_version(), get_current_timezone_name(), get_language())
    keys = {run.pk: "runs:row:" + _digest(context, _loaded(run)) for run in settled}
    cache = caches["polls"]
    cached = cache.get_many(keys.values())
    rendered = {}
    for run in settled:
        html = cached.get(keys[run.pk])
        if html is None:
            html = rendered[keys[run.pk]] = render_to_string(RUN_ROW_TEMPLATE, {"run": run})
        run.row_html = html
    if rendered:
        cache.set_many(rendered, RUN_ROW_CACHE_SECONDS)


def _loaded(run: Run) -> tuple:
    """The field values loaded for a row: the run's, and its related objects'."""

    def values(obj):
        if obj is None:
            return None
        return tuple(obj.__dict__.get(f.attname) for f in obj._meta.concrete_fields)

    config_version = run.config_version
    return (
        values(run),
        values(run.owner),
        values(run.dataset),
        values(config_version),
        values(config_version.config if config_version else None),
    )


def _row_template_version() -> str:
    """A digest of the row template's source: a change to it renders rows afresh.

    Not memoized: the template loader already caches the template, and in
    development it reloads an edited one.
    """
    return _digest(get_template(RUN_ROW_TEMPLATE).template.source)


def _digest(*parts) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


@login_required
@vary_on_headers("HX-Request")
def run_list(request):
    context = run_table_context(request)
    # With nothing active the fragment carries no polling trigger, and 286 tells
    # htmx to stop the poll that asked for it.
    status = HTMX_STOP_POLLING if htmx_partial(request) and not context["any_active"] else 200
    return render(
        request, "runs/run_list.html", "runs/partials/_run_table.html", context, status=status
    )


# ---------------------------------------------------------------------------
# Run detail: summary (polls while active), results and charts, items
# ---------------------------------------------------------------------------


def _run_for(request, pk) -> Run:
    return get_object_or_404(
        Run.objects.visible_to(request.user).select_related(
            "dataset",
            "dataset__baseline_run",
            "dataset_version",
            "config_version__config",
            "prompt_version__prompt",
            "agent",
            "judge_model",
            "owner",
            "organization",
        ),
        pk=pk,
    )


def _summary_context(request, run: Run) -> dict:
    user = request.user
    dataset = run.dataset
    return {
        "run": run,
        "can_cancel": run.is_active and can(user, "cancel", run),
        "can_rerun": run.is_finished and run.error_count > 0 and can(user, "run", run),
        "can_pin": dataset is not None and run.is_finished and can(user, "change", dataset),
        "dataset": dataset,
    }


def score_histograms(run: Run, metrics) -> dict[int, list[int]]:
    """Counts of scores in ten equal bins per metric, computed by the database (two queries)."""
    scores = Score.objects.filter(run_metric__run=run, value__isnull=False)
    observed = {
        row["run_metric"]: (row["lo"], row["hi"])
        for row in scores.values("run_metric").annotate(lo=Min("value"), hi=Max("value"))
    }
    ranges = {}
    for m in metrics:
        if m.pk not in observed:
            continue
        declared = [*(m.metric.value_range or [0.0, 1.0]), None, None]
        lo = observed[m.pk][0] if declared[0] is None else declared[0]
        # A metric without an upper bound (a length) is binned up to its largest value.
        hi = observed[m.pk][1] if declared[1] is None else declared[1]
        ranges[m.pk] = (lo, max(hi, lo + 1e-9))
    if not ranges:
        return {}
    width = Case(
        *(
            When(run_metric_id=pk, then=Value((hi - lo) / HISTOGRAM_BINS))
            for pk, (lo, hi) in ranges.items()
        ),
        output_field=FloatField(),
    )
    low = Case(
        *(When(run_metric_id=pk, then=Value(lo)) for pk, (lo, _) in ranges.items()),
        output_field=FloatField(),
    )
    bins = (
        scores.filter(run_metric_id__in=list(ranges))
        .annotate(bin=Least(Greatest(Floor((F("value") - low) / width), Value(0.0)), Value(9.0)))
        .values("run_metric", "bin")
        .annotate(n=Count("pk"))
    )
    counts = {pk: [0] * HISTOGRAM_BINS for pk in ranges}
    for row in bins:
        counts[row["run_metric"]][int(row["bin"])] += row["n"]
    return {pk: (ranges[pk], c) for pk, c in counts.items()}


def _chart_data(run: Run, metrics, user) -> dict:
    histograms = score_histograms(run, metrics)
    distributions = []
    for m in metrics:
        if m.pk not in histograms:
            continue
        (lo, hi), counts = histograms[m.pk]
        step = (hi - lo) / HISTOGRAM_BINS
        distributions.append(
            {
                "label": m.label,
                "bins": [
                    f"{lo + i * step:.2g}–{lo + (i + 1) * step:.2g}" for i in range(HISTOGRAM_BINS)
                ],
                "counts": counts,
            }
        )
    # Only runs this user may open themselves feed the history.
    past = Run.objects.visible_to(user).finished().filter(pass_rate__isnull=False)
    if run.config_version_id:
        past = past.filter(config_version__config_id=run.config_version.config_id)
        history_of = f"eval config “{run.config_version.config.name}”"
    elif run.dataset_id:
        past = past.filter(dataset_id=run.dataset_id)
        history_of = f"dataset “{run.dataset.name}”"
    else:
        past = past.filter(pk=run.pk)
        history_of = "this run"
    history = list(
        past.order_by("-created_at").values("pk", "name", "alias", "pass_rate", "created_at")[
            :HISTORY_RUNS
        ]
    )[::-1]
    return {
        "distributions": distributions,
        "history": {
            "of": history_of,
            "labels": [h["created_at"].strftime("%m-%d %H:%M") for h in history],
            "names": [h["alias"] or h["name"] or f"run {h['pk']}" for h in history],
            "pass_rates": [h["pass_rate"] for h in history],
            "current": next((i for i, h in enumerate(history) if h["pk"] == run.pk), None),
            "threshold": run.threshold,
        },
    }


def _results_context(run: Run, user) -> dict:
    metrics = list(run.run_metrics.select_related("metric").order_by("position"))
    context = {"run": run, "run_metrics": metrics}
    if run.is_finished:
        context["chart_data"] = _chart_data(run, metrics, user)
    return context


def _items_context(request, run: Run, metrics=None) -> dict:
    form = ItemFilterForm(request.GET)
    form.is_valid()
    show, q = form.cleaned_data.get("show") or "", form.cleaned_data.get("q") or ""
    metrics = metrics if metrics is not None else list(run.run_metrics.order_by("position"))
    items = run.items.select_related("record").prefetch_related("scores").order_by("index")
    if show == "failed":
        items = items.filter(status=ItemStatus.DONE, passed=False)
    elif show == "errored":
        items = items.filter(status=ItemStatus.ERROR)
    elif show == "passed":
        items = items.filter(passed=True)
    if q:
        items = items.filter(Q(output__icontains=q) | Q(error__icontains=q))
    page_obj = Paginator(items, ITEMS_PER_PAGE).get_page(request.GET.get("page"))
    rows = []
    for item in page_obj.object_list:
        by_metric = {s.run_metric_id: s for s in item.scores.all()}
        rows.append((item, [(m, by_metric.get(m.pk)) for m in metrics]))
    query = {k: v for k, v in (("show", show), ("q", q)) if v}
    return {
        "run": run,
        "item_filter": form,
        "item_rows": rows,
        "items_page": page_obj,
        "show": show,
        "item_query": urlencode(query),
        "item_metrics": metrics,
        "show_choices": ItemFilterForm.SHOW,
    }


def _detail_context(request, run: Run) -> dict:
    results = _results_context(run, request.user)
    return {
        **_summary_context(request, run),
        **results,
        **_items_context(request, run, results["run_metrics"]),
    }


@login_required
def run_detail(request, pk):
    run = _run_for(request, pk)
    return page(request, "runs/run_detail.html", _detail_context(request, run))


@login_required
@vary_on_headers("HX-Request")
def run_summary(request, pk):
    """The progress panel. It polls itself while the run is active; the terminal render stops."""
    if not htmx_partial(request):
        return redirect("runs:detail", pk=pk)
    run = _run_for(request, pk)
    response = fragment(request, "runs/partials/_run_summary.html", _summary_context(request, run))
    if run.is_finished and request.GET.get("poll"):
        response.status_code = HTMX_STOP_POLLING
        # The results and items panels wait for this to load the final numbers.
        trigger_client_event(response, RUN_FINISHED)
    return response


@login_required
@vary_on_headers("HX-Request")
def run_results(request, pk):
    if not htmx_partial(request):
        return redirect("runs:detail", pk=pk)
    run = _run_for(request, pk)
    return fragment(request, "runs/partials/_run_results.html", _results_context(run, request.user))


@login_required
@vary_on_headers("HX-Request")
def run_items(request, pk):
    """The per-item table (filter, search, page); without htmx, the detail page so filtered."""
    run = _run_for(request, pk)
    return render(
        request,
        "runs/run_detail.html",
        "runs/partials/_run_items.html",
        _items_context(request, run) if htmx_partial(request) else _detail_context(request, run),
    )


@login_required
@require_POST
@vary_on_headers("HX-Request")
def run_cancel(request, pk):
    run = _run_for(request, pk)
    _require(request.user, "cancel", run)
    try:
        cancelled = services.run_cancel(actor=request.user, run=run, source="ui")
    except InvalidInput as err:
        raise PermissionDenied(err.message) from None
    if not htmx_partial(request):
        if cancelled:
            messages.success(request, "Run cancelled.")
        return redirect("runs:detail", pk=run.pk)
    run.refresh_from_db()
    response = fragment(request, "runs/partials/_run_summary.html", _summary_context(request, run))
    trigger_client_event(response, RUNS_CHANGED)
    return trigger_client_event(response, RUN_FINISHED)


@login_required
@require_POST
@vary_on_headers("HX-Request")
def run_rerun_failed(request, pk):
    run = _run_for(request, pk)
    _require(request.user, "run", run)
    error = ""
    try:
        queued = services.run_rerun_failed(actor=request.user, run=run, source="ui")
    except InvalidInput as err:
        if err.status == 403:
            raise PermissionDenied(err.message) from None
        error, queued = err.message, 0
    if not htmx_partial(request):
        if error:
            messages.error(request, error)
        else:
            messages.success(request, f"Re-running {queued} errored items.")
        return redirect("runs:detail", pk=run.pk)
    run.refresh_from_db()
    context = {**_summary_context(request, run), "summary_error": error}
    response = fragment(request, "runs/partials/_run_summary.html", context)
    return trigger_client_event(response, RUNS_CHANGED)


# ---------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------


@login_required
def run_export(request, pk, fmt):
    """Every item with every score, streamed by the same service as the API's export."""
    run = _run_for(request, pk)
    try:
        export = definitions.run_export(actor=request.user, run=run, format=fmt, source="ui")
    except errors.PermissionDenied as err:
        raise PermissionDenied(err.message) from None
    except InvalidInput:
        raise Http404("Unknown export format.") from None
    return streamed(export)


# ---------------------------------------------------------------------------
# Compare two runs
# ---------------------------------------------------------------------------


def default_base(run: Run) -> Run | None:
    """What a run is compared with by default: its dataset's pinned baseline, else the previous run."""
    dataset = run.dataset
    if dataset is not None and dataset.baseline_run_id and dataset.baseline_run_id != run.pk:
        return dataset.baseline_run
    if run.dataset_id is None:
        return None
    return (
        Run.objects.finished()
        .filter(dataset_id=run.dataset_id, created_at__lt=run.created_at)
        .exclude(pk=run.pk)
        .order_by("-created_at")
        .first()
    )


@login_required
def run_compare(request):
    visible = Run.objects.visible_to(request.user).select_related(
        "dataset", "dataset__baseline_run", "config_version__config"
    )
    form = CompareForm(request.GET)
    form.is_valid()
    run_id, base_id = form.cleaned_data.get("run"), form.cleaned_data.get("base")
    if not run_id:
        raise Http404("Choose a run to compare.")
    run = get_object_or_404(visible, pk=run_id)
    if base_id:
        base = get_object_or_404(visible, pk=base_id)
    else:
        default = default_base(run)
        # The default (a pinned baseline, a previous run) must be visible too.
        base = visible.filter(pk=default.pk).first() if default else None
    candidates = (
        list(
            visible.finished()
            .filter(dataset_id=run.dataset_id)
            .exclude(pk=run.pk)
            .order_by("-created_at")[:50]
        )
        if run.dataset_id
        else []
    )
    context = {
        "run": run,
        "base": base,
        "candidates": candidates,
        "comparison": _comparison(base, run) if base is not None else None,
        "can_pin": run.dataset is not None and can(request.user, "change", run.dataset),
        "dataset": run.dataset,
    }
    return page(request, "runs/run_compare.html", context)


def _comparison(base: Run, run: Run) -> dict:
    """runs.compare's statistics, plus the changed items loaded for a side-by-side view."""
    from runs import compare

    result = compare.compare_runs(base, run)
    changed = [*result["regressed"][:SIDE_BY_SIDE], *result["improved"][:SIDE_BY_SIDE]]
    ids = [c["base_item_id"] for c in changed] + [c["run_item_id"] for c in changed]
    items = {
        item.pk: item
        for item in RunItem.objects.filter(pk__in=ids)
        .select_related("record")
        .prefetch_related(
            Prefetch(
                "scores",
                queryset=Score.objects.select_related("run_metric").order_by(
                    "run_metric__position"
                ),
            )
        )
    }

    def pairs(changes):
        return [
            (items[c["base_item_id"]], items[c["run_item_id"]])
            for c in changes[:SIDE_BY_SIDE]
            if c["base_item_id"] in items and c["run_item_id"] in items
        ]

    for m in result["metrics"]:
        # Whether the change is good news depends on the metric's direction.
        delta = m["delta"] or 0
        m["better"] = (delta > 0) == m["higher_is_better"] if delta else None
    return {
        **result,
        "regressed_pairs": pairs(result["regressed"]),
        "improved_pairs": pairs(result["improved"]),
        "side_by_side": SIDE_BY_SIDE,
    }


# ---------------------------------------------------------------------------
# Starting runs: one form per way a run starts
# ---------------------------------------------------------------------------

RUN_KINDS = [
    (
        "config",
        "Eval config on a dataset version",
        "Score a dataset version with an eval config version's metrics.",
    ),
    (
        "dataset",
        "From a dataset",
        "Use the dataset's selected metrics; override threshold, judge model and metric arguments.",
    ),
    (
        "agent",
        "Prompt and agent on chosen records",
        "Generate answers with a prompt version or an agent, then score them.",
    ),
    (
        "responses",
        "Score uploaded responses",
        "Upload answers produced elsewhere and score them against an eval's prompts.",
    ),
    (
        "report",
        "Run a report pipeline",
        "Run an evaluation pipeline, on its dataset or another, refreshing a dynamic one.",
    ),
]


@login_required
def run_new(request):
    return page(request, "runs/run_new.html", {"kinds": RUN_KINDS})


def _initial(request) -> dict:
    initial = request.GET.dict()
    if "records" in request.GET:
        initial["records"] = request.GET.getlist("records")
    return initial


def _run_form_page(request, kind: str, form, *, status=200, started=None, extra=None):
    title = next(t for k, t, _ in RUN_KINDS if k == kind)
    context = {
        "form": form,
        "kind": kind,
        "title": title,
        "started": started,
        "form_url": reverse(f"runs:new_{kind}"),
        **(extra or {}),
    }
    if not htmx_partial(request):
        context.update(run_table_context(request, params={"limit": "8", "compact": "1"}))
    return render(
        request, "runs/run_form.html", "runs/partials/_run_form.html", context, status=status
    )


def _dependent(form, field: str, url: str, include: str = "closest form") -> None:
    """Re-render the form in place when ``field`` changes, keeping what was typed."""
    form.fields[field].widget.attrs.update(
        {
            "hx-get": url,
            "hx-trigger": "change",
            "hx-target": "#run-form",
            "hx-swap": "outerHTML",
            "hx-include": include,
        }
    )


@login_required
@vary_on_headers("HX-Request")
def run_new_config(request):
    scope = scope_of(request)
    url = reverse("runs:new_config")
    if request.method == "POST":
        form = ConfigRunForm(request.POST, scope=scope)
        _dependent(form, "config_version", url)
        if form.is_valid():
            data = form.cleaned_data
            try:
                run = services.run_create(
                    actor=request.user,
                    config_version=data["config_version"],
                    dataset_version=data["dataset_version"],
                    name=data["name"],
                    alias=data["alias"] or None,
                    threshold=data["threshold"],
                    model_slug=data["model_slug"].slug if data["model_slug"] else None,
                    source=Run.Source.UI,
                )
            except InvalidInput as err:
                form.add_service_error(err)
            else:
                fresh = ConfigRunForm(
                    initial={"config_version": data["config_version"].pk}, scope=scope
                )
                _dependent(fresh, "config_version", url)
                return _started(
                    request, run, lambda: _run_form_page(request, "config", fresh, started=run)
                )
        return _run_form_page(request, "config", form, status=422)
    initial = _initial(request)
    version = _config_version_from(scope, initial.get("config_version"))
    if version is not None and version.config.dataset_id and "dataset_version" not in request.GET:
        latest = version.config.dataset.latest_version()
        initial["dataset_version"] = latest.pk if latest else None
        initial.setdefault("threshold", version.threshold)
    form = ConfigRunForm(initial=initial, scope=scope)
    _dependent(form, "config_version", url)
    return _run_form_page(request, "config", form, extra={"config_version": version})


def _config_version_from(scope, value) -> EvalConfigVersion | None:
    if not value or not str(value).isdigit():
        return None
    from runs.forms import visible_config_versions

    return visible_config_versions(scope).select_related("config__dataset").filter(pk=value).first()


@login_required
@vary_on_headers("HX-Request")
def run_new_dataset(request):
    scope = scope_of(request)
    url = reverse("runs:new_dataset")
    data = request.POST if request.method == "POST" else None
    form = DatasetRunForm(data, initial=None if data else _initial(request), scope=scope)
    _dependent(form, "dataset", url, include="[name=dataset],[name=threshold],[name=alias]")
    dataset_value = (data or request.GET).get("dataset")
    dataset = (
        form.fields["dataset"].queryset.filter(pk=dataset_value).first()
        if dataset_value and str(dataset_value).isdigit()
        else None
    )
    form.set_dataset(dataset)
    if data is None:
        return _run_form_page(request, "dataset", form)
    metric_args, args_ok = form.metric_args()
    if form.is_valid() and args_ok:
        cleaned = form.cleaned_data
        try:
            run = services.run_create_from_dataset(
                actor=request.user,
                dataset=cleaned["dataset"],
                threshold=cleaned["threshold"],
                model_slug=cleaned["model_slug"].slug if cleaned["model_slug"] else None,
                metric_args=metric_args,
                alias=cleaned["alias"] or None,
                source=Run.Source.UI,
            )
        except InvalidInput as err:
            form.add_service_error(err)
        else:
            fresh = DatasetRunForm(initial={"dataset": cleaned["dataset"].pk}, scope=scope)
            _dependent(fresh, "dataset", url, include="[name=dataset]")
            fresh.set_dataset(cleaned["dataset"])
            return _started(
                request, run, lambda: _run_form_page(request, "dataset", fresh, started=run)
            )
    return _run_form_page(request, "dataset", form, status=422)


@login_required
@vary_on_headers("HX-Request")
def run_new_agent(request):
    scope = scope_of(request)
    url = reverse("runs:new_agent")
    data = request.POST if request.method == "POST" else None
    form = AgentRunForm(data, initial=None if data else _initial(request), scope=scope)
    _dependent(form, "config_version", url)
    _dependent(form, "dataset_version", url)
    values = data or request.GET
    version = None
    if values.get("dataset_version") and str(values["dataset_version"]).isdigit():
        version = (
            form.fields["dataset_version"].queryset.filter(pk=values["dataset_version"]).first()
        )
    else:
        config_version = _config_version_from(scope, values.get("config_version"))
        if config_version is not None and config_version.config.dataset_id:
            version = config_version.config.dataset.latest_version()
    form.set_record_version(version)
    if data is None:
        return _run_form_page(request, "agent", form)
    if form.is_valid():
        cleaned = form.cleaned_data
        try:
            run = services.run_create(
                actor=request.user,
                config_version=cleaned["config_version"],
                dataset_version=cleaned["dataset_version"] or version,
                prompt_version=cleaned["prompt_version"],
                agent=cleaned["agent"],
                record_uuids=cleaned["records"] or None,
                name=cleaned["name"],
                alias=cleaned["alias"] or None,
                source=Run.Source.UI,
            )
        except InvalidInput as err:
            form.add_service_error(err)
        else:
            fresh = AgentRunForm(initial=_initial(request) | {"records": []}, scope=scope)
            fresh.initial.update(
                {k: request.POST.get(k) for k in ("config_version", "prompt_version", "agent")}
            )
            _dependent(fresh, "config_version", url)
            _dependent(fresh, "dataset_version", url)
            fresh.set_record_version(version)
            return _started(
                request, run, lambda: _run_form_page(request, "agent", fresh, started=run)
            )
    return _run_form_page(request, "agent", form, status=422)


def _hint_on_change(form) -> None:
    """Choosing the eval refreshes only the hint, so a chosen file stays chosen."""
    form.fields["config_version"].widget.attrs.update(
        {
            "hx-get": reverse("runs:new_responses") + "?hint=1",
            "hx-trigger": "change",
            "hx-target": "#responses-hint",
            "hx-swap": "outerHTML",
            "hx-include": "this",
        }
    )


@login_required
@vary_on_headers("HX-Request")
def run_new_responses(request):
    scope = scope_of(request)
    if request.method == "POST":
        form = ResponsesRunForm(request.POST, request.FILES, scope=scope)
        _hint_on_change(form)
        if form.is_valid() and not form.errors:
            cleaned = form.cleaned_data
            try:
                run = services.run_score_responses(
                    actor=request.user,
                    config_version=cleaned["config_version"],
                    responses=cleaned["responses"],
                    name=cleaned["name"],
                    ai_description=cleaned["ai_description"],
                    source=Run.Source.UI,
                )
            except InvalidInput as err:
                form.add_service_error(err)
            else:
                fresh = ResponsesRunForm(
                    initial={"config_version": cleaned["config_version"].pk}, scope=scope
                )
                _hint_on_change(fresh)
                return _started(
                    request,
                    run,
                    lambda: _run_form_page(
                        request, "responses", fresh, started=run, extra=_prompts_hint(scope, fresh)
                    ),
                )
        return _run_form_page(
            request, "responses", form, status=422, extra=_prompts_hint(scope, form)
        )
    form = ResponsesRunForm(initial=_initial(request), scope=scope)
    _hint_on_change(form)
    if htmx_partial(request) and request.GET.get("hint"):
        return fragment(request, "runs/partials/_responses_hint.html", _prompts_hint(scope, form))
    return _run_form_page(request, "responses", form, extra=_prompts_hint(scope, form))


def _prompts_hint(scope, form) -> dict:
    """Which prompts the chosen eval has, so the analyst knows which uuids to answer."""
    value = form.data.get("config_version") if form.is_bound else form.initial.get("config_version")
    version = _config_version_from(scope, value)
    dataset = version.config.dataset if version is not None else None
    latest = dataset.latest_version() if dataset is not None else None
    return {
        "hint_version": version,
        "hint_records": list(latest.records.order_by("index")[:5]) if latest else [],
        "hint_dataset_version": latest,
    }


@login_required
def run_responses_template(request, pk):
    """A JSONL file with one line per prompt of the eval, content left for the analyst to fill."""
    from datasets.exporters import json_lines

    scope = scope_of(request)
    version = _config_version_from(scope, str(pk))
    if version is None or version.config.dataset is None:
        raise Http404("No such eval config version with a dataset.")
    latest = version.config.dataset.latest_version()
    if latest is None:
        raise Http404("The eval has no prompts.")
    rows = (
        {"prompt_uuid": str(r.uuid), "index": r.index, "input": r.input, "content": ""}
        for r in latest.records.order_by("index").iterator(chunk_size=2000)
    )
    response = StreamingHttpResponse(json_lines(rows), content_type="application/x-ndjson")
    response["Content-Disposition"] = f'attachment; filename="responses-template-{pk}.jsonl"'
    return response


@login_required
@vary_on_headers("HX-Request")
def run_new_report(request):
    scope = scope_of(request)
    url = reverse("runs:new_report")
    data = request.POST if request.method == "POST" else None
    form = ReportRunForm(data, initial=None if data else _initial(request), scope=scope)
    _dependent(form, "report", url)
    _dependent(form, "dataset", url)
    dataset = form.effective_dataset()
    extra = {
        "refresh_possible": dataset is not None and dataset.is_dynamic,
        "effective_dataset": dataset,
    }
    if data is None:
        return _run_form_page(request, "report", form, extra=extra)
    if form.is_valid():
        cleaned = form.cleaned_data
        try:
            final = services.report_run(
                actor=request.user,
                report=cleaned["report"],
                name=cleaned["name"],
                dataset=cleaned["dataset"],
                refresh_dataset=cleaned["refresh_dataset"] and extra["refresh_possible"],
                source=Run.Source.UI,
            )
        except InvalidInput as err:
            form.add_service_error(err)
        else:
            fresh = ReportRunForm(initial={"report": cleaned["report"].pk}, scope=scope)
            _dependent(fresh, "report", url)
            _dependent(fresh, "dataset", url)
            return _started(
                request,
                final.run,
                lambda: _run_form_page(request, "report", fresh, started=final.run, extra=extra),
            )
    return _run_form_page(request, "report", form, status=422, extra=extra)


# ---------------------------------------------------------------------------
# The metric picker's fragments
# ---------------------------------------------------------------------------

PREFIX_RE = re.compile(r"^(m|o)-\d+$")


@login_required
def metric_args(request):
    """The argument form of the metric chosen in one picker row (swapped in on change)."""
    prefix = request.GET.get("prefix", "")
    if not PREFIX_RE.match(prefix):
        raise Http404("Bad prefix.")
    row = MetricPicker.row_from_data(request.GET, prefix)
    return fragment(request, "runs/partials/_metric_args.html", {"row": row})


@login_required
def metric_row(request):
    """One more empty picker row, plus the add button with the next index (out of band)."""
    index = request.GET.get("index", "")
    if not index.isdigit() or int(index) > 200:
        raise Http404("Bad index.")
    row = MetricRow(prefix=f"{MetricPicker.PREFIX}-{index}")
    context = {
        "row": row,
        "metrics": MetricPicker().choices,
        "next_index": int(index) + 1,
        "with_informational": request.GET.get("informational") == "1",
        "oob": True,
    }
    return fragment(request, "runs/partials/_metric_row.html", context)


def _route_error(err: InvalidInput, form, picker: MetricPicker) -> None:
    if (err.field or "").startswith(("metrics", "selected_metrics")):
        picker.add_service_error(err)
    else:
        form.add_service_error(err)


def _picker_only(request) -> bool:
    """A no-JavaScript "add metric" or "update" post: re-render, save nothing."""
    return bool(request.POST.get("add_metric") or request.POST.get("refresh"))


# ---------------------------------------------------------------------------
# Eval configs
# ---------------------------------------------------------------------------


@login_required
@vary_on_headers("HX-Request")
def config_list(request):
    scope = scope_of(request)
    q = request.GET.get("q", "").strip()
    configs = (
        scope.filter(EvalConfig.objects.visible_to(request.user))
        .select_related("dataset", "owner", "organization")
        .annotate(version_count=Count("versions"), latest_number=Max("versions__number"))
        .order_by("name")
    )
    if q:
        configs = configs.filter(name__icontains=q)
    page_obj = Paginator(configs, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "runs/config_list.html",
        "runs/partials/_config_table.html",
        {
            "page_obj": page_obj,
            "configs": page_obj.object_list,
            "q": q,
            "search_query": urlencode({"q": q}),
        },
    )


def _config_for(request, pk) -> EvalConfig:
    return get_object_or_404(
        EvalConfig.objects.visible_to(request.user).select_related(
            "dataset", "owner", "organization", "workspace"
        ),
        pk=pk,
    )


@login_required
@vary_on_headers("HX-Request")
def config_create(request):
    scope = scope_of(request)
    status = 200
    if request.method == "POST" and not _picker_only(request):
        form = ConfigCreateForm(request.POST, scope=scope)
        picker = MetricPicker(request.POST)
        form_ok, picker_ok = form.is_valid(), picker.is_valid()
        if form_ok and picker_ok:
            data = form.cleaned_data
            try:
                version = definitions.config_create(
                    actor=request.user,
                    name=data["name"],
                    description=data["description"],
                    dataset=data["dataset"],
                    metrics=picker.cleaned(),
                    source="ui",
                    **form.ownership(),
                    **form.version_fields(),
                )
            except InvalidInput as err:
                _route_error(err, form, picker)
            else:
                messages.success(request, f"Eval config “{version.config.name}” created.")
                return redirect_after_post(
                    request, reverse("runs:config_detail", args=[version.config_id])
                )
        status = 422
    elif request.method == "POST":
        form = ConfigCreateForm(initial=request.POST.dict(), scope=scope)
        picker = MetricPicker(request.POST)
    else:
        form = ConfigCreateForm(initial=_initial(request), scope=scope)
        picker = MetricPicker()
    return render(
        request,
        "runs/config_form.html",
        "runs/partials/_config_form.html",
        {"form": form, "picker": picker, "config": None, "with_informational": True},
        status=status,
    )


@login_required
def config_detail(request, pk):
    config = _config_for(request, pk)
    versions = list(
        config.versions.select_related(
            "judge_model", "prompt_version__prompt", "agent", "created_by"
        )
        .prefetch_related("metrics__metric")
        .order_by("-number")
    )
    context = {
        "config": config,
        "versions": versions,
        "can_change": can(request.user, "change", config),
        "can_run": can(request.user, "run", config),
        **run_table_context(request, params={"config": str(config.pk), "limit": "10"}),
    }
    return page(request, "runs/config_detail.html", context)


@login_required
@vary_on_headers("HX-Request")
def config_version_create(request, pk):
    config = _config_for(request, pk)
    scope = scope_of(request)
    latest = config.latest_version()
    _require(request.user, "change", config)
    status = 200
    if request.method == "POST" and not _picker_only(request):
        form = ConfigVersionForm(request.POST, scope=scope)
        picker = MetricPicker(request.POST)
        form_ok, picker_ok = form.is_valid(), picker.is_valid()
        if form_ok and picker_ok:
            try:
                version = definitions.config_version_create(
                    actor=request.user,
                    config=config,
                    metrics=picker.cleaned(),
                    source="ui",
                    **form.version_fields(),
                )
            except InvalidInput as err:
                _route_error(err, form, picker)
            else:
                messages.success(request, f"Version {version.number} saved.")
                return redirect_after_post(request, reverse("runs:config_detail", args=[pk]))
        status = 422
    elif request.method == "POST":
        form = ConfigVersionForm(initial=request.POST.dict(), scope=scope)
        picker = MetricPicker(request.POST)
    else:
        initial = {}
        if latest is not None:
            initial = {
                "threshold": latest.threshold,
                "judge_model": latest.judge_model.slug if latest.judge_model else None,
                "prompt_version": latest.prompt_version_id,
                "agent": latest.agent_id,
                "repetitions": latest.repetitions,
            }
        form = ConfigVersionForm(initial=initial, scope=scope)
        picker = MetricPicker(
            initial=[
                (m.metric.slug, m.args, m.informational)
                for m in latest.metrics.select_related("metric")
            ]
            if latest
            else None
        )
    return render(
        request,
        "runs/config_form.html",
        "runs/partials/_config_form.html",
        {"form": form, "picker": picker, "config": config, "with_informational": True},
        status=status,
    )


# ---------------------------------------------------------------------------
# Prompts
# ---------------------------------------------------------------------------


@login_required
def prompt_list(request):
    scope = scope_of(request)
    prompts = (
        scope.filter(Prompt.objects.visible_to(request.user))
        .select_related("owner", "organization")
        .annotate(version_count=Count("versions"), latest_number=Max("versions__number"))
        .order_by("name")
    )
    page_obj = Paginator(prompts, 25).get_page(request.GET.get("page"))
    return page(request, "runs/prompt_list.html", {"page_obj": page_obj})


def _prompt_for(request, pk) -> Prompt:
    return get_object_or_404(
        Prompt.objects.visible_to(request.user).select_related("owner", "organization"), pk=pk
    )


def _prompt_version_args(data) -> dict:
    return {
        "template": data["template"],
        "system_prompt": data["system_prompt"],
        "model": data["model"],
        "params": data["params"],
    }


@login_required
@vary_on_headers("HX-Request")
def prompt_create(request):
    scope = scope_of(request)
    form = PromptCreateForm(request.POST or None, scope=scope)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                version = definitions.prompt_create(
                    actor=request.user,
                    name=data["name"],
                    description=data["description"],
                    source="ui",
                    **_prompt_version_args(data),
                    **form.ownership(),
                )
            except InvalidInput as err:
                form.add_service_error(err)
            else:
                messages.success(request, f"Prompt “{version.prompt.name}” created.")
                return redirect_after_post(
                    request, reverse("runs:prompt_detail", args=[version.prompt_id])
                )
        status = 422
    return render(
        request,
        "runs/prompt_form.html",
        "runs/partials/_prompt_form.html",
        {"form": form, "prompt": None},
        status=status,
    )


@login_required
def prompt_detail(request, pk):
    prompt = _prompt_for(request, pk)
    versions = list(prompt.versions.select_related("model", "created_by").order_by("-number"))
    context = {
        "prompt": prompt,
        "versions": versions,
        "can_change": can(request.user, "change", prompt),
    }
    return page(request, "runs/prompt_detail.html", context)


@login_required
@vary_on_headers("HX-Request")
def prompt_version_create(request, pk):
    prompt = _prompt_for(request, pk)
    latest = prompt.latest_version()
    _require(request.user, "change", prompt)
    status = 200
    if request.method == "POST":
        form = PromptVersionForm(request.POST)
        if form.is_valid():
            try:
                version = definitions.prompt_version_create(
                    actor=request.user,
                    prompt=prompt,
                    note=form.cleaned_data["note"],
                    source="ui",
                    **_prompt_version_args(form.cleaned_data),
                )
            except InvalidInput as err:
                form.add_service_error(err)
            else:
                messages.success(request, f"Version {version.number} saved.")
                return redirect_after_post(request, reverse("runs:prompt_detail", args=[pk]))
        status = 422
    else:
        form = PromptVersionForm(
            initial={
                "template": latest.template,
                "system_prompt": latest.system_prompt,
                "model": latest.model.slug if latest.model else None,
                "params": _json_text(latest.params),
            }
            if latest
            else None
        )
    return render(
        request,
        "runs/prompt_form.html",
        "runs/partials/_prompt_form.html",
        {"form": form, "prompt": prompt},
        status=status,
    )


def _json_text(value) -> str:
    import json

    return json.dumps(value, indent=2) if value else ""


# ---------------------------------------------------------------------------
# Agents
# ---------------------------------------------------------------------------


@login_required
def agent_list(request):
    scope = scope_of(request)
    agents = (
        scope.filter(Agent.objects.visible_to(request.user))
        .select_related("model", "owner", "organization")
        .order_by("name")
    )
    page_obj = Paginator(agents, 25).get_page(request.GET.get("page"))
    return page(request, "runs/agent_list.html", {"page_obj": page_obj})


def _agent_for(request, pk) -> Agent:
    return get_object_or_404(
        Agent.objects.visible_to(request.user).select_related("model", "owner", "organization"),
        pk=pk,
    )


@login_required
@vary_on_headers("HX-Request")
def agent_create(request):
    scope = scope_of(request)
    form = AgentForm(request.POST or None, initial={"kind": Agent.Kind.MODEL}, scope=scope)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                agent = definitions.agent_create(
                    actor=request.user, source="ui", **form.agent_fields(), **form.ownership()
                )
            except InvalidInput as err:
                form.add_service_error(err)
            else:
                messages.success(request, f"Agent “{agent.name}” created.")
                return redirect_after_post(request, reverse("runs:agent_detail", args=[agent.pk]))
        status = 422
    return render(
        request,
        "runs/agent_form.html",
        "runs/partials/_agent_form.html",
        {"form": form, "agent": None},
        status=status,
    )


@login_required
def agent_detail(request, pk):
    agent = _agent_for(request, pk)
    return page(
        request,
        "runs/agent_detail.html",
        {"agent": agent, "can_change": can(request.user, "change", agent)},
    )


@login_required
@vary_on_headers("HX-Request")
def agent_edit(request, pk):
    agent = _agent_for(request, pk)
    scope = scope_of(request)
    _require(request.user, "change", agent)
    status = 200
    if request.method == "POST":
        form = AgentEditForm(request.POST, scope=scope)
        if form.is_valid():
            try:
                definitions.agent_update(
                    actor=request.user, agent=agent, source="ui", **form.agent_fields()
                )
            except InvalidInput as err:
                form.add_service_error(err)
            else:
                messages.success(request, "Agent saved.")
                return redirect_after_post(request, reverse("runs:agent_detail", args=[pk]))
        status = 422
    else:
        form = AgentEditForm(
            initial={
                "name": agent.name,
                "description": agent.description,
                "kind": agent.kind,
                "model": agent.model.slug if agent.model else None,
                "system_prompt": agent.system_prompt,
                "params": _json_text(agent.params),
                "endpoint_url": agent.endpoint_url,
                "headers": _json_text(agent.headers),
                "output_field": agent.output_field,
                "timeout_seconds": agent.timeout_seconds,
            },
            scope=scope,
        )
    return render(
        request,
        "runs/agent_form.html",
        "runs/partials/_agent_form.html",
        {"form": form, "agent": agent},
        status=status,
    )


# ---------------------------------------------------------------------------
# Reports (evaluation pipelines)
# ---------------------------------------------------------------------------


@login_required
def report_list(request):
    scope = scope_of(request)
    reports = (
        scope.filter(Report.objects.visible_to(request.user))
        .filter(kind=Report.Kind.PIPELINE)
        .select_related("dataset", "eval_config", "owner", "organization")
        .annotate(final_count=Count("final_reports"))
        .order_by("-created_at")
    )
    page_obj = Paginator(reports, 25).get_page(request.GET.get("page"))
    return page(request, "runs/report_list.html", {"page_obj": page_obj})


@login_required
@vary_on_headers("HX-Request")
def report_create(request):
    scope = scope_of(request)
    form = ReportForm(request.POST or None, scope=scope)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                report = definitions.report_create(
                    actor=request.user,
                    name=data["name"],
                    description=data["description"],
                    dataset=data["dataset"],
                    eval_config=data["eval_config"],
                    source="ui",
                    **form.ownership(),
                )
            except InvalidInput as err:
                form.add_service_error(err)
            else:
                messages.success(request, f"Pipeline “{report.name}” created.")
                return redirect_after_post(request, reverse("runs:report_detail", args=[report.pk]))
        status = 422
    return render(
        request,
        "runs/report_form.html",
        "runs/partials/_report_form.html",
        {"form": form},
        status=status,
    )


@login_required
def report_detail(request, pk):
    report = get_object_or_404(
        Report.objects.visible_to(request.user).select_related(
            "dataset", "eval_config", "pipeline", "run", "owner", "organization"
        ),
        pk=pk,
    )
    finals = (
        report.final_reports.select_related("run", "dataset").order_by("-created_at")[:50]
        if report.is_pipeline
        else []
    )
    context = {
        "report": report,
        "finals": finals,
        "can_run": report.is_pipeline and can(request.user, "run", report),
    }
    return page(request, "runs/report_detail.html", context)
