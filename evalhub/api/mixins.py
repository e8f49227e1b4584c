"""The org-scoped base every native viewset inherits (STYLE convention 11).

Scoping is enforced once, here: ``get_queryset()`` applies
``visible_to(user, organization=<the API key's org>)``, so an object the
caller may not see is simply absent (404, never a 403 that confirms it
exists). Acting on a visible object is decided by
:class:`evalhub.permissions.ObjectActionPermission` (403), which asks the
same :func:`evalhub.permissions.can` as the pages.
"""

from __future__ import annotations

from types import SimpleNamespace

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.generics import get_object_or_404
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.viewsets import GenericViewSet

from evalhub.api.pagination import StandardPagination
from evalhub.api.schema import NativeAutoSchema
from evalhub.errors import NotFound
from evalhub.models import Membership, Organization, Workspace
from evalhub.permissions import ObjectActionPermission


class NativeContentNegotiation(DefaultContentNegotiation):
    """``?format=`` names an export format (csv, json, jsonl) here, not a DRF renderer."""

    settings = SimpleNamespace(URL_FORMAT_OVERRIDE=None)


class ActionFilterBackend(DjangoFilterBackend):
    """django-filter, letting an action's filterset filter the action's own rows.

    ``/runs/{id}/items/`` filters RunItems with ``RunItemFilter`` although the
    viewset's model is Run; django-filter's model check would refuse that.
    """

    def get_filterset_class(self, view, queryset=None):
        return getattr(view, "filterset_class", None)


class OrgScopedViewSet(GenericViewSet):
    """Base of every native viewset: scoping, permissions, JSON in and out, one error format.

    Viewsets of objects that are not Shareable (catalogues, API keys,
    memberships) override :meth:`scope_queryset` and say why.
    ``write_actions`` maps a viewset action to the permission action it needs
    (``{"cancel": "cancel"}``); other writes need ``change`` (``delete`` for DELETE).
    """

    permission_classes = [IsAuthenticated, ObjectActionPermission]
    filter_backends = [ActionFilterBackend]
    pagination_class = StandardPagination
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = NativeContentNegotiation
    schema = NativeAutoSchema()
    write_actions: dict[str, str] = {}

    @property
    def acting_organization(self) -> Organization | None:
        """The API key's organization when the key is scoped to one; else None."""
        return getattr(getattr(self.request, "auth", None), "organization", None)

    def get_object(self):
        """The visible object named in the URL (404 otherwise), checked for the action's permission.

        Unlike DRF's default, list filters are not applied to the lookup: an
        action such as ``/runs/{id}/items/`` filters its own rows (items),
        never the object it belongs to.
        """
        lookup = self.lookup_url_kwarg or self.lookup_field
        obj = get_object_or_404(self.get_queryset(), **{self.lookup_field: self.kwargs[lookup]})
        self.check_object_permissions(self.request, obj)
        return obj

    def parse(self, serializer_class) -> dict:
        """The request body validated by ``serializer_class``; a 400 naming the field otherwise."""
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def visible(self, model):
        """Everything of a Shareable ``model`` the caller may see."""
        return model.objects.visible_to(self.request.user, organization=self.acting_organization)

    def scope_queryset(self, queryset):
        """What the caller may see of this viewset's model: the one place scoping happens."""
        return queryset.visible_to(self.request.user, organization=self.acting_organization)

    def get_queryset(self):
        return self.scope_queryset(super().get_queryset())

    def visible_object(self, model, pk, *, field: str, through: str | None = None):
        """The ``model`` row ``pk`` if the caller may see it, else a 404 naming ``field``.

        ``through`` is the Shareable parent of a non-shareable model
        (``"config"`` for an EvalConfigVersion).
        """
        if pk is None:
            return None
        if through is None:
            queryset = self.visible(model)
        else:
            parent = model._meta.get_field(through).related_model
            queryset = model.objects.filter(**{f"{through}__in": self.visible(parent)})
        obj = queryset.filter(pk=pk).first()
        if obj is None:
            raise NotFound(f"{model._meta.verbose_name.capitalize()} {pk} not found.", field=field)
        return obj

    def sharing_from(self, data: dict) -> dict:
        """Organization and workspace of a new object, from ``organization``/``workspace`` ids.

        An org-scoped key creates in its own organization and nowhere else; a
        session or unscoped key creates privately unless it names one of the
        caller's organizations. Whether the caller's role may create there is
        the service's question (403), not this one.
        """
        user = self.request.user
        key_org = self.acting_organization
        org_id = data.get("organization")
        if key_org is not None:
            if org_id not in (None, key_org.pk):
                raise NotFound(f"Organization {org_id} not found.", field="organization")
            organization = key_org
        elif org_id is None:
            organization = None
        else:
            organization = Organization.objects.filter(
                pk=org_id, pk__in=Membership.objects.filter(user=user).values("organization_id")
            ).first()
            if organization is None:
                raise NotFound(f"Organization {org_id} not found.", field="organization")
        workspace = None
        if data.get("workspace") is not None:
            workspaces = Workspace.objects.visible_to(user)
            if key_org is not None:
                workspaces = workspaces.filter(organization=key_org)
            workspace = workspaces.filter(pk=data["workspace"]).first()
            if workspace is None:
                raise NotFound(f"Workspace {data['workspace']} not found.", field="workspace")
            if organization is None:
                organization = workspace.organization
        return {"organization": organization, "workspace": workspace}
