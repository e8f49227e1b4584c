"""Who may do what: role allowlists per action (seed 001), never rank comparison.

Pages, the native API and the compat endpoints all ask :func:`can`; DRF views
use :class:`ObjectActionPermission`. Seeing is :meth:`visible_to` on the
QuerySet (invisible → 404); acting on a visible object is decided here
(→ 403).
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from evalhub.models import Membership, Organization, Role

# Each action names the roles allowed to do it on an org's objects.
ROLE_ALLOWLIST: dict[str, frozenset[str]] = {
    "view": frozenset({Role.OWNER, Role.MEMBER, Role.VIEWER}),
    "create": frozenset({Role.OWNER, Role.MEMBER}),
    "change": frozenset({Role.OWNER, Role.MEMBER}),
    "run": frozenset({Role.OWNER, Role.MEMBER}),
    "cancel": frozenset({Role.OWNER, Role.MEMBER}),
    "export": frozenset({Role.OWNER, Role.MEMBER, Role.VIEWER}),
    "delete": frozenset({Role.OWNER}),
    "manage_members": frozenset({Role.OWNER}),
    "manage_keys": frozenset({Role.OWNER}),
    "manage_budget": frozenset({Role.OWNER}),
}

# What the individual owner of an object may always do to it, whatever their
# role in its org (a viewer who owns a private dataset may still delete it).
OWNER_ACTIONS = frozenset({"view", "change", "run", "cancel", "export", "delete"})


def role_allows(role: str | None, action: str) -> bool:
    if role is None:
        return False
    try:
        return role in ROLE_ALLOWLIST[action]
    except KeyError:
        raise ValueError(f"unknown action {action!r}") from None


def role_in(user, organization: Organization | None) -> str | None:
    if organization is None or user is None or not user.is_authenticated:
        return None
    cache = getattr(user, "_evalhub_roles", None)
    if cache is None:
        cache = dict(Membership.objects.filter(user=user).values_list("organization_id", "role"))
        user._evalhub_roles = cache
    return cache.get(organization.pk if hasattr(organization, "pk") else organization)


def can(user, action: str, obj=None, *, organization: Organization | None = None) -> bool:
    """May ``user`` do ``action`` on ``obj`` (or, without obj, in ``organization``)?

    Without either, the question is about the user's own private space, where
    an authenticated user may create and act.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if obj is not None:
        owner_id = getattr(obj, "owner_id", None)
        if owner_id is not None and owner_id == user.pk and action in OWNER_ACTIONS:
            return True
        org_id = getattr(obj, "organization_id", None)
        if org_id is None:
            return False
        return role_allows(role_in(user, org_id), action)
    if organization is not None:
        return role_allows(role_in(user, organization), action)
    return action in OWNER_ACTIONS | {"create"}


class ObjectActionPermission(BasePermission):
    """DRF permission: reads need ``view``; writes need the view's ``write_action``.

    Object visibility is handled by the queryset (``visible_to``); this only
    decides whether a visible object may be acted upon.
    """

    def has_object_permission(self, request, view, obj):
        if request.method in SAFE_METHODS:
            return can(request.user, "view", obj)
        action = getattr(view, "write_actions", {}).get(view.action) or (
            "delete" if request.method == "DELETE" else "change"
        )
        return can(request.user, action, obj)
