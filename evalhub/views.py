"""Shell pages: health check, dashboard, and the org/workspace switcher."""

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRefresh

from datasets.models import Dataset
from evalhub.forms import ScopeForm
from evalhub.http import htmx_partial, page, safe_next, scope_of
from runs.models import Run
from runs.views import run_table_context


def healthz(request):
    """Liveness plus a database round trip, for load balancers and `make run`'s wait loop."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@login_required
def dashboard(request):
    scope = scope_of(request)
    runs = scope.filter(Run.objects.visible_to(request.user))
    organization = scope.organization
    context = {
        "dataset_count": scope.filter(Dataset.objects.visible_to(request.user)).count(),
        "active_run_count": runs.active().count(),
        "finished_run_count": runs.finished().count(),
        "month_spend": organization.month_spend() if organization else None,
        "budget": organization.monthly_budget_usd if organization else None,
        **run_table_context(request, params={"limit": "10"}),
    }
    return page(request, "evalhub/dashboard.html", context)


@login_required
@require_POST
@vary_on_headers("HX-Request")
def scope_switch(request):
    """Store the chosen organization and workspace in the session; lists follow them."""
    form = ScopeForm(request.POST, scope=scope_of(request))
    if not form.is_valid():
        return HttpResponseBadRequest("Unknown organization or workspace.")
    request.session["scope_org"] = form.cleaned_data["org"]
    request.session["scope_workspace"] = form.cleaned_data["workspace"] or None
    if htmx_partial(request):
        # Everything on the page may belong to the old scope: reload it.
        return HttpResponseClientRefresh()
    return redirect(safe_next(request))
