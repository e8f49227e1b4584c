"""Page or fragment, the org/workspace a page acts in, and small htmx response helpers.

Every page view renders through :func:`render`: an htmx request gets the
``partials/_x.html`` fragment, anything else the page that ``{% include %}``s
that very fragment, so both always show the same markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.shortcuts import render as django_render
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from evalhub.models import Membership, Organization, Workspace
from evalhub.permissions import role_allows

RUNS_CHANGED = "runs-changed"


def htmx_partial(request: HttpRequest) -> bool:
    """Whether to answer with a fragment: an htmx request, unless it is boosted navigation."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted


def render(
    request: HttpRequest, page: str, partial: str, context: dict, *, status: int = 200
) -> HttpResponse:
    """The fragment for htmx, else the whole page (which includes the same fragment)."""
    if htmx_partial(request):
        return django_render(request, partial, context, status=status)
    return django_render(request, page, {**context, "scope": scope_of(request)}, status=status)


def fragment(
    request: HttpRequest, template: str, context: dict, *, status: int = 200
) -> HttpResponse:
    """A fragment only, for endpoints that exist for htmx (a metric's argument form)."""
    return django_render(request, template, context, status=status)


def page(request: HttpRequest, template: str, context: dict, *, status: int = 200) -> HttpResponse:
    """A whole page (no fragment form), with the org/workspace switcher's context."""
    return django_render(request, template, {**context, "scope": scope_of(request)}, status=status)


def safe_next(request: HttpRequest, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def redirect_after_post(request: HttpRequest, url: str, *, event: str | None = None):
    """Where a successful form goes: a client-side redirect for htmx, a 302 otherwise."""
    if htmx_partial(request):
        response = HttpResponseClientRedirect(url)
        if event:
            trigger_client_event(response, event)
        return response
    return redirect(url)


def streamed(export) -> StreamingHttpResponse:
    """A service's Export (name, content type, lazy chunks) as a streamed download."""
    response = StreamingHttpResponse(export.chunks, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    return response


# ---------------------------------------------------------------------------
# Scope: which organization and workspace the pages list and create in
# ---------------------------------------------------------------------------

ALL = "all"
PERSONAL = "personal"


@dataclass
class Scope:
    """The org (or "personal", or "all") and workspace chosen in the switcher, checked.

    Stored in the session as ids and re-checked on every request, so a
    membership removed in the admin takes effect at once.
    """

    user: object
    mode: str = PERSONAL  # "org", "personal" or "all"
    organization: Organization | None = None
    workspace: Workspace | None = None
    memberships: list[Membership] = field(default_factory=list)
    workspaces: list[Workspace] = field(default_factory=list)

    @property
    def role(self) -> str | None:
        if self.organization is None:
            return None
        return next(
            (m.role for m in self.memberships if m.organization_id == self.organization.pk), None
        )

    @property
    def can_create(self) -> bool:
        """May the user create objects here? Anyone may in their personal space."""
        if self.mode == "org":
            return role_allows(self.role, "create")
        return True

    @property
    def org_value(self) -> str:
        return str(self.organization.pk) if self.mode == "org" else self.mode

    @property
    def label(self) -> str:
        if self.mode == "org":
            return self.organization.name
        return "Personal" if self.mode == PERSONAL else "All organizations"

    def filter(self, queryset):
        """Narrow an already ``visible_to`` queryset of shareable objects to this scope."""
        if self.mode == "org":
            queryset = queryset.filter(organization=self.organization)
        elif self.mode == PERSONAL:
            queryset = queryset.filter(organization__isnull=True, owner=self.user)
        if self.workspace is not None:
            queryset = queryset.filter(workspace=self.workspace)
        return queryset

    def create_initial(self) -> dict:
        """Initial organization/workspace of a create form."""
        return {
            "organization": self.organization if self.mode == "org" and self.can_create else None,
            "workspace": self.workspace if self.can_create else None,
        }


def scope_of(request: HttpRequest) -> Scope | None:
    """The request's checked scope (cached on the request); None for anonymous users."""
    cached = getattr(request, "_evalhub_scope", None)
    if cached is not None:
        return cached
    user = getattr(request, "user", None) or AnonymousUser()
    if not user.is_authenticated:
        return None
    memberships = list(
        Membership.objects.filter(user=user)
        .select_related("organization")
        .order_by("created_at", "pk")
    )
    # Seed the role cache `evalhub.permissions.can` reads, saving it a query per page.
    user._evalhub_roles = {m.organization_id: m.role for m in memberships}
    stored = request.session.get("scope_org")
    if stored is None:
        # An analyst usually works in their (first) organization.
        stored = str(memberships[0].organization_id) if memberships else PERSONAL
    scope = Scope(user=user, memberships=memberships)
    by_id = {str(m.organization_id): m.organization for m in memberships}
    if stored in by_id:
        scope.mode, scope.organization = "org", by_id[stored]
    elif stored == ALL:
        scope.mode = ALL
    else:
        scope.mode = PERSONAL
    workspaces = Workspace.objects.visible_to(user).select_related("organization")
    if scope.mode == "org":
        workspaces = workspaces.filter(organization=scope.organization)
    elif scope.mode == PERSONAL:
        workspaces = workspaces.filter(organization__isnull=True, owner=user)
    scope.workspaces = list(workspaces.order_by("name"))
    wanted = request.session.get("scope_workspace")
    scope.workspace = next((w for w in scope.workspaces if str(w.pk) == str(wanted)), None)
    request._evalhub_scope = scope
    return scope
