"""The native REST API, ``/api/v1/``: tenancy here, then each app's ``api/urls.py``.

Anything else under ``/api/v1/`` is a 404 in the API's own error format, not
an HTML page.
"""

from django.http import JsonResponse
from django.urls import include, path, re_path
from rest_framework.routers import SimpleRouter

from evalhub.api import views
from evalhub.api.exceptions import error_body

router = SimpleRouter()
router.register("organizations", views.OrganizationViewSet, basename="organization")
router.register("api-keys", views.ApiKeyViewSet, basename="api-key")
router.register("workspaces", views.WorkspaceViewSet, basename="workspace")


def not_found(request, rest=""):
    return JsonResponse(error_body("not_found", "No such API endpoint."), status=404)


app_name = "api"
urlpatterns = [
    *router.urls,
    path("", include("datasets.api.urls")),
    path("", include("runs.api.urls")),
    re_path(r"^(?P<rest>.*)$", not_found),
]
