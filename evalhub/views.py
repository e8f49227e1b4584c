from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render

from datasets.models import Dataset
from evalhub.models import Membership
from runs.models import Run


def healthz(request):
    """Liveness plus a database round trip, for load balancers and `make run`'s wait loop."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@login_required
def dashboard(request):
    user = request.user
    runs = Run.objects.visible_to(user).select_related("dataset", "owner")[:10]
    context = {
        "memberships": Membership.objects.filter(user=user).select_related("organization"),
        "recent_runs": runs,
        "dataset_count": Dataset.objects.visible_to(user).count(),
        "active_run_count": Run.objects.visible_to(user).active().count(),
    }
    return render(request, "evalhub/dashboard.html", context)
